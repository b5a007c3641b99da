-- model: daily_sales
-- meaning: Sales per day up to the as-of date: customers, new customers, orders, items, gross
--   sales, refunds and net revenue.
-- grain: day
-- key: day
-- depends_on: customer_daily, customer_profile
-- publish: true
-- check: unique day
-- check: not_null day, customers, new_customers, orders, net_revenue
-- check: sql SELECT * FROM (SELECT (SELECT coalesce(sum(net_revenue), 0) FROM daily_sales) AS
--   mart_net_revenue, (SELECT coalesce(sum(amount), 0) FROM lake_transactions WHERE ts <
--   getvariable('as_of') + 1) AS lake_net_revenue) WHERE mart_net_revenue <> lake_net_revenue
WITH
-- New customers per day come from the profile's first purchase days (each
-- is one of the customer's daily rows): no per-row join with the profile.
new_per_day AS (
  SELECT first_purchase AS day, count(*) AS new_customers
  FROM customer_profile
  GROUP BY ALL),
per_day AS (
  SELECT
    day,
    count(*) FILTER (WHERE purchase_lines > 0) AS customers,
    sum(orders)::BIGINT AS orders,
    sum(items) AS items,
    sum(gross_revenue) AS gross_revenue,
    sum(refunds) AS refunds,
    sum(net_revenue) AS net_revenue
  FROM customer_daily
  WHERE day <= getvariable('as_of')
  GROUP BY day)
SELECT
  d.day,
  d.customers,
  coalesce(n.new_customers, 0) AS new_customers,
  d.orders,
  d.items,
  d.gross_revenue,
  d.refunds,
  d.net_revenue
FROM per_day d
LEFT JOIN new_per_day n USING (day)
ORDER BY d.day
