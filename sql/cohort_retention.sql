-- model: cohort_retention
-- meaning: Acquisition cohorts (customers by the month of their first purchase) by months since
--   acquisition (docs/DOMAIN.md §7): how many of the cohort bought in that calendar month
--   (active_customers), that as a share of the cohort (retention_rate; month 0 is 1 by
--   definition), the cohort's net revenue in the month and cumulated, up to the as-of date.
--   Every month from acquisition to the as-of month has a row, zeros included; complete is false
--   for the as-of month when it is not over.
-- grain: acquisition month x months since acquisition
-- key: cohort_month, months_since
-- depends_on: customer_profile, customer_months
-- publish: true
-- check: not_null cohort_month, months_since, month, cohort_size, active_customers, retention_rate,
--   revenue, complete
-- check: unique cohort_month, months_since
-- check: range retention_rate 0 1
-- check: range months_since 0 NULL
-- check: sql SELECT * FROM cohort_retention WHERE months_since = 0 AND active_customers <>
--   cohort_size
WITH acquired AS (
  SELECT date_trunc('month', first_purchase)::DATE AS cohort_month
  FROM customer_profile),
sizes AS (
  SELECT cohort_month, count(*) AS cohort_size FROM acquired GROUP BY cohort_month),
-- customer_months carries each customer's cohort: no join of every month
-- with the profiles.
activity AS (
  SELECT cohort_month,
    date_diff('month', cohort_month, month) AS months_since,
    count(*) FILTER (WHERE purchase_days > 0) AS active_customers,
    sum(net_revenue) AS revenue
  FROM customer_months
  WHERE month >= cohort_month
  GROUP BY ALL),
grid AS (
  SELECT s.cohort_month, s.cohort_size,
    unnest(range(date_diff('month', s.cohort_month, getvariable('as_of')) + 1)) AS months_since
  FROM sizes s)
SELECT
  g.cohort_month,
  g.months_since,
  (g.cohort_month + to_months(g.months_since::INTEGER))::DATE AS month,
  g.cohort_size,
  coalesce(a.active_customers, 0) AS active_customers,
  coalesce(a.active_customers, 0) / g.cohort_size AS retention_rate,
  coalesce(a.revenue, 0) AS revenue,
  sum(coalesce(a.revenue, 0)) OVER (PARTITION BY g.cohort_month ORDER BY g.months_since) AS cumulative_revenue,
  (g.cohort_month + to_months(g.months_since::INTEGER + 1))::DATE - 1 <= getvariable('as_of') AS complete
FROM grid g
LEFT JOIN activity a USING (cohort_month, months_since)
ORDER BY g.cohort_month, g.months_since
