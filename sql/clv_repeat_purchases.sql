-- model: clv_repeat_purchases
-- meaning: How well the fitted BG/NBD reproduces the repeat purchases it was fitted on (the
--   lifetimes period-transactions plot): customers with 0, 1, ..., 6 and 7 or more repeat
--   purchase days in the fitting period, actual and expected, where expected is the sum over
--   those customers of P(X(T) = x) under the fitted BG/NBD (Fader, Hardie & Lee 2005, eq. 8) at
--   each customer's own T. Empty when the BG/NBD fit did not converge.
-- grain: repeat-purchase bucket
-- key: bucket
-- depends_on: clv_inputs, clv_model
-- publish: true
-- check: not_null bucket, bucket_order, actual_customers, expected_customers
-- check: unique bucket
-- check: accepted_values bucket: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7+
-- check: sql SELECT * FROM (SELECT sum(actual_customers) AS a, sum(expected_customers) AS e FROM
--   clv_repeat_purchases) WHERE a > 0 AND abs(a - e) > 1e-6 * a
WITH params AS (
  SELECT
    max(value) FILTER (WHERE parameter = 'r') AS r,
    max(value) FILTER (WHERE parameter = 'alpha') AS alpha,
    max(value) FILTER (WHERE parameter = 'a') AS a,
    max(value) FILTER (WHERE parameter = 'b') AS b
  FROM clv_model WHERE model = 'bgnbd'
  HAVING max(value) FILTER (WHERE parameter = 'converged') = 1),
fitted AS (SELECT cal_x AS x, cal_T AS "T" FROM clv_inputs WHERE cal_x IS NOT NULL),
-- P(X(T) = x) depends on T alone: compute it once per distinct T. A
-- customer first seen on the last day (T = 0) has x = 0 for sure.
ts AS (SELECT "T", count(*) AS customers FROM fitted WHERE "T" > 0 GROUP BY "T"),
counts AS (SELECT range::INTEGER AS x FROM range(0, 7)),
prob AS (
  SELECT t."T", t.customers, c.x,
      exp(lgamma(p.a) + lgamma(p.b + c.x) - lgamma(p.a + p.b + c.x) - (lgamma(p.a) + lgamma(p.b) - lgamma(p.a + p.b))
          + lgamma(p.r + c.x) - lgamma(p.r) - lgamma(c.x + 1)
          + p.r * ln(p.alpha / (p.alpha + t."T")) + c.x * ln(t."T" / (p.alpha + t."T")))
      + CASE WHEN c.x > 0 THEN
          exp(lgamma(p.a + 1) + lgamma(p.b + c.x - 1) - lgamma(p.a + p.b + c.x) - (lgamma(p.a) + lgamma(p.b) - lgamma(p.a + p.b)))
          * (1 - pow(p.alpha / (p.alpha + t."T"), p.r) * (
              SELECT sum(exp(lgamma(p.r + j.range) - lgamma(p.r) - lgamma(j.range + 1) + j.range * ln(t."T" / (p.alpha + t."T"))))
              FROM range(0, c.x) j))
        ELSE 0 END AS px
  FROM ts t, counts c, params p),
expected AS (
  SELECT x, sum(customers * px ORDER BY "T")
    + CASE WHEN x = 0 THEN (SELECT count(*) FROM fitted WHERE "T" = 0) ELSE 0 END AS expected
  FROM prob GROUP BY x),
buckets AS (
  SELECT CASE WHEN x < 7 THEN x ELSE 7 END AS bucket_order, count(*) AS actual FROM fitted GROUP BY 1)
SELECT
  CASE WHEN o.bucket_order < 7 THEN o.bucket_order::VARCHAR ELSE '7+' END AS bucket,
  o.bucket_order,
  coalesce(b.actual, 0) AS actual_customers,
  CASE WHEN o.bucket_order < 7 THEN e.expected
       ELSE (SELECT count(*) FROM fitted) - (SELECT sum(expected ORDER BY x) FROM expected) END AS expected_customers
FROM (SELECT range::INTEGER AS bucket_order FROM range(0, 8)) o
LEFT JOIN buckets b ON b.bucket_order = o.bucket_order
LEFT JOIN expected e ON e.x = o.bucket_order
WHERE EXISTS (SELECT 1 FROM params)
ORDER BY o.bucket_order
