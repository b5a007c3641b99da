-- The closed forms of BGNBD.PAlive and GammaGamma.ExpectedSpend as DuckDB
-- macros: expanded into the query, they run vectorised, where the scalar
-- functions of udf.go cost a Go call per row. NULL in gives NULL out; the
-- parameters must be those of a fit (positive, q > 1 for a finite spend).
-- TestClosedFormsMatchGo checks them against the Go methods over a grid.

-- 1 / (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)), the power taken
-- in logs; past e^709 the odds overflow a DOUBLE, so the exponent is capped
-- there: P(alive) is then 1e-308 where Go's is 0.
CREATE OR REPLACE TEMP MACRO bgnbd_p_alive_closed(x, t_x, big_t, r, alpha, a, b) AS
  CASE WHEN x IS NULL OR t_x IS NULL OR big_t IS NULL OR r IS NULL OR alpha IS NULL OR a IS NULL OR b IS NULL
         THEN NULL::DOUBLE
       WHEN x = 0 THEN 1.0::DOUBLE
       ELSE 1.0 / (1.0 + exp(least(709.0,
         ln(a) - ln(b + x - 1) + (r + x) * (ln(alpha + big_t) - ln(alpha + t_x)))))
  END;

-- p (gamma + x m) / (p x + q - 1); at x = 0 the population mean p gamma / (q - 1).
CREATE OR REPLACE TEMP MACRO gamma_gamma_expected_spend_closed(x, m, p, q, gamma) AS
  CASE WHEN x IS NULL OR q IS NULL THEN NULL::DOUBLE
       WHEN q <= 1 THEN 'NaN'::DOUBLE
       WHEN x = 0 THEN p * gamma / (q - 1)
       ELSE p * (gamma + x * m) / (p * x + q - 1)
  END;
