-- model: guest_daily
-- meaning: Sales per day of the rows without a customer (guest checkouts of sources with
--   missing_customer_id: anonymous): purchase and refund lines, orders (a guest line without an
--   order id is one order), items, gross sales, refunds and net revenue. Per-customer models
--   never see these rows; daily_sales adds them to each day's sales. Incremental by day
--   partition, like customer_daily.
-- grain: day
-- key: day
-- depends_on:
-- materialized: incremental
-- partition: day
-- check: not_null day
-- check: unique day
-- check: sql SELECT * FROM (SELECT (SELECT count(*) FROM lake_transactions_delta WHERE customer_id
--   IS NULL) AS lake_lines, (SELECT coalesce(sum(amount), 0) FROM lake_transactions_delta WHERE
--   customer_id IS NULL) AS lake_net_revenue, (SELECT coalesce(sum(purchase_lines + refund_lines),
--   0) FROM guest_daily WHERE day IN (SELECT day FROM changed_days)) AS daily_lines, (SELECT
--   coalesce(sum(net_revenue), 0) FROM guest_daily WHERE day IN (SELECT day FROM changed_days)) AS
--   daily_net_revenue) WHERE lake_lines <> daily_lines OR lake_net_revenue <> daily_net_revenue
SELECT
  CAST(ts AS DATE) AS day,
  count(*) FILTER (WHERE NOT is_refund) AS purchase_lines,
  count(*) FILTER (WHERE is_refund) AS refund_lines,
  (count(DISTINCT order_id) FILTER (WHERE NOT is_refund)
    + count(*) FILTER (WHERE NOT is_refund AND order_id IS NULL))::BIGINT AS orders,
  CAST(coalesce(sum(quantity) FILTER (WHERE NOT is_refund), 0) AS DECIMAL(18,3)) AS items,
  CAST(coalesce(sum(amount) FILTER (WHERE NOT is_refund), 0) AS DECIMAL(18,2)) AS gross_revenue,
  CAST(coalesce(-sum(amount) FILTER (WHERE is_refund), 0) AS DECIMAL(18,2)) AS refunds,
  CAST(sum(amount) AS DECIMAL(18,2)) AS net_revenue
FROM lake_transactions_delta
WHERE customer_id IS NULL
GROUP BY ALL
