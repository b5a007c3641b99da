-- model: customer_daily
-- meaning: One row per customer and day with activity: purchase lines, orders, items, gross sales, refunds and net revenue. Maintained incrementally by day partition from lake_transactions_delta (the lake partitions changed since the last run), so a daily run reads only the new days.
-- grain: customer x day
-- key: customer_id, day
-- depends_on:
-- materialized: incremental
-- partition: day
-- check: not_null customer_id, day
-- check: unique customer_id, day
SELECT
  customer_id,
  CAST(ts AS DATE) AS day,
  count(*) FILTER (WHERE NOT is_refund) AS purchase_lines,
  count(*) FILTER (WHERE is_refund) AS refund_lines,
  -- Sources without order ids count one order per purchase day (DOMAIN.md §1).
  CASE WHEN count(*) FILTER (WHERE NOT is_refund) = 0 THEN 0
       ELSE greatest(count(DISTINCT order_id) FILTER (WHERE NOT is_refund), 1) END AS orders,
  -- Sums are cast back to the lake's precision: DuckDB widens them to
  -- DECIMAL(38,x), whose 128-bit arithmetic makes every later scan slower.
  CAST(coalesce(sum(quantity) FILTER (WHERE NOT is_refund), 0) AS DECIMAL(18,3)) AS items,
  CAST(coalesce(sum(amount) FILTER (WHERE NOT is_refund), 0) AS DECIMAL(18,2)) AS gross_revenue,
  CAST(coalesce(-sum(amount) FILTER (WHERE is_refund), 0) AS DECIMAL(18,2)) AS refunds,
  CAST(sum(amount) AS DECIMAL(18,2)) AS net_revenue,
  list(DISTINCT channel ORDER BY channel) FILTER (WHERE channel IS NOT NULL) AS channels,
  list(DISTINCT store_id ORDER BY store_id) FILTER (WHERE store_id IS NOT NULL) AS stores
FROM lake_transactions_delta
GROUP BY ALL
