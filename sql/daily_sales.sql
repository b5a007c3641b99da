-- model: daily_sales
-- meaning: Sales per day up to the as-of date: customers, new customers, orders, items, gross sales, refunds and net revenue.
-- grain: day
-- key: day
-- depends_on: customer_daily, customer_profile
-- publish: true
-- check: unique day
-- check: not_null day, customers, new_customers, orders, net_revenue
-- check: sql SELECT * FROM (SELECT (SELECT coalesce(sum(net_revenue), 0) FROM daily_sales) AS mart_net_revenue, (SELECT coalesce(sum(amount), 0) FROM lake_transactions WHERE ts < getvariable('as_of') + 1) AS lake_net_revenue) WHERE mart_net_revenue <> lake_net_revenue
SELECT
  d.day,
  count(*) FILTER (WHERE d.purchase_lines > 0) AS customers,
  count(*) FILTER (WHERE d.day = p.first_purchase) AS new_customers,
  sum(d.orders)::BIGINT AS orders,
  sum(d.items) AS items,
  sum(d.gross_revenue) AS gross_revenue,
  sum(d.refunds) AS refunds,
  sum(d.net_revenue) AS net_revenue
FROM customer_daily d
LEFT JOIN customer_profile p USING (customer_id)
WHERE d.day <= getvariable('as_of')
GROUP BY d.day
ORDER BY d.day
