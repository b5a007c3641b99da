-- model: customer_daily
-- meaning: One row per customer and day with activity: purchase lines, orders, items, gross sales,
--   refunds and net revenue. Maintained incrementally by day partition from
--   lake_transactions_delta (the lake partitions changed since the last run), so a daily run
--   reads only the new days.
-- grain: customer x day
-- key: customer_id, day
-- depends_on:
-- materialized: incremental
-- partition: day
-- check: not_null customer_id, day
-- check: unique customer_id, day
-- check: sql SELECT * FROM (SELECT (SELECT count(*) FROM lake_transactions_delta WHERE customer_id
--   IS NOT NULL) AS lake_lines, (SELECT coalesce(sum(amount), 0) FROM lake_transactions_delta WHERE
--   customer_id IS NOT NULL) AS lake_net_revenue, (SELECT coalesce(sum(purchase_lines +
--   refund_lines), 0) FROM customer_daily WHERE day IN (SELECT day FROM changed_days)) AS
--   daily_lines, (SELECT coalesce(sum(net_revenue), 0) FROM customer_daily WHERE day IN (SELECT day
--   FROM changed_days)) AS daily_net_revenue) WHERE lake_lines <> daily_lines OR lake_net_revenue
--   <> daily_net_revenue
WITH
-- DISTINCT aggregates over every line are the costly part. Most customer
-- days have one order, channel and store, which min = max shows cheaply;
-- only the few mixed days go through the DISTINCT aggregates.
agg AS (
  SELECT
    customer_id,
    CAST(ts AS DATE) AS day,
    count(*) FILTER (WHERE NOT is_refund) AS purchase_lines,
    count(*) FILTER (WHERE is_refund) AS refund_lines,
    min(order_id) FILTER (WHERE NOT is_refund) AS order_lo,
    max(order_id) FILTER (WHERE NOT is_refund) AS order_hi,
    coalesce(sum(quantity) FILTER (WHERE NOT is_refund), 0) AS items,
    coalesce(sum(amount) FILTER (WHERE NOT is_refund), 0) AS gross_revenue,
    coalesce(-sum(amount) FILTER (WHERE is_refund), 0) AS refunds,
    sum(amount) AS net_revenue,
    min(channel) AS channel_lo, max(channel) AS channel_hi,
    min(store_id) AS store_lo, max(store_id) AS store_hi
  FROM lake_transactions_delta
  -- Guest checkouts (no customer) are in guest_daily.
  WHERE customer_id IS NOT NULL
  GROUP BY ALL),
mixed AS (
  SELECT customer_id, day FROM agg
  WHERE order_lo <> order_hi OR channel_lo <> channel_hi OR store_lo <> store_hi),
mixed_lists AS (
  SELECT
    t.customer_id,
    CAST(t.ts AS DATE) AS day,
    count(DISTINCT t.order_id) FILTER (WHERE NOT t.is_refund) AS orders,
    list(DISTINCT t.channel ORDER BY t.channel) FILTER (WHERE t.channel IS NOT NULL) AS channels,
    list(DISTINCT t.store_id ORDER BY t.store_id) FILTER (WHERE t.store_id IS NOT NULL) AS stores
  FROM lake_transactions_delta t
  SEMI JOIN mixed m ON m.customer_id IS NOT DISTINCT FROM t.customer_id AND m.day IS NOT DISTINCT FROM CAST(t.ts AS DATE)
  GROUP BY ALL)
SELECT
  a.customer_id,
  a.day,
  a.purchase_lines,
  a.refund_lines,
  -- Sources without order ids count one order per purchase day (docs/DOMAIN.md §1).
  CASE WHEN a.purchase_lines = 0 THEN 0
       WHEN a.order_lo IS NULL OR a.order_lo = a.order_hi THEN 1
       ELSE m.orders END AS orders,
  -- Sums are cast back to the lake's precision: DuckDB widens them to
  -- DECIMAL(38,x), whose 128-bit arithmetic makes every later scan slower.
  CAST(a.items AS DECIMAL(18,3)) AS items,
  CAST(a.gross_revenue AS DECIMAL(18,2)) AS gross_revenue,
  CAST(a.refunds AS DECIMAL(18,2)) AS refunds,
  CAST(a.net_revenue AS DECIMAL(18,2)) AS net_revenue,
  CASE WHEN a.channel_lo = a.channel_hi THEN [a.channel_lo] ELSE m.channels END AS channels,
  CASE WHEN a.store_lo = a.store_hi THEN [a.store_lo] ELSE m.stores END AS stores
FROM agg a
LEFT JOIN mixed_lists m ON m.customer_id IS NOT DISTINCT FROM a.customer_id AND m.day IS NOT DISTINCT FROM a.day
