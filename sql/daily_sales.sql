-- model: daily_sales
-- meaning: Sales per day up to the as-of date: customers, new customers, orders, items, gross
--   sales, refunds and net revenue, guest checkouts included (orders, items and revenue count
--   them; customers do not); identified_revenue and guest_revenue split net_revenue,
--   guest_orders counts the guests' orders.
-- grain: day
-- key: day
-- depends_on: daily_customer_sales, customer_profile, guest_daily, customer_daily
-- publish: true
-- check: unique day
-- check: not_null day, customers, new_customers, orders, net_revenue, identified_revenue,
--   guest_revenue, guest_orders
-- check: sql SELECT * FROM (SELECT (SELECT coalesce(sum(net_revenue), 0) FROM daily_sales) AS
--   mart_net_revenue, (SELECT coalesce(sum(net_revenue), 0) FROM customer_daily WHERE day <=
--   getvariable('as_of')) + (SELECT coalesce(sum(net_revenue), 0) FROM guest_daily WHERE day <=
--   getvariable('as_of')) AS daily_net_revenue) WHERE mart_net_revenue <> daily_net_revenue
WITH
-- New customers per day come from the profile's first purchase days (each
-- is one of the customer's daily rows): no per-row join with the profile.
new_per_day AS (
  SELECT first_purchase AS day, count(*) AS new_customers
  FROM customer_profile
  GROUP BY ALL),
-- The identified customers' sums per day are kept in daily_customer_sales,
-- maintained by day.
per_day AS (
  SELECT * FROM daily_customer_sales),
guests AS (
  SELECT * FROM guest_daily WHERE day <= getvariable('as_of'))
SELECT
  day,
  coalesce(d.customers, 0) AS customers,
  coalesce(n.new_customers, 0) AS new_customers,
  coalesce(d.orders, 0) + coalesce(g.orders, 0) AS orders,
  coalesce(d.items, 0) + coalesce(g.items, 0) AS items,
  coalesce(d.gross_revenue, 0) + coalesce(g.gross_revenue, 0) AS gross_revenue,
  coalesce(d.refunds, 0) + coalesce(g.refunds, 0) AS refunds,
  coalesce(d.net_revenue, 0) + coalesce(g.net_revenue, 0) AS net_revenue,
  coalesce(d.net_revenue, 0) AS identified_revenue,
  coalesce(g.net_revenue, 0) AS guest_revenue,
  coalesce(g.orders, 0) AS guest_orders
FROM per_day d
FULL JOIN guests g USING (day)
LEFT JOIN new_per_day n USING (day)
ORDER BY day
