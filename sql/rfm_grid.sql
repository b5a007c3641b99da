-- model: rfm_grid
-- meaning: Customers and revenue in every cell of recency score x frequency score
--   (docs/DOMAIN.md §2), for heatmaps: all 25 cells, empty ones with zeros. revenue is net
--   revenue; the averages are over the cell's customers (NULL for an empty cell).
-- grain: r_score x f_score
-- key: r_score, f_score
-- depends_on: customer_value
-- publish: true
-- check: not_null r_score, f_score, customers, customer_share, revenue
-- check: unique r_score, f_score
-- check: row_count 25 25
-- check: sql SELECT * FROM (SELECT sum(customers) AS grid, (SELECT count(*) FROM customer_value) AS
--   mart FROM rfm_grid) WHERE grid <> mart
WITH cells AS (
  SELECT r.r_score, f.f_score
  FROM range(1, 6) r(r_score), range(1, 6) f(f_score)),
totals AS (
  SELECT count(*) AS customers, sum(revenue) AS revenue FROM customer_value)
-- DOUBLE sums and means add as DECIMAL: a parallel DOUBLE sum depends on
-- the order rows arrive in, and a rerun must give the same numbers to the
-- last bit. A DECIMAL sum is exact (cents exactly; unrounded values at
-- 1e-12) in any order, and costs a small part of sorting every value.
SELECT
  c.r_score::INTEGER AS r_score,
  c.f_score::INTEGER AS f_score,
  count(v.customer_id) AS customers,
  coalesce(count(v.customer_id) / nullif(any_value(t.customers), 0), 0) AS customer_share,
  coalesce(sum(v.revenue), 0) AS revenue,
  coalesce(sum(v.revenue) / nullif(any_value(t.revenue), 0), 0)::DOUBLE AS revenue_share,
  avg(v.recency_days) AS avg_recency_days,
  avg(v.orders) AS avg_orders,
  avg(v.rfm_monetary)::DOUBLE AS avg_monetary,
  avg(v.m_score) AS avg_m_score,
  avg(v.clv_predicted::DECIMAL(18,2)) AS avg_clv_predicted
FROM cells c
CROSS JOIN totals t
LEFT JOIN customer_value v ON v.r_score = c.r_score AND v.f_score = c.f_score
GROUP BY c.r_score, c.f_score
ORDER BY c.r_score DESC, c.f_score DESC
