package scoring_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/custmart/custmart/fixtures"
)

// contract lists the columns issue 5 promises per mart (README, Marts
// documents them and more).
var contract = map[string][]string{
	"customer_value": {"customer_id", "first_purchase", "last_purchase", "orders", "revenue", "recency_days",
		"frequency", "recency", "T", "monetary_value", "r_score", "f_score", "m_score", "rfm_segment", "cycle_days",
		"value_class", "clv_historical", "clv_npv", "clv_retention", "clv_predicted", "p_alive", "expected_purchases",
		"expected_spend", "tier", "loyalty", "is_single_purchase", "is_at_risk", "is_high_value", "has_refunds"},
	"clv_model":        {"model", "parameter", "value", "as_of", "time_unit"},
	"clv_validation":   {"model", "bucket", "customers", "actual_purchases", "predicted_purchases"},
	"segment_summary":  {"segment", "customers", "revenue"},
	"rfm_grid":         {"r_score", "f_score", "customers", "revenue"},
	"value_matrix":     {"cycle_band", "amount_band", "value_class", "customers", "revenue"},
	"tier_summary":     {"tier", "customers", "revenue", "clv_predicted"},
	"loyalty_matrix":   {"matrix", "row_value", "column_value", "class", "customers", "revenue"},
	"cohort_retention": {"cohort_month", "months_since", "active_customers", "retention_rate", "revenue"},
	"churn":            {"month", "churn_rate"},
	"daily_sales":      {"day", "net_revenue"},
	"rfm":              {"customer_id", "recency_days", "orders", "monetary", "r_score", "f_score", "m_score", "segment"},
}

func columns(t *testing.T, db *sql.DB, table string) []string {
	t.Helper()
	rows, err := db.Query(`SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND schema_name = 'main' ORDER BY column_index`, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// TestMartsOnFixtures runs every model over fixtures with a feedback survey
// and campaign responses for some customers and costs that make some
// customers unprofitable, then checks the marts against what those inputs
// imply.
func TestMartsOnFixtures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Customers 1-100 answer 9/10, 101-200 answer 3/10; customer 201
	// answers only after the as-of date (ignored). Customers 1-300 are
	// contacted twice by campaigns; 1-150 respond both times.
	var survey, campaigns strings.Builder
	survey.WriteString("customer,answered,nps\n")
	campaigns.WriteString("customer,campaign,sent,responded\n")
	for i := 1; i <= 300; i++ {
		id := fmt.Sprintf("C%07d", i)
		switch {
		case i <= 100:
			fmt.Fprintf(&survey, "%s,2025-06-01,9\n", id)
		case i <= 200:
			fmt.Fprintf(&survey, "%s,2025-06-01 14:30:00,3\n", id)
		case i == 201:
			fmt.Fprintf(&survey, "%s,2026-02-01,10\n", id)
		}
		for _, c := range []string{"spring", "autumn"} {
			fmt.Fprintf(&campaigns, "%s,%s,2025-04-01,%v\n", id, c, i <= 150)
		}
	}
	writeFile(t, filepath.Join(dir, "surveys", "nps.csv"), survey.String())
	writeFile(t, filepath.Join(dir, "campaigns.csv"), campaigns.String())
	// Enough customers for a comparison sample and stable tier shares.
	const fixtureCustomers, sample = 1000, 250
	g := generate(t, dir, fixtures.Options{Customers: fixtureCustomers, Seed: 5}, `model:
  cost_per_customer_year: 4
  comparison_sample: `+strconv.Itoa(sample)+`
  feedback:
    path: surveys/*.csv
    columns: {customer_id: customer, date: answered, score: nps}
    scale: 10
  campaign_response:
    path: campaigns.csv
    columns: {customer_id: customer, campaign_id: campaign, date: sent, responded: responded}
`)
	db := g.db(t)

	t.Run("contract columns", func(t *testing.T) {
		for mart, want := range contract {
			got := columns(t, db, mart)
			for _, c := range want {
				if !slices.Contains(got, c) {
					t.Errorf("mart %s lacks column %s (has %v)", mart, c, got)
				}
			}
		}
	})

	t.Run("comparison model on a sample", func(t *testing.T) {
		bg, pn := params(t, db, "bgnbd"), params(t, db, "pareto_nbd")
		if bg["customers"] != fixtureCustomers || pn["customers"] < 0.8*sample || pn["customers"] > 1.2*sample {
			t.Errorf("bgnbd (predictive) fitted on %v customers, pareto_nbd (comparison, sample of %d) on %v", bg["customers"], sample, pn["customers"])
		}
		var used []string
		rows, err := db.Query(`SELECT DISTINCT model FROM clv_model WHERE used_for_predictions ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var m string
			if err := rows.Scan(&m); err != nil {
				t.Fatal(err)
			}
			used = append(used, m)
		}
		if strings.Join(used, ",") != "bgnbd,gamma_gamma" {
			t.Errorf("models used for predictions: %v, want bgnbd and gamma_gamma", used)
		}
	})

	t.Run("one row per customer", func(t *testing.T) {
		var n, distinct int
		if err := db.QueryRow(`SELECT count(*), count(DISTINCT customer_id) FROM customer_value`).Scan(&n, &distinct); err != nil || n != fixtureCustomers || distinct != fixtureCustomers {
			t.Fatalf("customer_value: %d rows, %d customers (%v); want %d", n, distinct, err, fixtureCustomers)
		}
	})

	t.Run("attitude from feedback, never guessed", func(t *testing.T) {
		got := map[string]int{}
		rows, err := db.Query(`SELECT CASE WHEN customer_id <= 'C0000100' THEN 'promoters' WHEN customer_id <= 'C0000200' THEN 'detractors'
  ELSE 'silent' END || ' ' || attitude, count(*) FROM customer_value GROUP BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			var n int
			if err := rows.Scan(&k, &n); err != nil {
				t.Fatal(err)
			}
			got[k] = n
		}
		want := map[string]int{"promoters high": 100, "detractors low": 100, "silent unknown": fixtureCustomers - 200}
		for k, n := range want {
			if got[k] != n {
				t.Errorf("%s: %d customers, want %d (all: %v)", k, got[k], n, got)
			}
		}
		// Loyalty combines the attitude with the patronage of the same row.
		var wrong int
		if err := db.QueryRow(`SELECT count(*) FROM customer_value WHERE loyalty <> CASE
  WHEN attitude = 'high' AND patronage = 'high' THEN 'True loyalty'
  WHEN attitude = 'high' THEN 'Latent loyalty'
  WHEN attitude = 'low' AND patronage = 'high' THEN 'Spurious loyalty'
  WHEN attitude = 'low' THEN 'No loyalty'
  WHEN patronage = 'high' THEN 'Unknown attitude, high patronage'
  ELSE 'Unknown attitude, low patronage' END`).Scan(&wrong); err != nil || wrong != 0 {
			t.Errorf("%d customers with a loyalty class that does not match attitude x patronage (%v)", wrong, err)
		}
	})

	t.Run("responsiveness only with campaign data", func(t *testing.T) {
		var contacted, responsive, classified int
		err := db.QueryRow(`SELECT count(*) FILTER (WHERE campaign_contacts = 2), count(*) FILTER (WHERE is_responsive),
  count(value_responsiveness) FROM customer_value`).Scan(&contacted, &responsive, &classified)
		if err != nil || contacted != 300 || responsive != 150 || classified != 300 {
			t.Fatalf("contacted %d, responsive %d, classified %d (%v); want 300, 150, 300", contacted, responsive, classified, err)
		}
		var cells, customers int
		if err := db.QueryRow(`SELECT count(*), sum(customers) FROM loyalty_matrix WHERE matrix = 'value_responsiveness'`).Scan(&cells, &customers); err != nil || cells != 4 || customers != 300 {
			t.Fatalf("value_responsiveness matrix: %d cells, %d customers (%v); want 4, 300", cells, customers, err)
		}
	})

	t.Run("pyramid", func(t *testing.T) {
		var unprofitable, unprofitableNotLead, platinum int
		err := db.QueryRow(`SELECT count(*) FILTER (WHERE clv_historical < 0), count(*) FILTER (WHERE clv_historical < 0 AND tier <> 'Lead'),
  count(*) FILTER (WHERE tier = 'Platinum') FROM customer_value`).Scan(&unprofitable, &unprofitableNotLead, &platinum)
		if err != nil {
			t.Fatal(err)
		}
		// A yearly cost of 4 against a 30% margin makes small, old
		// customers unprofitable: they must be Lead whatever their CLV.
		if unprofitable == 0 || unprofitableNotLead != 0 {
			t.Errorf("%d unprofitable customers, %d of them not Lead; want some, none", unprofitable, unprofitableNotLead)
		}
		// Top 10% by predicted CLV, less ties and unprofitable ones.
		if platinum > fixtureCustomers/10 || platinum < fixtureCustomers*9/100 {
			t.Errorf("%d Platinum customers of %d, want about 10%%", platinum, fixtureCustomers)
		}
		var tiers, summed int
		if err := db.QueryRow(`SELECT count(*), sum(customers) FROM tier_summary`).Scan(&tiers, &summed); err != nil || tiers != 4 || summed != fixtureCustomers {
			t.Errorf("tier_summary: %d tiers, %d customers (%v)", tiers, summed, err)
		}
	})

	t.Run("value classes", func(t *testing.T) {
		// Terciles: each of the three cycle bands holds about a third of
		// the customers with a cycle.
		rows, err := db.Query(`SELECT cycle_band, sum(customers) FROM value_matrix WHERE cycle_band <> 'none' GROUP BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var single int
		if err := db.QueryRow(`SELECT count(*) FROM customer_value WHERE purchase_days = 1`).Scan(&single); err != nil {
			t.Fatal(err)
		}
		withCycle := fixtureCustomers - single
		for rows.Next() {
			var band string
			var n int
			if err := rows.Scan(&band, &n); err != nil {
				t.Fatal(err)
			}
			if share := float64(n) / float64(withCycle); share < 0.3 || share > 0.37 {
				t.Errorf("cycle band %s holds %d of %d customers with a cycle", band, n, withCycle)
			}
		}
		var inMatrix int
		if err := db.QueryRow(`SELECT customers FROM value_matrix WHERE value_class = 'Single purchase'`).Scan(&inMatrix); err != nil || inMatrix != single {
			t.Errorf("value_matrix has %d single-purchase customers (%v), customer_value %d", inMatrix, err, single)
		}
	})

	t.Run("cohorts", func(t *testing.T) {
		// Month 0 of every cohort is the whole cohort; the cohorts add up
		// to the customers.
		var cohorts, customers int
		if err := db.QueryRow(`SELECT count(*), sum(cohort_size) FROM cohort_retention WHERE months_since = 0 AND retention_rate = 1`).Scan(&cohorts, &customers); err != nil || cohorts != 24 || customers != fixtureCustomers {
			t.Errorf("%d cohorts of %d customers at month 0 (%v); want 24 monthly cohorts of %d", cohorts, customers, err, fixtureCustomers)
		}
		// Cohorts whose month 12 is over (2024-01 .. 2024-11 as of
		// 2025-12-28) have their own annual retention; the rest pool.
		var own, pooled int
		if err := db.QueryRow(`SELECT count(*) FILTER (WHERE basis = 'cohort'), count(*) FILTER (WHERE basis = 'pooled') FROM cohort_annual_retention`).Scan(&own, &pooled); err != nil || own != 11 || pooled != 13 {
			t.Errorf("annual retention: %d cohorts measured, %d pooled (%v); want 11, 13", own, pooled, err)
		}
	})
}

// TestNoRepeatBuyersStillPublishes: on a shop's first day nobody has bought
// twice, so no purchase model can be fitted. The fits are recorded as not
// converged, the predictions are NULL rather than invented, the pyramid
// ranks by historical profitability, and every mart is still built.
func TestNoRepeatBuyersStillPublishes(t *testing.T) {
	t.Parallel()
	g := generate(t, t.TempDir(), fixtures.Options{Customers: 200, Seed: 9, Days: 1}, "")
	db := g.db(t)
	var fitted int
	if err := db.QueryRow(`SELECT count(*) FROM clv_model WHERE parameter = 'converged' AND value = 1`).Scan(&fitted); err != nil || fitted != 0 {
		t.Fatalf("%d models converged (%v) without a repeat buyer, want 0", fitted, err)
	}
	var customers, predicted, platinum, retention int
	err := db.QueryRow(`SELECT count(*), count(clv_predicted) + count(p_alive) + count(expected_purchases),
  count(*) FILTER (WHERE tier = 'Platinum'), count(clv_retention) FROM customer_value`).Scan(&customers, &predicted, &platinum, &retention)
	if err != nil {
		t.Fatal(err)
	}
	if customers != 200 || predicted != 0 || platinum != 20 || retention != 0 {
		t.Errorf("customers %d, predictions %d, platinum %d, retention CLVs %d; want 200, 0, 20, 0", customers, predicted, platinum, retention)
	}
	for _, mart := range []string{"rfm_grid", "value_matrix", "tier_summary", "loyalty_matrix", "cohort_retention", "churn", "clv_validation"} {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM ` + mart).Scan(&n); err != nil {
			t.Errorf("%s: %v", mart, err)
		}
	}
}

// TestAsOfFarPastTheData: a scheduler's logical date is today, which can be
// long after the last purchase of a small file. The purchase models cannot
// identify dropout then, and their fits must end with a status rather than
// crawl until a budget runs out; the run succeeds. With 150 customers a year
// past their data, Pareto/NBD's s and beta climb together towards the
// boundary, gaining ever less likelihood while each evaluation costs more
// (its 2F1 series lengthen as beta/alpha grows): the fit ran over its 10 s
// budget, or reached 1e6 after 36 evaluations, and is now stopped as
// boundary in under 30.
func TestAsOfFarPastTheData(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		customers           int
		years, months, days int               // the as-of date after the data's end
		want                map[string]string // model -> status; "" is boundary or not_converged
	}{
		{2, 0, 11, 9, map[string]string{"bgnbd": "", "pareto_nbd": "", "gamma_gamma": ""}},
		{150, 1, 0, 0, map[string]string{"bgnbd": "converged", "pareto_nbd": "boundary", "gamma_gamma": "converged"}},
	} {
		t.Run(fmt.Sprint(c.customers), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			inbox := filepath.Join(dir, "inbox")
			truth, err := fixtures.Generate(context.Background(), fixtures.Options{Customers: c.customers, Seed: 1, Out: inbox})
			if err != nil {
				t.Fatal(err)
			}
			p := newPipeline(t, dir, fixtureConfig(inbox, ""), truth.End)
			asOf := truth.End.AddDate(c.years, c.months, c.days)
			p.transform(t, asOf)
			db := p.db(t)
			rows, err := db.Query(`SELECT DISTINCT model, status FROM clv_model ORDER BY model`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			got := map[string]string{}
			for rows.Next() {
				var model, status string
				if err := rows.Scan(&model, &status); err != nil {
					t.Fatal(err)
				}
				got[model] = status
			}
			for model, want := range c.want {
				s := got[model]
				if want == "" && s != "boundary" && s != "not_converged" {
					t.Errorf("%s: status %q on %d customers as of %s, want boundary or not_converged", model, s, c.customers, asOf.Format(time.DateOnly))
				} else if want != "" && s != want {
					t.Errorf("%s: status %q on %d customers as of %s, want %s", model, s, c.customers, asOf.Format(time.DateOnly), want)
				}
			}
			if c.want["pareto_nbd"] == "boundary" {
				if n := params(t, db, "pareto_nbd")["evaluations"]; !(n > 0 && n < 30) {
					t.Errorf("pareto_nbd: %v likelihood evaluations, want under 30", n)
				}
			}
		})
	}
}
