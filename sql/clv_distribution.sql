-- model: clv_distribution
-- meaning: Histogram of customer_value's historical profitability (clv_historical) and predicted
--   CLV (clv_predicted) on a log scale, for charts: five bins per decade over positive values
--   (bin_order 1, 2, ... from the smallest positive value of either measure; a bin holds lower <=
--   value < upper) and one bin of the values at or below zero (bin_order 0, lower NULL, upper 0).
--   Customers without a predicted CLV (a failed fit) are left out of that measure. Only bins with
--   customers are present.
-- grain: measure x bin
-- key: measure, bin_order
-- depends_on: customer_value
-- publish: true
-- check: not_null measure, bin_order, upper, customers
-- check: unique measure, bin_order
-- check: accepted_values measure: clv_historical | clv_predicted
-- check: sql SELECT * FROM (SELECT sum(customers) AS binned, (SELECT count(*) FROM customer_value)
--   AS mart FROM clv_distribution WHERE measure = 'clv_historical') WHERE binned <> mart
WITH vals AS (
  SELECT 'clv_historical' AS measure, clv_historical::DOUBLE AS v FROM customer_value
  UNION ALL
  SELECT 'clv_predicted', clv_predicted::DOUBLE FROM customer_value WHERE clv_predicted IS NOT NULL),
origin AS (SELECT floor(5 * log10(min(v))) AS k0 FROM vals WHERE v > 0),
binned AS (
  SELECT measure, v,
    CASE WHEN v > 0 THEN (floor(5 * log10(v)) - o.k0 + 1)::INTEGER ELSE 0 END AS bin_order
  FROM vals, origin o)
SELECT
  b.measure,
  b.bin_order,
  CASE WHEN b.bin_order > 0 THEN pow(10, (b.bin_order - 1 + o.k0) / 5) END AS lower,
  CASE WHEN b.bin_order > 0 THEN pow(10, (b.bin_order + o.k0) / 5) ELSE 0 END AS upper,
  count(*) AS customers,
  -- Both measures are in cents: a DECIMAL sum is exact in any order, so a
  -- rerun gives the same total to the last bit.
  sum(b.v::DECIMAL(18,2))::DOUBLE AS total
FROM binned b, origin o
GROUP BY b.measure, b.bin_order, o.k0
ORDER BY b.measure, b.bin_order
