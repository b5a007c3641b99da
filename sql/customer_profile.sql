-- model: customer_profile
-- meaning: Per-customer facts as of the run's date (docs/DOMAIN.md §1): first and last purchase,
--   tenure, orders, purchase days, items, gross revenue, refunds, net revenue, average order
--   value, purchase cycle, channels and stores used.
-- grain: customer
-- key: customer_id
-- depends_on: customer_base
-- publish: true
-- check: not_null customer_id, first_purchase, last_purchase
-- check: unique customer_id
-- check: range orders 1 NULL
-- The sums are kept per customer in customer_base, maintained by customer;
-- only the as-of columns are computed here, for everyone.
SELECT
  b.customer_id, b.first_purchase, b.last_purchase,
  getvariable('as_of') - b.first_purchase AS tenure_days,
  b.orders, b.purchase_days, b.items, b.gross_revenue, b.refunds, b.net_revenue,
  CAST(b.gross_revenue / b.orders AS DECIMAL(18,2)) AS avg_order_value,
  -- The purchase cycle is undefined for single-purchase customers: never invent one.
  CASE WHEN b.purchase_days > 1 THEN (b.last_purchase - b.first_purchase)::DOUBLE / (b.purchase_days - 1) END AS cycle_days,
  b.channels,
  b.stores
FROM customer_base b
WHERE b.purchase_days > 0
