-- model: customer_profile
-- meaning: Per-customer facts as of the run's date (DOMAIN.md §1): first and last purchase, tenure, orders, purchase days, items, gross revenue, refunds, net revenue, average order value, purchase cycle, channels and stores used.
-- grain: customer
-- key: customer_id
-- depends_on: customer_daily
-- publish: true
-- check: not_null customer_id, first_purchase, last_purchase
-- check: unique customer_id
-- check: range orders 1 NULL
SELECT
  customer_id,
  min(day) FILTER (WHERE purchase_lines > 0) AS first_purchase,
  max(day) FILTER (WHERE purchase_lines > 0) AS last_purchase,
  getvariable('as_of') - min(day) FILTER (WHERE purchase_lines > 0) AS tenure_days,
  sum(orders)::BIGINT AS orders,
  count(*) FILTER (WHERE purchase_lines > 0) AS purchase_days,
  sum(items) AS items,
  sum(gross_revenue) AS gross_revenue,
  sum(refunds) AS refunds,
  sum(net_revenue) AS net_revenue,
  round(sum(gross_revenue) / sum(orders), 2) AS avg_order_value,
  -- The purchase cycle is undefined for single-purchase customers: never invent one.
  CASE WHEN count(*) FILTER (WHERE purchase_lines > 0) > 1
       THEN (max(day) FILTER (WHERE purchase_lines > 0) - min(day) FILTER (WHERE purchase_lines > 0))::DOUBLE
            / (count(*) FILTER (WHERE purchase_lines > 0) - 1) END AS cycle_days,
  list_sort(list_distinct(flatten(list(channels)))) AS channels,
  list_sort(list_distinct(flatten(list(stores)))) AS stores
FROM customer_daily
WHERE day <= getvariable('as_of')
GROUP BY customer_id
HAVING count(*) FILTER (WHERE purchase_lines > 0) > 0
