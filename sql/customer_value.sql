-- model: customer_value
-- meaning: One row per customer with everything a marketer ranks and filters on, as of the run's
--   date (the README's Marts section lists every column): the profile, RFM scores and segment,
--   the probabilistic model inputs (frequency = x, recency = t_x, T, monetary_value), the
--   purchase cycle x amount class (docs/DOMAIN.md §3), the four CLVs (§4: historical
--   profitability, compounded historical NPV, Gupta & Lehmann retention-based, predictive over
--   model.horizon), P(alive) and expected purchases and spend from the configured predictive
--   model and Gamma-Gamma, the customer-pyramid tier (§5), Dick & Basu loyalty with value x
--   loyalty and value x responsiveness (§6), and boolean flags.
-- grain: customer
-- key: customer_id
-- depends_on: customer_daily, customer_profile, customer_months, rfm, clv_inputs, clv_model,
--   cohort_annual_retention, feedback, campaign_response
-- publish: true
-- check: not_null customer_id, first_purchase, last_purchase, orders, revenue, recency_days,
--   frequency, recency, T, monetary_value, r_score, f_score, m_score, rfm_segment, value_class,
--   clv_historical, clv_npv, tier, attitude, patronage, loyalty, value_loyalty
-- check: unique customer_id
-- check: accepted_values value_class: Platinum | Gold | Silver | Development | Optimization |
--   Single purchase
-- check: accepted_values tier: Platinum | Gold | Iron | Lead
-- check: accepted_values attitude: high | low | unknown
-- check: accepted_values loyalty: True loyalty | Latent loyalty | Spurious loyalty | No loyalty |
--   Unknown attitude, high patronage | Unknown attitude, low patronage
-- check: accepted_values value_loyalty: Gold | At risk | Marginal | Low priority
-- check: accepted_values value_responsiveness: Best | Strangers | Fatal attraction | Ghosts
-- check: range p_alive 0 1
-- check: range expected_purchases 0 NULL
-- check: range expected_spend 0 NULL
-- check: range clv_predicted 0 NULL
-- check: range retention_rate 0 1
-- check: range frequency 0 NULL
-- check: sql SELECT * FROM customer_value WHERE recency > "T" OR frequency <> purchase_days - 1 OR
--   (value_class = 'Single purchase') <> (cycle_days IS NULL) OR (clv_historical < 0 AND tier <>
--   'Lead')
-- check: sql SELECT * FROM (SELECT (SELECT coalesce(sum(net_revenue), 0) FROM customer_daily WHERE
--   day <= getvariable('as_of')) AS daily_net_revenue, (SELECT coalesce(sum(revenue), 0) FROM
--   customer_value) AS mart_revenue, (SELECT coalesce(sum(m.net_revenue), 0) FROM customer_months m
--   WHERE NOT EXISTS (SELECT 1 FROM customer_value v WHERE v.customer_id = m.customer_id)) AS
--   refund_only_revenue) WHERE daily_net_revenue <> mart_revenue + refund_only_revenue
WITH cfg AS (
  SELECT
    getvariable('as_of') AS as_of,
    getvariable('predictive_model') AS model,
    getvariable('horizon') AS horizon,
    -- clv_predicted sums whole months: the horizon in months, rounded.
    round(getvariable('horizon') * getvariable('unit_days') / (365.25 / 12)) AS horizon_months,
    365.25 / 12 / getvariable('unit_days') AS periods_per_month,
    pow(1 + getvariable('discount_rate'), 1.0 / 12) - 1 AS monthly_discount,
    getvariable('discount_rate') AS discount_rate,
    getvariable('margin_rate') AS margin_rate,
    getvariable('cost_per_order') AS cost_per_order,
    getvariable('cost_per_customer_year') AS cost_per_year,
    getvariable('acquisition_cost') AS acquisition_cost,
    getvariable('tier_platinum') AS tier_platinum,
    getvariable('tier_gold') AS tier_gold,
    getvariable('tier_iron') AS tier_iron),
-- The fitted parameters the predictions use (none when a fit failed or did
-- not converge: the predictions are then NULL).
params AS (
  SELECT
    max(m.value) FILTER (WHERE m.model = c.model AND m.parameter = 'r') AS r,
    max(m.value) FILTER (WHERE m.model = c.model AND m.parameter = 'alpha') AS alpha,
    max(m.value) FILTER (WHERE m.model = c.model AND m.parameter IN ('a', 's')) AS p3,
    max(m.value) FILTER (WHERE m.model = c.model AND m.parameter IN ('b', 'beta')) AS p4,
    max(m.value) FILTER (WHERE m.model = 'gamma_gamma' AND m.parameter = 'p') AS gg_p,
    max(m.value) FILTER (WHERE m.model = 'gamma_gamma' AND m.parameter = 'q') AS gg_q,
    max(m.value) FILTER (WHERE m.model = 'gamma_gamma' AND m.parameter = 'gamma') AS gg_gamma
  FROM clv_model m, cfg c
  WHERE m.used_for_predictions),
-- Purchase-model predictions depend on (x, t_x, T) only. discounted_purchases
-- is the predicted CLV of one currency unit per purchase, so clv_predicted =
-- spend per purchase * it. BG/NBD's expectations are P(alive) (a vectorised
-- SQL closed form, per customer) times those of a customer known to be
-- active, which depend on (x, T) alone: their Go functions (they need 2F1)
-- run once per distinct pair, a few per cent of the customers. Pareto/NBD's
-- P(alive) needs 2F1 too: its Go functions run once per distinct triple.
bgnbd_active AS (
  SELECT q.x, q."T",
    bgnbd_expected_purchases_alive(c.horizon, q.x, q."T", p.r, p.alpha, p.p3, p.p4) AS purchases,
    bgnbd_clv_alive(1, q.x, q."T", p.r, p.alpha, p.p3, p.p4, c.horizon_months, c.periods_per_month, c.monthly_discount) AS discounted_purchases
  FROM (SELECT DISTINCT x, "T" FROM clv_inputs) q, params p, cfg c
  WHERE c.model = 'bgnbd'),
pareto_nbd_scored AS (
  SELECT t.x, t.t_x, t."T",
    pareto_nbd_p_alive(t.x, t.t_x, t."T", p.r, p.alpha, p.p3, p.p4) AS p_alive,
    pareto_nbd_expected_purchases(c.horizon, t.x, t.t_x, t."T", p.r, p.alpha, p.p3, p.p4) AS expected_purchases,
    pareto_nbd_clv(1, t.x, t.t_x, t."T", p.r, p.alpha, p.p3, p.p4, c.horizon_months, c.periods_per_month, c.monthly_discount) AS discounted_purchases
  FROM (SELECT DISTINCT x, t_x, "T" FROM clv_inputs) t, params p, cfg c
  WHERE c.model = 'pareto_nbd'),
-- Net cash flow per month, carried to the as-of month at the annual rate.
npv AS (
  SELECT m.customer_id,
    sum((m.net_revenue * c.margin_rate - c.cost_per_order * m.orders)
        * pow(1 + c.discount_rate, date_diff('month', m.month, c.as_of) / 12)) AS compounded_margin
  FROM customer_months m, cfg c
  GROUP BY m.customer_id),
-- Attitude: the latest survey answer day on or before the as-of date.
latest_feedback AS (
  SELECT customer_id, date AS feedback_date, avg(score / scale) AS score_share
  FROM feedback
  GROUP BY customer_id, date
  QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY date DESC) = 1),
responses AS (
  SELECT customer_id, count(*) AS contacts, count(*) FILTER (WHERE responded) AS responses
  FROM campaign_response
  GROUP BY customer_id),
-- Responsive: responded at least once, and at least as often as the average contact.
response_rate AS (SELECT sum(responses) / sum(contacts) AS rate FROM responses),
-- BG/NBD's P(alive) once per customer: base uses it in three columns.
inputs AS (
  SELECT i.*, CASE c.model WHEN 'bgnbd' THEN bgnbd_p_alive_closed(i.x, i.t_x, i."T", pr.r, pr.alpha, pr.p3, pr.p4) END AS bgnbd_p_alive
  FROM clv_inputs i, params pr, cfg c),
base AS MATERIALIZED (
  SELECT
    p.customer_id, p.first_purchase, p.last_purchase, p.tenure_days, p.orders, p.purchase_days,
    p.gross_revenue, p.refunds, p.net_revenue AS revenue,
    c.as_of - p.last_purchase AS recency_days,
    i.x AS frequency, i.t_x AS recency, i."T", i.m AS monetary_value,
    r.monetary AS rfm_monetary, r.r_score, r.f_score, r.m_score, r.rfm_cell, r.segment AS rfm_segment,
    p.cycle_days,
    (p.net_revenue / p.orders)::DOUBLE AS avg_amount,
    CASE c.model WHEN 'bgnbd' THEN i.bgnbd_p_alive ELSE ps.p_alive END AS p_alive,
    CASE c.model WHEN 'bgnbd' THEN i.bgnbd_p_alive * a.purchases
      ELSE ps.expected_purchases END AS expected_purchases,
    gamma_gamma_expected_spend_closed(i.x, i.m, pr.gg_p, pr.gg_q, pr.gg_gamma) AS expected_spend_per_purchase,
    CASE c.model WHEN 'bgnbd' THEN i.bgnbd_p_alive * a.discounted_purchases
      ELSE ps.discounted_purchases END AS discounted_purchases,
    date_trunc('month', p.first_purchase)::DATE AS cohort_month,
    ar.retention_rate,
    p.tenure_days / 365.25 AS tenure_years,
    n.compounded_margin,
    f.feedback_date, f.score_share,
    rs.contacts, rs.responses
  FROM customer_profile p
  CROSS JOIN cfg c
  CROSS JOIN params pr
  JOIN inputs i USING (customer_id)
  JOIN rfm r USING (customer_id)
  LEFT JOIN bgnbd_active a ON a.x = i.x AND a."T" = i."T"
  LEFT JOIN pareto_nbd_scored ps ON ps.x = i.x AND ps.t_x = i.t_x AND ps."T" = i."T"
  LEFT JOIN cohort_annual_retention ar ON ar.cohort_month = date_trunc('month', p.first_purchase)::DATE
  LEFT JOIN npv n USING (customer_id)
  LEFT JOIN latest_feedback f USING (customer_id)
  LEFT JOIN responses rs USING (customer_id)),
-- Purchase-cycle and amount bands: quantile cut points over the customers
-- who have a cycle (more than one purchase day); equal values share a band.
bands AS (
  SELECT
    quantile_cont(cycle_days, getvariable('cycle_bands')) AS cycle_cuts,
    quantile_cont(avg_amount, getvariable('amount_bands')) AS amount_cuts
  FROM base
  WHERE cycle_days IS NOT NULL),
valued AS NOT MATERIALIZED (
  SELECT b.*,
    CASE WHEN b.cycle_days IS NULL THEN NULL
         WHEN b.cycle_days <= k.cycle_cuts[1] THEN 'short'
         WHEN b.cycle_days <= k.cycle_cuts[2] THEN 'medium'
         ELSE 'long' END AS cycle_band,
    CASE WHEN b.cycle_days IS NULL THEN NULL
         WHEN b.avg_amount > k.amount_cuts[2] THEN 'large'
         WHEN b.avg_amount > k.amount_cuts[1] THEN 'medium'
         ELSE 'small' END AS amount_band,
    -- Historical profitability: lifetime margin minus the costs attributed to the customer.
    b.revenue * c.margin_rate - c.cost_per_order * b.orders - c.cost_per_year * b.tenure_years - c.acquisition_cost AS clv_historical,
    -- The same cash flows carried to the as-of date at the discount rate; the
    -- customer-year cost accrues continuously from the first purchase.
    b.compounded_margin
      - c.acquisition_cost * pow(1 + c.discount_rate, b.tenure_years)
      - c.cost_per_year * CASE WHEN c.discount_rate > 0
          THEN (pow(1 + c.discount_rate, b.tenure_years) - 1) / ln(1 + c.discount_rate)
          ELSE b.tenure_years END AS clv_npv,
    -- Gupta & Lehmann (2003): annual margin m, cohort retention r, annual discount rate i.
    ((b.revenue * c.margin_rate - c.cost_per_order * b.orders) / greatest(b.tenure_years, 1) - c.cost_per_year) AS annual_margin,
    b.expected_spend_per_purchase * b.expected_purchases AS expected_spend,
    b.expected_spend_per_purchase * b.discounted_purchases AS clv_predicted,
    CASE WHEN b.frequency >= 1 AND coalesce(b.p_alive >= 0.5, b.r_score >= 3) THEN 'high' ELSE 'low' END AS patronage,
    CASE WHEN b.score_share IS NULL THEN 'unknown'
         WHEN b.score_share >= getvariable('feedback_high_attitude') THEN 'high'
         ELSE 'low' END AS attitude,
    b.responses > 0 AND b.responses / b.contacts >= rr.rate AS is_responsive
  FROM base b, bands k, cfg c, response_rate rr),
-- Share of customers with a CLV at least this high, from the CLV histogram
-- (equal CLVs share a tier); cheaper than a window over the wide rows.
ranking AS (
  SELECT v, sum(n) OVER (ORDER BY v DESC) / sum(n) OVER () AS clv_rank_share
  FROM (SELECT coalesce(clv_predicted, clv_historical) AS v, count(*) AS n FROM valued GROUP BY 1)),
-- The share only grows as the CLV falls, so each tier starts at the lowest
-- CLV whose share is within its cut-off: a comparison, not a join.
tier_from AS (
  SELECT
    min(r.v) FILTER (WHERE r.clv_rank_share <= c.tier_platinum) AS platinum,
    min(r.v) FILTER (WHERE r.clv_rank_share <= c.tier_platinum + c.tier_gold) AS gold,
    min(r.v) FILTER (WHERE r.clv_rank_share <= c.tier_platinum + c.tier_gold + c.tier_iron) AS iron
  FROM ranking r, cfg c),
tiered AS (
  SELECT v.*,
    v.annual_margin * v.retention_rate / (1 + c.discount_rate - v.retention_rate) AS clv_retention,
    CASE WHEN v.clv_historical < 0 THEN 'Lead'
         WHEN coalesce(v.clv_predicted, v.clv_historical) >= t.platinum THEN 'Platinum'
         WHEN coalesce(v.clv_predicted, v.clv_historical) >= t.gold THEN 'Gold'
         WHEN coalesce(v.clv_predicted, v.clv_historical) >= t.iron THEN 'Iron'
         ELSE 'Lead' END AS tier
  FROM valued v, tier_from t, cfg c
  -- As the equi-join on the CLV did: a customer without one has no tier.
  WHERE coalesce(v.clv_predicted, v.clv_historical) IS NOT NULL)
SELECT
  customer_id,
  first_purchase,
  last_purchase,
  tenure_days,
  orders,
  purchase_days,
  gross_revenue,
  refunds,
  revenue,
  recency_days,
  frequency,
  recency,
  "T",
  monetary_value,
  rfm_monetary,
  r_score,
  f_score,
  m_score,
  rfm_cell,
  rfm_segment,
  cycle_days,
  avg_amount,
  cycle_band,
  amount_band,
  CASE WHEN cycle_band IS NULL THEN 'Single purchase'
       WHEN cycle_band = 'short' THEN CASE amount_band WHEN 'large' THEN 'Platinum' WHEN 'medium' THEN 'Gold' ELSE 'Silver' END
       WHEN cycle_band = 'medium' THEN CASE amount_band WHEN 'large' THEN 'Gold' WHEN 'medium' THEN 'Silver' ELSE 'Development' END
       ELSE CASE amount_band WHEN 'large' THEN 'Silver' WHEN 'medium' THEN 'Development' ELSE 'Optimization' END
  END AS value_class,
  round(clv_historical, 2) AS clv_historical,
  round(clv_npv, 2) AS clv_npv,
  cohort_month,
  retention_rate,
  round(annual_margin, 2) AS annual_margin,
  round(clv_retention, 2) AS clv_retention,
  round(clv_predicted, 2) AS clv_predicted,
  p_alive,
  expected_purchases,
  round(expected_spend, 2) AS expected_spend,
  round(expected_spend_per_purchase, 2) AS expected_spend_per_purchase,
  tier,
  attitude,
  feedback_date,
  patronage,
  CASE attitude
    WHEN 'high' THEN CASE patronage WHEN 'high' THEN 'True loyalty' ELSE 'Latent loyalty' END
    WHEN 'low' THEN CASE patronage WHEN 'high' THEN 'Spurious loyalty' ELSE 'No loyalty' END
    ELSE CASE patronage WHEN 'high' THEN 'Unknown attitude, high patronage' ELSE 'Unknown attitude, low patronage' END
  END AS loyalty,
  -- Kelly & Julie (1999): value = Platinum or Gold tier; loyalty = high
  -- patronage not contradicted by a low attitude.
  CASE WHEN tier IN ('Platinum', 'Gold') THEN
         CASE WHEN patronage = 'high' AND attitude <> 'low' THEN 'Gold' ELSE 'At risk' END
       ELSE CASE WHEN patronage = 'high' AND attitude <> 'low' THEN 'Marginal' ELSE 'Low priority' END
  END AS value_loyalty,
  contacts AS campaign_contacts,
  responses AS campaign_responses,
  is_responsive,
  -- Roberts & Paul (1997), only for customers with campaign contacts.
  CASE WHEN is_responsive IS NULL THEN NULL
       WHEN tier IN ('Platinum', 'Gold') THEN CASE WHEN is_responsive THEN 'Best' ELSE 'Strangers' END
       ELSE CASE WHEN is_responsive THEN 'Fatal attraction' ELSE 'Ghosts' END
  END AS value_responsiveness,
  frequency = 0 AS is_single_purchase,
  first_purchase > (SELECT as_of FROM cfg) - 30 AS is_new_customer,
  p_alive >= 0.5 AS is_active,
  tier IN ('Platinum', 'Gold') AS is_high_value,
  tier IN ('Platinum', 'Gold') AND p_alive < 0.5 AS is_at_risk,
  clv_historical < 0 AS is_unprofitable,
  refunds > 0 AS has_refunds,
  attitude <> 'unknown' AS has_feedback
FROM tiered
