-- model: cohort_annual_retention
-- meaning: The annual retention rate of each acquisition cohort (customers by the month of their
--   first purchase), the input r of the retention-based CLV (Gupta & Lehmann 2003): the share of
--   the cohort's customers with a purchase in the 12 months after their acquisition month. It is
--   measured once month 12 after the acquisition month is complete by the as-of date (matured);
--   a younger cohort takes the pooled rate of the matured cohorts (basis pooled), and without
--   any matured cohort the rate is unknown (NULL, basis none), never guessed.
-- grain: acquisition month
-- key: cohort_month
-- depends_on: customer_profile, customer_months
-- publish: true
-- check: not_null cohort_month, cohort_size, retained_customers, matured, basis
-- check: unique cohort_month
-- check: range retention_rate 0 1
-- check: accepted_values basis: cohort | pooled | none
-- check: sql SELECT * FROM cohort_annual_retention WHERE retained_customers > cohort_size OR (basis
--   = 'none') <> (retention_rate IS NULL)
WITH acquired AS (
  SELECT customer_id, date_trunc('month', first_purchase)::DATE AS cohort_month
  FROM customer_profile),
retained AS (
  SELECT a.cohort_month, count(DISTINCT m.customer_id) AS retained_customers
  FROM customer_months m
  JOIN acquired a USING (customer_id)
  WHERE m.purchase_days > 0
    AND m.month > a.cohort_month
    AND m.month <= a.cohort_month + INTERVAL 12 MONTH
  GROUP BY a.cohort_month),
cohorts AS (
  SELECT a.cohort_month, count(*) AS cohort_size,
    coalesce(any_value(r.retained_customers), 0) AS retained_customers,
    -- The last day of month 12 after acquisition is on or before the as-of date.
    (a.cohort_month + INTERVAL 13 MONTH - INTERVAL 1 DAY)::DATE <= getvariable('as_of') AS matured
  FROM acquired a
  LEFT JOIN retained r USING (cohort_month)
  GROUP BY a.cohort_month),
pooled AS (
  SELECT sum(retained_customers) FILTER (WHERE matured) / sum(cohort_size) FILTER (WHERE matured) AS rate
  FROM cohorts)
SELECT
  c.cohort_month,
  c.cohort_size,
  c.retained_customers,
  c.matured,
  CASE WHEN c.matured THEN c.retained_customers / c.cohort_size ELSE p.rate END AS retention_rate,
  CASE WHEN c.matured THEN 'cohort' WHEN p.rate IS NOT NULL THEN 'pooled' ELSE 'none' END AS basis
FROM cohorts c, pooled p
ORDER BY c.cohort_month
