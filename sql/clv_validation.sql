-- model: clv_validation
-- meaning: The calibration-vs-holdout check of the purchase models (Fader, Hardie & Lee 2005,
--   figure 4), run when model.holdout_from (--holdout-from) is set: each model fitted on the
--   calibration period (purchase days before holdout_from) predicts every calibration customer's
--   purchases (purchase days) in the holdout, from holdout_from to the as-of date, by E[Y(t) | x,
--   t_x, T]; the predictions and the actual holdout purchase days are summed per calibration
--   frequency x (0 to 6, then 7+) and in total. Customers acquired in the holdout are left out.
--   Without a holdout the table is empty, with the same columns.
-- grain: purchase model x calibration-frequency bucket
-- key: model, bucket
-- depends_on: clv_inputs, clv_model
-- publish: true
-- check: not_null model, bucket, customers, actual_purchases, predicted_purchases, holdout_from,
--   holdout_to
-- check: unique model, bucket
-- check: accepted_values bucket: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7+ | total
-- check: range predicted_purchases 0 NULL
-- check: sql SELECT t.model FROM clv_validation t JOIN clv_validation b ON b.model = t.model AND
--   b.bucket <> 'total' WHERE t.bucket = 'total' GROUP BY t.model, t.customers,
--   t.actual_purchases, t.predicted_purchases HAVING sum(b.customers) <> t.customers OR
--   sum(b.actual_purchases) <> t.actual_purchases OR abs(sum(b.predicted_purchases) -
--   t.predicted_purchases) > 1e-6 * (1 + t.predicted_purchases)
WITH cfg AS (
  SELECT
    getvariable('holdout_from') AS holdout_from,
    getvariable('as_of') AS holdout_to,
    (getvariable('as_of') - getvariable('holdout_from') + 1) / getvariable('unit_days') AS holdout_length,
    getvariable('time_unit') AS time_unit,
    getvariable('predictive_model') AS predictive_model),
params AS (
  SELECT model,
    max(value) FILTER (WHERE parameter = 'r') AS r,
    max(value) FILTER (WHERE parameter = 'alpha') AS alpha,
    max(value) FILTER (WHERE parameter IN ('a', 's')) AS p3,
    max(value) FILTER (WHERE parameter IN ('b', 'beta')) AS p4
  FROM clv_model
  WHERE model IN ('bgnbd', 'pareto_nbd')
  GROUP BY model
  HAVING max(value) FILTER (WHERE parameter = 'converged') = 1),
-- Customers sharing a calibration history get the same prediction: score
-- each distinct (x, t_x, T) once.
histories AS (
  SELECT i.cal_x, i.cal_t_x, i.cal_T, count(*) AS customers, sum(i.holdout_purchases) AS actual
  FROM clv_inputs i, cfg c
  WHERE c.holdout_from IS NOT NULL AND i.cal_x IS NOT NULL
  GROUP BY ALL),
predicted AS (
  SELECT p.model, h.cal_x, h.customers, h.actual,
    h.customers * CASE p.model
      WHEN 'bgnbd' THEN bgnbd_expected_purchases(c.holdout_length, h.cal_x, h.cal_t_x, h.cal_T, p.r, p.alpha, p.p3, p.p4)
      ELSE pareto_nbd_expected_purchases(c.holdout_length, h.cal_x, h.cal_t_x, h.cal_T, p.r, p.alpha, p.p3, p.p4) END AS predicted
  FROM histories h, params p, cfg c),
-- The predictions add as DECIMAL, exact to 1e-12 each in any order, so the
-- sums do not depend on the order a parallel aggregate meets the rows.
buckets AS (
  SELECT model, least(cal_x, 7) AS bucket_order, sum(customers) AS customers, sum(actual) AS actual,
    sum(predicted::DECIMAL(38,12))::DOUBLE AS predicted
  FROM predicted
  GROUP BY ALL
  UNION ALL
  SELECT model, 8, sum(customers), sum(actual), sum(predicted::DECIMAL(38,12))::DOUBLE
  FROM predicted
  GROUP BY model)
SELECT
  b.model,
  CASE WHEN b.bucket_order = 8 THEN 'total' WHEN b.bucket_order = 7 THEN '7+' ELSE b.bucket_order::VARCHAR END AS bucket,
  b.bucket_order,
  b.customers,
  b.actual::BIGINT AS actual_purchases,
  b.predicted AS predicted_purchases,
  b.actual / b.customers AS actual_per_customer,
  b.predicted / b.customers AS predicted_per_customer,
  (b.predicted - b.actual) / nullif(b.actual, 0) AS relative_error,
  c.holdout_from,
  c.holdout_to,
  c.holdout_length,
  c.time_unit,
  b.model = c.predictive_model AS used_for_predictions
FROM buckets b, cfg c
ORDER BY b.model, b.bucket_order
