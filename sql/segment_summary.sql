-- model: segment_summary
-- meaning: Customers, revenue and average scores per RFM segment, for dashboards.
-- grain: segment
-- key: segment
-- depends_on: rfm
-- publish: true
-- check: unique segment
SELECT
  segment,
  count(*) AS customers,
  round(count(*) / sum(count(*)) OVER (), 4) AS customer_share,
  sum(monetary) AS revenue,
  round(avg(recency_days), 1) AS avg_recency_days,
  round(avg(orders), 2) AS avg_orders,
  round(avg(monetary), 2) AS avg_monetary
FROM rfm
GROUP BY segment
ORDER BY revenue DESC
