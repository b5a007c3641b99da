-- model: rfm
-- meaning: RFM per customer (docs/DOMAIN.md §2): recency in days to the as-of date, frequency as
--   orders, monetary as net revenue (sum, or mean per order), scores 1..5 by quintile cut points
--   with equal values always sharing a score, and the first matching segment of the configured
--   rule table.
-- grain: customer
-- key: customer_id
-- depends_on: customer_profile
-- publish: true
-- check: not_null customer_id, r_score, f_score, m_score, segment
-- check: unique customer_id
-- check: range r_score 1 5
-- check: range f_score 1 5
-- check: range m_score 1 5
WITH base AS (
  SELECT
    customer_id,
    getvariable('as_of') - last_purchase AS recency_days,
    orders,
    CASE WHEN getvariable('monetary') = 'mean' THEN CAST(net_revenue / orders AS DECIMAL(18,2)) ELSE net_revenue END AS monetary
  FROM customer_profile),
-- Quintile cut points (20/40/60/80%, linear interpolation) over all customers.
cuts AS (
  SELECT
    quantile_cont(recency_days, [0.2, 0.4, 0.6, 0.8]) AS r_cuts,
    quantile_cont(orders, [0.2, 0.4, 0.6, 0.8]) AS f_cuts,
    quantile_cont(monetary, [0.2, 0.4, 0.6, 0.8]) AS m_cuts
  FROM base),
-- A score counts the cut points a value is strictly beyond, so equal values
-- always get the same score and buckets may be uneven or empty. Recency is
-- reversed: the most recent customers score 5.
scored AS (
  SELECT b.*,
    1 + len(list_filter(c.r_cuts, x -> b.recency_days < x)) AS r_score,
    1 + len(list_filter(c.f_cuts, x -> b.orders > x)) AS f_score,
    1 + len(list_filter(c.m_cuts, x -> b.monetary > x)) AS m_score
  FROM base b, cuts c),
-- The segment of each of the 125 score triples: the first matching rule,
-- both bounds inclusive; unmatched is Others. Matched per triple, not per
-- customer, which would compare every customer with every rule.
segments AS (
  SELECT r.r_score, f.f_score, m.m_score,
    (SELECT arg_min(p.segment, p.ord) FROM param_rfm_segments p
     WHERE r.r_score BETWEEN p.r_lo AND p.r_hi
       AND f.f_score BETWEEN p.f_lo AND p.f_hi
       AND m.m_score BETWEEN p.m_lo AND p.m_hi) AS segment
  FROM range(1, 6) r(r_score), range(1, 6) f(f_score), range(1, 6) m(m_score))
SELECT
  s.customer_id, s.recency_days, s.orders, s.monetary,
  s.r_score, s.f_score, s.m_score,
  s.r_score::VARCHAR || s.f_score::VARCHAR || s.m_score::VARCHAR AS rfm_cell,
  coalesce(g.segment, 'Others') AS segment
FROM scored s
LEFT JOIN segments g USING (r_score, f_score, m_score)
