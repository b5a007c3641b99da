-- model: customer_months
-- meaning: One row per customer and calendar month with activity up to the as-of date: purchase
--   days, orders and net revenue (refund-only months included, with 0 purchase days), the
--   customer's acquisition cohort (cohort_month: the first month with a purchase day, NULL for a
--   refund-only customer) and whether they had a purchase day in the month before
--   (previous_month_active). The
--   monthly grain behind the cohort, churn and discounted-value models, so they do not each
--   re-read the daily table. Maintained incrementally by customer, as customer_base is: a daily
--   run rebuilds the months of the customers with rows in the changed days only.
-- grain: customer x month
-- key: customer_id, month
-- depends_on: customer_daily
-- materialized: incremental_by_key
-- source: customer_daily
-- partition: customer_id
-- check: not_null customer_id, month, purchase_days, orders, net_revenue
-- check: unique customer_id, month
WITH months AS (
  SELECT
    customer_id,
    date_trunc('month', day)::DATE AS month,
    count(*) FILTER (WHERE purchase_lines > 0) AS purchase_days,
    sum(orders)::BIGINT AS orders,
    -- DECIMAL(18,2) holds any realistic monthly total and reads far faster
    -- than the DECIMAL(38,2) a sum of sums widens to.
    sum(net_revenue)::DECIMAL(18,2) AS net_revenue
  FROM customer_daily_delta
  -- The only use of the as-of date (see customer_base).
  WHERE day <= getvariable('as_of')
  GROUP BY ALL)
-- A customer's months are rebuilt together, so these per-customer columns
-- stay exact by customer: the churn and cohort models need no self-join.
SELECT *,
  min(month) FILTER (WHERE purchase_days > 0) OVER (PARTITION BY customer_id) AS cohort_month,
  coalesce(lag(month) OVER by_month = (month - INTERVAL 1 MONTH)::DATE AND lag(purchase_days) OVER by_month > 0, false)
    AS previous_month_active
FROM months
WINDOW by_month AS (PARTITION BY customer_id ORDER BY month)
