-- model: value_matrix
-- meaning: The purchase cycle x amount matrix (docs/DOMAIN.md §3): customers with more than one
--   purchase day by cycle band (short, medium, long: quantile cut points model.cycle_bands of
--   cycle_days) and amount band (large, medium, small: cut points model.amount_bands of net
--   revenue per order), the five value classes of the cells, and single-purchase customers apart
--   in one row (bands none), with customers, net revenue, average cycle and amount, and
--   predicted CLV. All ten rows are present, empty ones with zeros.
-- grain: cycle band x amount band
-- key: cycle_band, amount_band
-- depends_on: customer_value
-- publish: true
-- check: not_null cycle_band, amount_band, value_class, customers, revenue
-- check: unique cycle_band, amount_band
-- check: row_count 10 10
-- check: accepted_values value_class: Platinum | Gold | Silver | Development | Optimization |
--   Single purchase
-- check: sql SELECT * FROM (SELECT sum(customers) AS matrix, (SELECT count(*) FROM customer_value)
--   AS mart FROM value_matrix) WHERE matrix <> mart
WITH cells(cycle_band, amount_band, value_class, cell_order) AS (
  VALUES
    ('short', 'large', 'Platinum', 1), ('short', 'medium', 'Gold', 2), ('short', 'small', 'Silver', 3),
    ('medium', 'large', 'Gold', 4), ('medium', 'medium', 'Silver', 5), ('medium', 'small', 'Development', 6),
    ('long', 'large', 'Silver', 7), ('long', 'medium', 'Development', 8), ('long', 'small', 'Optimization', 9),
    ('none', 'none', 'Single purchase', 10)),
totals AS (SELECT count(*) AS customers FROM customer_value)
-- DOUBLE sums and means add as DECIMAL: a parallel DOUBLE sum depends on
-- the order rows arrive in, and a rerun must give the same numbers to the
-- last bit. A DECIMAL sum is exact (cents exactly; unrounded values at
-- 1e-12) in any order, and costs a small part of sorting every value.
SELECT
  c.cycle_band,
  c.amount_band,
  c.value_class,
  count(v.customer_id) AS customers,
  coalesce(count(v.customer_id) / nullif(any_value(t.customers), 0), 0) AS customer_share,
  coalesce(sum(v.revenue), 0) AS revenue,
  avg(v.cycle_days::DECIMAL(38,12)) AS avg_cycle_days,
  avg(v.avg_amount::DECIMAL(38,12)) AS avg_amount,
  coalesce(sum(v.clv_predicted::DECIMAL(18,2)), 0)::DOUBLE AS clv_predicted,
  c.cell_order
FROM cells c
CROSS JOIN totals t
LEFT JOIN customer_value v
  ON coalesce(v.cycle_band, 'none') = c.cycle_band AND coalesce(v.amount_band, 'none') = c.amount_band
GROUP BY c.cycle_band, c.amount_band, c.value_class, c.cell_order
ORDER BY c.cell_order
