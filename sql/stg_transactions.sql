-- model: stg_transactions
-- meaning: Every transaction line in the lake with its purchase day; refunds and cancellations
--   flagged, not removed.
-- grain: transaction line
-- key: source, batch_id, source_line
-- depends_on:
-- materialized: view
SELECT
  transaction_id, order_id, customer_id, ts, CAST(ts AS DATE) AS day,
  amount, quantity, unit_price, currency, channel, store_id, product_id,
  is_refund, source, batch_id, source_line
FROM lake_transactions
