-- model: clv_frequency_recency
-- meaning: The frequency/recency matrices of the predictive purchase model (model.predictive_model;
--   the lifetimes frequency-recency and probability-alive plots): for a customer observed for T
--   = the longest T of the fitted customers, every frequency x from 0 to the largest fitted x
--   (at most 40) and 21 recencies t_x from 0 to T, the expected purchases in the next time unit
--   and P(alive). Empty when the predictive model has no converged fit.
-- grain: frequency x recency step
-- key: frequency, recency_step
-- depends_on: clv_inputs, clv_model
-- publish: true
-- check: not_null model, frequency, recency_step, recency, T, expected_purchases, p_alive
-- check: unique frequency, recency_step
-- check: range p_alive 0 1
-- check: range expected_purchases 0 NULL
WITH params AS (
  SELECT
    any_value(model) AS model,
    max(value) FILTER (WHERE parameter = 'r') AS r,
    max(value) FILTER (WHERE parameter = 'alpha') AS alpha,
    max(value) FILTER (WHERE parameter IN ('a', 's')) AS p3,
    max(value) FILTER (WHERE parameter IN ('b', 'beta')) AS p4
  FROM clv_model
  WHERE model = getvariable('predictive_model')
  HAVING max(value) FILTER (WHERE parameter = 'converged') = 1),
span AS (
  SELECT max(cal_T) AS "T", least(max(cal_x), 40)::INTEGER AS max_x
  FROM clv_inputs WHERE cal_x IS NOT NULL),
grid AS (
  SELECT f.range::INTEGER AS frequency, s.range::INTEGER AS recency_step, s.range * sp."T" / 20 AS recency, sp."T"
  FROM span sp, range(0, sp.max_x + 1) f, range(0, 21) s)
SELECT
  p.model,
  g.frequency,
  g.recency_step,
  g.recency,
  g."T",
  CASE p.model
    WHEN 'bgnbd' THEN bgnbd_expected_purchases(1, g.frequency, g.recency, g."T", p.r, p.alpha, p.p3, p.p4)
    ELSE pareto_nbd_expected_purchases(1, g.frequency, g.recency, g."T", p.r, p.alpha, p.p3, p.p4) END AS expected_purchases,
  CASE p.model
    WHEN 'bgnbd' THEN bgnbd_p_alive_closed(g.frequency, g.recency, g."T", p.r, p.alpha, p.p3, p.p4)
    ELSE pareto_nbd_p_alive(g.frequency, g.recency, g."T", p.r, p.alpha, p.p3, p.p4) END AS p_alive
FROM grid g, params p
ORDER BY g.frequency, g.recency_step
