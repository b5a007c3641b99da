-- model: churn
-- meaning: Customer churn per calendar month (docs/DOMAIN.md §7, the 10C retention lens): customers
--   active in the month (at least one purchase), of them new (first purchase in the month) and
--   returning; of the customers active in the previous month, how many bought again this month
--   (retained) and how many did not (churned); churn_rate = churned / active in the previous
--   month and retention_rate = retained / active in the previous month. Months run from the
--   first purchase month to the as-of month; complete is false for the as-of month when it is
--   not over.
-- grain: month
-- key: month
-- depends_on: customer_months, customer_profile
-- publish: true
-- check: not_null month, active_customers, new_customers, returning_customers,
--   previous_active_customers, retained_customers, churned_customers, complete
-- check: unique month
-- check: range churn_rate 0 1
-- check: sql SELECT * FROM churn WHERE retained_customers + churned_customers <>
--   previous_active_customers OR new_customers + returning_customers <> active_customers
WITH active AS (
  SELECT customer_id, month, previous_month_active FROM customer_months WHERE purchase_days > 0),
months AS (
  SELECT unnest(generate_series(min(month), date_trunc('month', getvariable('as_of'))::DATE, INTERVAL 1 MONTH))::DATE AS month
  FROM active),
-- Every active customer has a profile, and their first purchase month is
-- one of their active months: new customers per month need no per-row join.
new_per_month AS (
  SELECT date_trunc('month', first_purchase)::DATE AS month, count(*) AS new_customers
  FROM customer_profile
  GROUP BY ALL),
per_month AS (
  SELECT a.month,
    count(*) AS active_customers,
    coalesce(any_value(n.new_customers), 0) AS new_customers,
    count(*) FILTER (WHERE a.previous_month_active) AS retained_customers
  FROM active a
  LEFT JOIN new_per_month n ON n.month = a.month
  GROUP BY a.month),
previous AS (
  SELECT (month + INTERVAL 1 MONTH)::DATE AS month, count(*) AS previous_active_customers
  FROM active
  GROUP BY month)
SELECT
  m.month,
  coalesce(p.active_customers, 0) AS active_customers,
  coalesce(p.new_customers, 0) AS new_customers,
  coalesce(p.active_customers - p.new_customers, 0) AS returning_customers,
  coalesce(v.previous_active_customers, 0) AS previous_active_customers,
  coalesce(p.retained_customers, 0) AS retained_customers,
  coalesce(v.previous_active_customers, 0) - coalesce(p.retained_customers, 0) AS churned_customers,
  (coalesce(v.previous_active_customers, 0) - coalesce(p.retained_customers, 0)) / nullif(v.previous_active_customers, 0) AS churn_rate,
  coalesce(p.retained_customers, 0) / nullif(v.previous_active_customers, 0) AS retention_rate,
  (m.month + INTERVAL 1 MONTH)::DATE - 1 <= getvariable('as_of') AS complete
FROM months m
LEFT JOIN per_month p USING (month)
LEFT JOIN previous v USING (month)
ORDER BY m.month
