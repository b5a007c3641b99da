-- model: clv_inputs
-- meaning: Per-customer inputs of the probabilistic CLV models (docs/DOMAIN.md §4) as of the run's
--   date, from purchase days (days with at least one non-refund line): x = repeat purchase days
--   (distinct purchase days - 1), t_x = time from the first to the last purchase day, T = time
--   from the first purchase day to the as-of date, both in the model time unit (days /
--   unit_days), and m = mean gross spend of the repeat purchase days (refund lines excluded, the
--   first day excluded, 0 when x = 0). The cal_* columns are the same inputs over the
--   calibration period of a holdout (purchase days before model.holdout_from, T up to the day
--   before it; NULL for customers acquired in the holdout), holdout_purchases the purchase days
--   from holdout_from to the as-of date; without a holdout cal_* equal the full-period inputs
--   and holdout_purchases is 0.
-- grain: customer
-- key: customer_id
-- depends_on: customer_base
-- check: not_null customer_id, first_purchase, last_purchase, x, t_x_days, T_days, t_x, T, m,
--   holdout_purchases
-- check: unique customer_id
-- check: range x 0 NULL
-- check: range m 0 NULL
-- check: sql SELECT * FROM clv_inputs WHERE t_x_days < 0 OR t_x_days > T_days OR (x = 0 AND
--   t_x_days <> 0) OR (cal_x IS NOT NULL AND (cal_t_x_days > cal_T_days OR cal_x > x OR cal_T_days
--   > T_days))
-- The per-customer sums are kept in customer_base, maintained by customer;
-- only the as-of columns (T) are computed here, for everyone.
WITH bounds AS (
  SELECT getvariable('as_of') AS as_of,
    -- The calibration period ends the day before the holdout starts.
    coalesce(getvariable('holdout_from') - 1, getvariable('as_of')) AS cal_end,
    getvariable('unit_days') AS unit_days),
per_customer AS (
  -- Spend stays DECIMAL until the division: a parallel sum of DOUBLEs
  -- depends on the order rows arrive in, and m feeds every fit.
  SELECT customer_id, first_purchase, last_purchase, purchase_days AS days, spend, first_spend,
    cal_days, cal_last, cal_spend, holdout_purchases
  FROM customer_base
  WHERE purchase_days > 0)
SELECT
  c.customer_id,
  c.first_purchase,
  c.last_purchase,
  c.days - 1 AS x,
  c.last_purchase - c.first_purchase AS t_x_days,
  b.as_of - c.first_purchase AS T_days,
  (c.last_purchase - c.first_purchase) / b.unit_days AS t_x,
  (b.as_of - c.first_purchase) / b.unit_days AS "T",
  CASE WHEN c.days > 1 THEN CAST(c.spend - c.first_spend AS DOUBLE) / (c.days - 1) ELSE 0 END AS m,
  CASE WHEN c.cal_days > 0 THEN c.cal_days - 1 END AS cal_x,
  c.cal_last - c.first_purchase AS cal_t_x_days,
  CASE WHEN c.cal_days > 0 THEN b.cal_end - c.first_purchase END AS cal_T_days,
  (c.cal_last - c.first_purchase) / b.unit_days AS cal_t_x,
  CASE WHEN c.cal_days > 0 THEN (b.cal_end - c.first_purchase) / b.unit_days END AS cal_T,
  CASE WHEN c.cal_days > 1 THEN CAST(c.cal_spend - c.first_spend AS DOUBLE) / (c.cal_days - 1)
       WHEN c.cal_days = 1 THEN 0 END AS cal_m,
  c.holdout_purchases
FROM per_customer c, bounds b
