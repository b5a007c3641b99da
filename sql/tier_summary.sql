-- model: tier_summary
-- meaning: The customer pyramid (Zeithaml, Rust & Lemon 2001; docs/DOMAIN.md §5): customers, net
--   revenue, historical profitability and predicted CLV per tier (Platinum, Gold, Iron, Lead,
--   all four present), their shares of the total, and the tier's average P(alive) and predicted
--   CLV.
-- grain: tier
-- key: tier
-- depends_on: customer_value
-- publish: true
-- check: not_null tier, customers, customer_share, revenue, clv_historical
-- check: unique tier
-- check: row_count 4 4
-- check: sql SELECT * FROM (SELECT sum(customers) AS tiers, (SELECT count(*) FROM customer_value)
--   AS mart FROM tier_summary) WHERE tiers <> mart
-- DOUBLE sums and means add as DECIMAL: a parallel DOUBLE sum depends on
-- the order rows arrive in, and a rerun must give the same numbers to the
-- last bit. A DECIMAL sum is exact (cents exactly; unrounded values at
-- 1e-12) in any order, and costs a small part of sorting every value.
WITH tiers(tier, tier_order) AS (VALUES ('Platinum', 1), ('Gold', 2), ('Iron', 3), ('Lead', 4)),
totals AS (
  SELECT count(*) AS customers, sum(revenue) AS revenue, sum(clv_predicted::DECIMAL(18,2))::DOUBLE AS clv_predicted
  FROM customer_value)
SELECT
  t.tier,
  count(v.customer_id) AS customers,
  coalesce(count(v.customer_id) / nullif(any_value(s.customers), 0), 0) AS customer_share,
  coalesce(sum(v.revenue), 0) AS revenue,
  coalesce(sum(v.revenue) / nullif(any_value(s.revenue), 0), 0)::DOUBLE AS revenue_share,
  coalesce(sum(v.clv_historical::DECIMAL(18,2)), 0)::DOUBLE AS clv_historical,
  sum(v.clv_predicted::DECIMAL(18,2))::DOUBLE AS clv_predicted,
  sum(v.clv_predicted::DECIMAL(18,2))::DOUBLE / nullif(any_value(s.clv_predicted), 0) AS clv_predicted_share,
  avg(v.clv_predicted::DECIMAL(18,2)) AS avg_clv_predicted,
  avg(v.p_alive::DECIMAL(38,12)) AS avg_p_alive,
  t.tier_order
FROM tiers t
CROSS JOIN totals s
LEFT JOIN customer_value v USING (tier)
GROUP BY t.tier, t.tier_order
ORDER BY t.tier_order
