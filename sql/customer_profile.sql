-- model: customer_profile
-- meaning: Per-customer facts as of the run's date (docs/DOMAIN.md §1): first and last purchase,
--   tenure, orders, purchase days, items, gross revenue, refunds, net revenue, average order
--   value, purchase cycle, channels and stores used.
-- grain: customer
-- key: customer_id
-- depends_on: customer_daily
-- publish: true
-- check: not_null customer_id, first_purchase, last_purchase
-- check: unique customer_id
-- check: range orders 1 NULL
WITH facts AS (
  SELECT
    customer_id,
    min(day) FILTER (WHERE purchase_lines > 0) AS first_purchase,
    max(day) FILTER (WHERE purchase_lines > 0) AS last_purchase,
    sum(orders)::BIGINT AS orders,
    count(*) FILTER (WHERE purchase_lines > 0) AS purchase_days,
    CAST(sum(items) AS DECIMAL(18,3)) AS items,
    CAST(sum(gross_revenue) AS DECIMAL(18,2)) AS gross_revenue,
    CAST(sum(refunds) AS DECIMAL(18,2)) AS refunds,
    CAST(sum(net_revenue) AS DECIMAL(18,2)) AS net_revenue
  FROM customer_daily
  WHERE day <= getvariable('as_of')
  GROUP BY customer_id
  HAVING count(*) FILTER (WHERE purchase_lines > 0) > 0),
-- Channels and stores are unnested and de-duplicated in one pass each;
-- concatenating the daily lists first is several times slower.
channels AS (
  SELECT customer_id, list(DISTINCT channel ORDER BY channel) AS channels
  FROM (SELECT customer_id, unnest(channels) AS channel FROM customer_daily WHERE day <= getvariable('as_of'))
  GROUP BY customer_id),
stores AS (
  SELECT customer_id, list(DISTINCT store ORDER BY store) AS stores
  FROM (SELECT customer_id, unnest(stores) AS store FROM customer_daily WHERE day <= getvariable('as_of'))
  GROUP BY customer_id)
SELECT
  f.customer_id, f.first_purchase, f.last_purchase,
  getvariable('as_of') - f.first_purchase AS tenure_days,
  f.orders, f.purchase_days, f.items, f.gross_revenue, f.refunds, f.net_revenue,
  CAST(f.gross_revenue / f.orders AS DECIMAL(18,2)) AS avg_order_value,
  -- The purchase cycle is undefined for single-purchase customers: never invent one.
  CASE WHEN f.purchase_days > 1 THEN (f.last_purchase - f.first_purchase)::DOUBLE / (f.purchase_days - 1) END AS cycle_days,
  coalesce(c.channels, []::VARCHAR[]) AS channels,
  coalesce(s.stores, []::VARCHAR[]) AS stores
FROM facts f
LEFT JOIN channels c USING (customer_id)
LEFT JOIN stores s USING (customer_id)
