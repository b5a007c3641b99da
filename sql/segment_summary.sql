-- model: segment_summary
-- meaning: Customers, net revenue and average scores per RFM segment, for dashboards. revenue is
--   the segment's net revenue whatever model.monetary says (the RFM monetary may be a mean per
--   order); avg_monetary averages the RFM monetary.
-- grain: segment
-- key: segment
-- depends_on: rfm, customer_profile
-- publish: true
-- check: unique segment
-- check: not_null segment, customers, revenue
-- check: sql SELECT * FROM (SELECT sum(customers) AS segments, (SELECT count(*) FROM rfm) AS
--   customers FROM segment_summary) WHERE segments <> customers
SELECT
  r.segment,
  count(*) AS customers,
  round(count(*) / sum(count(*)) OVER (), 4) AS customer_share,
  sum(p.net_revenue) AS revenue,
  round(avg(r.recency_days), 1) AS avg_recency_days,
  round(avg(r.orders), 2) AS avg_orders,
  round(avg(r.monetary), 2) AS avg_monetary
FROM rfm r
JOIN customer_profile p USING (customer_id)
GROUP BY r.segment
ORDER BY revenue DESC
