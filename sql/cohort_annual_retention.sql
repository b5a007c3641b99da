-- model: cohort_annual_retention
-- meaning: The annual retention rate of each acquisition cohort (customers by the month of their
--   first purchase), the input r of the retention-based CLV (Gupta & Lehmann 2003): the share of
--   the cohort's customers with a purchase in the 12 months after their acquisition month. It is
--   measured once month 12 after the acquisition month is complete by the as-of date (matured);
--   a younger cohort takes the pooled rate of the matured cohorts (basis pooled), and without
--   any matured cohort the rate is unknown (NULL, basis none), never guessed.
-- grain: acquisition month
-- key: cohort_month
-- depends_on: customer_base
-- publish: true
-- check: not_null cohort_month, cohort_size, retained_customers, matured, basis
-- check: unique cohort_month
-- check: range retention_rate 0 1
-- check: accepted_values basis: cohort | pooled | none
-- check: sql SELECT * FROM cohort_annual_retention WHERE retained_customers > cohort_size OR (basis
--   = 'none') <> (retention_rate IS NULL)
-- A customer is retained when their first purchase in a later month than
-- the acquisition month (customer_base.return_purchase, kept by customer)
-- falls within the 12 months after it: no pass over customer_months.
WITH acquired AS (
  SELECT date_trunc('month', first_purchase)::DATE AS cohort_month, return_purchase
  FROM customer_base
  WHERE purchase_days > 0),
cohorts AS (
  SELECT cohort_month, count(*) AS cohort_size,
    count(*) FILTER (WHERE date_trunc('month', return_purchase)::DATE <= cohort_month + INTERVAL 12 MONTH) AS retained_customers,
    -- The last day of month 12 after acquisition is on or before the as-of date.
    (cohort_month + INTERVAL 13 MONTH - INTERVAL 1 DAY)::DATE <= getvariable('as_of') AS matured
  FROM acquired
  GROUP BY cohort_month),
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
