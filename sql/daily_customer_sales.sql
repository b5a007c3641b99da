-- model: daily_customer_sales
-- meaning: Sales of identified customers per day with activity up to the as-of date: customers with
--   a purchase, orders, items, gross sales, refunds and net revenue, summed from customer_daily.
--   The part of daily_sales that reads the whole daily table, maintained incrementally by day:
--   a daily run rebuilds the changed days of customer_daily only (see customer_base).
-- grain: day
-- key: day
-- depends_on: customer_daily
-- materialized: incremental_by_key
-- source: customer_daily
-- partition: day
-- check: not_null day, customers, orders, net_revenue
-- check: unique day
SELECT
  day,
  count(*) FILTER (WHERE purchase_lines > 0) AS customers,
  sum(orders)::BIGINT AS orders,
  sum(items) AS items,
  sum(gross_revenue) AS gross_revenue,
  sum(refunds) AS refunds,
  sum(net_revenue) AS net_revenue
FROM customer_daily_delta
-- The only use of the as-of date (see customer_base).
WHERE day <= getvariable('as_of')
GROUP BY day
