-- model: customer_base
-- meaning: One row per customer with daily rows up to the as-of date (refund-only customers
--   included, with 0 purchase days): the facts that do not depend on the as-of date, summed over
--   the customer's daily rows: first and last purchase day, purchase days, orders, items, gross
--   sales, refunds, net revenue, channels and stores, and the CLV inputs' sums (spend of the
--   purchase days, of the first one, and of the calibration period of a holdout), and the first
--   purchase day in a later month than the first purchase's (return_purchase). The profile
--   and the CLV inputs add the as-of columns (tenure, T) for everyone. Maintained incrementally
--   by customer: a daily run rebuilds only the customers with rows in the changed days of
--   customer_daily (read through customer_daily_delta); a run as of a date before the lake's last
--   day rebuilds it whole, as of that date.
-- grain: customer
-- key: customer_id
-- depends_on: customer_daily
-- materialized: incremental_by_key
-- source: customer_daily
-- partition: customer_id
-- check: not_null customer_id, purchase_days, orders, net_revenue
-- check: unique customer_id
WITH daily AS (
  -- The only use of the as-of date: a kept row must not depend on it, or a
  -- customer without new rows would keep a stale value.
  SELECT * FROM customer_daily_delta WHERE day <= getvariable('as_of')),
facts AS (
  SELECT
    customer_id,
    min(day) FILTER (WHERE purchase_lines > 0) AS first_purchase,
    max(day) FILTER (WHERE purchase_lines > 0) AS last_purchase,
    count(*) FILTER (WHERE purchase_lines > 0) AS purchase_days,
    sum(orders)::BIGINT AS orders,
    CAST(sum(items) AS DECIMAL(18,3)) AS items,
    CAST(sum(gross_revenue) AS DECIMAL(18,2)) AS gross_revenue,
    CAST(sum(refunds) AS DECIMAL(18,2)) AS refunds,
    CAST(sum(net_revenue) AS DECIMAL(18,2)) AS net_revenue,
    -- The CLV inputs (clv_inputs): spend is the gross sales of the purchase
    -- days; the calibration period ends the day before a holdout starts.
    CAST(sum(gross_revenue) FILTER (WHERE purchase_lines > 0) AS DECIMAL(18,2)) AS spend,
    arg_min(gross_revenue, day) FILTER (WHERE purchase_lines > 0) AS first_spend,
    count(*) FILTER (WHERE purchase_lines > 0 AND (getvariable('holdout_from') IS NULL OR day < getvariable('holdout_from'))) AS cal_days,
    max(day) FILTER (WHERE purchase_lines > 0 AND (getvariable('holdout_from') IS NULL OR day < getvariable('holdout_from'))) AS cal_last,
    CAST(sum(gross_revenue) FILTER (WHERE purchase_lines > 0 AND (getvariable('holdout_from') IS NULL OR day < getvariable('holdout_from'))) AS DECIMAL(18,2)) AS cal_spend,
    count(*) FILTER (WHERE purchase_lines > 0 AND day >= getvariable('holdout_from')) AS holdout_purchases
  FROM daily
  GROUP BY customer_id),
-- The first purchase day in a calendar month after the first purchase's:
-- when the customer came back after the month they were acquired in
-- (cohort_annual_retention counts those back within 12 months).
returned AS (
  SELECT d.customer_id, min(d.day) AS return_purchase
  FROM daily d
  JOIN facts f USING (customer_id)
  WHERE d.purchase_lines > 0 AND date_trunc('month', d.day) > date_trunc('month', f.first_purchase)
  GROUP BY d.customer_id),
-- Channels and stores are unnested and de-duplicated in one pass each;
-- concatenating the daily lists first is several times slower.
channels AS (
  SELECT customer_id, list(DISTINCT channel ORDER BY channel) AS channels
  FROM (SELECT customer_id, unnest(channels) AS channel FROM daily)
  GROUP BY customer_id),
stores AS (
  SELECT customer_id, list(DISTINCT store ORDER BY store) AS stores
  FROM (SELECT customer_id, unnest(stores) AS store FROM daily)
  GROUP BY customer_id)
SELECT
  f.*,
  r.return_purchase,
  coalesce(c.channels, []::VARCHAR[]) AS channels,
  coalesce(s.stores, []::VARCHAR[]) AS stores
FROM facts f
LEFT JOIN returned r USING (customer_id)
LEFT JOIN channels c USING (customer_id)
LEFT JOIN stores s USING (customer_id)
