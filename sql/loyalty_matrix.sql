-- model: loyalty_matrix
-- meaning: The loyalty matrices of docs/DOMAIN.md §6 in long format, one row per cell: matrix
--   dick_basu is relative attitude (high, low, unknown without feedback) x repeat patronage
--   (high, low) with the Dick & Basu (1994) class; value_loyalty is value (high = Platinum or
--   Gold tier) x loyalty (high = high patronage not contradicted by a low attitude) with the
--   Kelly & Julie (1999) class; value_responsiveness is value x campaign responsiveness with the
--   Roberts & Paul (1997) class, over the customers with campaign contacts only (no rows without
--   campaign data). Each cell has its customers, their share of the matrix's customers, net
--   revenue and predicted CLV; every cell of a matrix is present, empty ones with zeros.
-- grain: matrix x row value x column value
-- key: matrix, row_value, column_value
-- depends_on: customer_value
-- publish: true
-- check: not_null matrix, row_axis, row_value, column_axis, column_value, class, customers, revenue
-- check: unique matrix, row_value, column_value
-- check: accepted_values matrix: dick_basu | value_loyalty | value_responsiveness
-- check: sql SELECT matrix, sum(customers) FROM loyalty_matrix WHERE matrix <>
--   'value_responsiveness' GROUP BY matrix HAVING sum(customers) <> (SELECT count(*) FROM
--   customer_value)
WITH cells(matrix, row_axis, row_value, column_axis, column_value, class, cell_order) AS (
  VALUES
    ('dick_basu', 'attitude', 'high', 'patronage', 'high', 'True loyalty', 1),
    ('dick_basu', 'attitude', 'high', 'patronage', 'low', 'Latent loyalty', 2),
    ('dick_basu', 'attitude', 'low', 'patronage', 'high', 'Spurious loyalty', 3),
    ('dick_basu', 'attitude', 'low', 'patronage', 'low', 'No loyalty', 4),
    ('dick_basu', 'attitude', 'unknown', 'patronage', 'high', 'Unknown attitude, high patronage', 5),
    ('dick_basu', 'attitude', 'unknown', 'patronage', 'low', 'Unknown attitude, low patronage', 6),
    ('value_loyalty', 'value', 'high', 'loyalty', 'high', 'Gold', 1),
    ('value_loyalty', 'value', 'high', 'loyalty', 'low', 'At risk', 2),
    ('value_loyalty', 'value', 'low', 'loyalty', 'high', 'Marginal', 3),
    ('value_loyalty', 'value', 'low', 'loyalty', 'low', 'Low priority', 4),
    ('value_responsiveness', 'value', 'high', 'responsiveness', 'responsive', 'Best', 1),
    ('value_responsiveness', 'value', 'high', 'responsiveness', 'unresponsive', 'Strangers', 2),
    ('value_responsiveness', 'value', 'low', 'responsiveness', 'responsive', 'Fatal attraction', 3),
    ('value_responsiveness', 'value', 'low', 'responsiveness', 'unresponsive', 'Ghosts', 4)),
-- Each customer's position in every matrix that applies to them.
placed AS (
  SELECT 'dick_basu' AS matrix, attitude AS row_value, patronage AS column_value, revenue, clv_predicted
  FROM customer_value
  UNION ALL
  SELECT 'value_loyalty', CASE WHEN is_high_value THEN 'high' ELSE 'low' END,
    CASE WHEN value_loyalty IN ('Gold', 'Marginal') THEN 'high' ELSE 'low' END, revenue, clv_predicted
  FROM customer_value
  UNION ALL
  SELECT 'value_responsiveness', CASE WHEN is_high_value THEN 'high' ELSE 'low' END,
    CASE WHEN is_responsive THEN 'responsive' ELSE 'unresponsive' END, revenue, clv_predicted
  FROM customer_value
  WHERE is_responsive IS NOT NULL),
-- Summed per cell before the join with the cells: the join then pairs a
-- few dozen rows, not every placement. DOUBLE sums add as DECIMAL (cents,
-- exact in any order), so a rerun gives the same numbers to the last bit.
cell_sums AS (
  SELECT matrix, row_value, column_value, count(*) AS customers, sum(revenue) AS revenue,
    sum(clv_predicted::DECIMAL(18,2)) AS clv_predicted
  FROM placed
  GROUP BY ALL),
-- Matrices without any customer (no campaign data) have no rows.
totals AS (SELECT matrix, sum(customers) AS customers FROM cell_sums GROUP BY matrix)
SELECT
  c.matrix, c.row_axis, c.row_value, c.column_axis, c.column_value, c.class,
  coalesce(s.customers, 0) AS customers,
  coalesce(s.customers / nullif(t.customers, 0), 0) AS customer_share,
  coalesce(s.revenue, 0) AS revenue,
  coalesce(s.clv_predicted, 0)::DOUBLE AS clv_predicted,
  c.cell_order
FROM cells c
JOIN totals t USING (matrix)
LEFT JOIN cell_sums s ON s.matrix = c.matrix AND s.row_value = c.row_value AND s.column_value = c.column_value
ORDER BY c.matrix, c.cell_order
