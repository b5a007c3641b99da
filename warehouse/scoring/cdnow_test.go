package scoring_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/custmart/custmart/warehouse/clv"
	"github.com/custmart/custmart/warehouse/scoring"
	"github.com/custmart/custmart/warehouse/transform"

	"github.com/custmart/custmart/fixtures/fixturestest"
)

var cdnowDir = filepath.Join("..", "..", "..", "shared", "datasets", "cdnow")

func cdnowFile(t testing.TB, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(cdnowDir, name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("CDNOW data not present: %v", err)
	}
	return p
}

// sampleIDs maps the master customer id (the lake's customer_id) to the
// sample id 1..2357 that Hardie's summary files are keyed by, read from the
// sample file itself.
func sampleIDs(t *testing.T, path string) map[string]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ids := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		id, err := strconv.Atoi(fields[1])
		if err != nil {
			t.Fatalf("%s: sample id %q: %v", path, fields[1], err)
		}
		ids[fields[0]] = id
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

type summaryRow struct{ x, tx, T float64 }

// readSummary reads cdnow_customers_summary.csv: ID,frequency,recency,T.
func readSummary(t *testing.T, path string) map[int]summaryRow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if h := strings.Join(records[0], ","); h != "ID,frequency,recency,T" {
		t.Fatalf("%s header %q", path, h)
	}
	out := map[int]summaryRow{}
	for _, r := range records[1:] {
		var v [4]float64
		for i := range v {
			if v[i], err = strconv.ParseFloat(r[i], 64); err != nil {
				t.Fatal(err)
			}
		}
		out[int(v[0])] = summaryRow{v[1], v[2], v[3]}
	}
	return out
}

// The published fits of docs/DOMAIN.md §4 on the CDNOW 1/10 sample.
var published = map[string]map[string]float64{
	scoring.BGNBD:      {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
	scoring.ParetoNBD:  {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669},
	scoring.GammaGamma: {"p": 6.25, "q": 3.74, "gamma": 15.44},
}

// TestCDNOW runs the models on the real CDNOW sample from the raw file and
// checks them against the published results: the per-customer inputs
// against Hardie's summary, the fits against the literature, the
// conditional expectation through the SQL function, and the holdout check.
func TestCDNOW(t *testing.T) {
	if testing.Short() {
		t.Skip("fits the models on the whole CDNOW sample (2,357 customers); make test runs it")
	}
	t.Parallel()
	sample := cdnowFile(t, "CDNOW_sample.txt")
	summary := readSummary(t, cdnowFile(t, "cdnow_customers_summary.csv"))
	p := newPipeline(t, t.TempDir(), fixturestest.CDNOWSampleConfig(sample), day("1998-06-30"))
	p.transform(t, day("1997-09-30"))
	db := p.db(t)

	t.Run("inputs equal Hardie's summary", func(t *testing.T) {
		ids := sampleIDs(t, sample)
		rows, err := db.Query(`SELECT customer_id, frequency, recency, "T" FROM customer_value`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		seen := 0
		for rows.Next() {
			var id string
			var got summaryRow
			if err := rows.Scan(&id, &got.x, &got.tx, &got.T); err != nil {
				t.Fatal(err)
			}
			want, ok := summary[ids[id]]
			if !ok {
				t.Fatalf("customer %s (sample id %d) is not in the summary", id, ids[id])
			}
			round := func(v float64) float64 { return math.Round(v*100) / 100 }
			if got.x != want.x || round(got.tx) != want.tx || round(got.T) != want.T {
				t.Errorf("customer %s (sample id %d): x, t_x, T = %v, %.2f, %.2f; summary %v, %v, %v",
					id, ids[id], got.x, got.tx, got.T, want.x, want.tx, want.T)
			}
			seen++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if seen != 2357 || len(summary) != 2357 {
			t.Fatalf("customer_value has %d customers, the summary %d; want 2357", seen, len(summary))
		}
	})

	t.Run("fits match the literature", func(t *testing.T) {
		for model, want := range published {
			got := params(t, db, model)
			for name, v := range want {
				if g, ok := got[name]; !ok || math.Abs(g-v) > 0.005*v {
					t.Errorf("%s %s = %v, published %v (tolerance 0.5%%)", model, name, g, v)
				}
			}
			if got["converged"] != 1 {
				t.Errorf("%s did not converge: %v", model, got)
			}
		}
		for model, ll := range map[string]float64{scoring.BGNBD: -9582.4, scoring.ParetoNBD: -9595.0} {
			if got := params(t, db, model)["log_likelihood"]; math.Abs(got-ll) > 0.1 {
				t.Errorf("%s log-likelihood %v, published %v", model, got, ll)
			}
		}
		if n := params(t, db, scoring.BGNBD)["customers"]; n != 2357 {
			t.Errorf("bgnbd fitted on %v customers, want 2357", n)
		}
		if n := params(t, db, scoring.GammaGamma)["customers"]; n != 946 {
			t.Errorf("gamma_gamma fitted on %v repeat buyers, want 946", n)
		}
		var asOf, unit string
		if err := db.QueryRow(`SELECT DISTINCT strftime(as_of, '%Y-%m-%d'), time_unit FROM clv_model`).Scan(&asOf, &unit); err != nil || asOf != "1997-09-30" || unit != "weeks" {
			t.Errorf("clv_model as_of %q, time_unit %q (%v), want 1997-09-30, weeks", asOf, unit, err)
		}
	})

	t.Run("conditional expectation through the SQL function", func(t *testing.T) {
		// FHL 2005 §5: x=2, t_x=30.43, T=38.86 expects 1.226 purchases in
		// the next 39 weeks; the function is the one the hook registers.
		rw, err := sql.Open("duckdb", p.layout.WarehouseDB()+"?access_mode=read_only")
		if err != nil {
			t.Fatal(err)
		}
		defer rw.Close()
		conn, err := rw.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		env := transform.Env{Params: p.cfg.Model.Params(), AsOf: day("1997-09-30"), Layout: p.layout}
		for _, h := range scoring.Hooks() {
			if err := h(context.Background(), conn, env); err != nil {
				t.Fatal(err)
			}
		}
		var got float64
		err = conn.QueryRowContext(context.Background(), `SELECT bgnbd_expected_purchases(39, 2, 30.43, 38.86,
  max(value) FILTER (WHERE parameter = 'r'), max(value) FILTER (WHERE parameter = 'alpha'),
  max(value) FILTER (WHERE parameter = 'a'), max(value) FILTER (WHERE parameter = 'b'))
FROM clv_model WHERE model = 'bgnbd'`).Scan(&got)
		if err != nil {
			t.Fatal(err)
		}
		if math.Round(got*1000)/1000 != 1.226 {
			t.Errorf("E[Y(39) | x=2, t_x=30.43, T=38.86] = %.5f, want 1.226", got)
		}
	})

	t.Run("bgnbd predictions equal the Go formulas", func(t *testing.T) {
		checkPredictions(t, db, scoring.BGNBD)
	})

	t.Run("no holdout: empty validation", func(t *testing.T) {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM clv_validation`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("clv_validation has %d rows (%v) without a holdout, want 0", n, err)
		}
	})

	t.Run("pareto_nbd predictions equal the Go formulas", func(t *testing.T) {
		db.Close() // DuckDB refuses a writer next to this read-only handle
		p.cfg.Model.PredictiveModel = scoring.ParetoNBD
		defer func() { p.cfg.Model.PredictiveModel = scoring.BGNBD }()
		p.transform(t, day("1997-09-30"))
		checkPredictions(t, p.db(t), scoring.ParetoNBD)
	})

	t.Run("holdout", func(t *testing.T) {
		// Calibration to 1997-09-30 (39 weeks), holdout 1997-10-01 to
		// 1998-06-30 (39 weeks), as in the literature.
		db.Close()
		p.cfg.Model.HoldoutFrom = "1997-10-01"
		defer func() { p.cfg.Model.HoldoutFrom = "" }()
		p.transform(t, day("1998-06-30"))
		db := p.db(t)

		// The fits use the calibration period only: the same estimates.
		got := params(t, db, scoring.BGNBD)
		for name, v := range published[scoring.BGNBD] {
			if math.Abs(got[name]-v) > 0.005*v {
				t.Errorf("calibration bgnbd %s = %v, published %v", name, got[name], v)
			}
		}

		var customers, actual int64
		var predicted, length float64
		err := db.QueryRow(`SELECT customers, actual_purchases, predicted_purchases, holdout_length
FROM clv_validation WHERE model = 'bgnbd' AND bucket = 'total'`).Scan(&customers, &actual, &predicted, &length)
		if err != nil {
			t.Fatal(err)
		}
		// The dataset README: 1,882 distinct customer-days in the holdout.
		if customers != 2357 || actual != 1882 || length != 39 {
			t.Fatalf("holdout total: %d customers, %d actual purchase days over %v weeks; want 2357, 1882, 39", customers, actual, length)
		}

		// The SQL scored each customer's calibration history: recompute
		// the prediction in Go from Hardie's summary with the fitted
		// parameters (the summary rounds t_x and T to 2 decimals, hence
		// the 0.1% tolerance).
		m := clv.BGNBD{R: got["r"], Alpha: got["alpha"], A: got["a"], B: got["b"]}
		var want float64
		for _, s := range summary {
			want += m.ExpectedPurchases(39, s.x, s.tx, s.T)
		}
		if math.Abs(predicted-want) > 1e-3*want {
			t.Errorf("predicted holdout purchases %.2f, Go over the summary %.2f", predicted, want)
		}
		// The model itself under-forecasts this holdout: 1,653 predicted
		// purchase days for the 1,882 observed (12% low, mostly customers
		// with 1 or 2 calibration repeats, whose holdout rate is above the
		// model's conditional expectation). The check below pins that
		// figure loosely, so that the validation mart keeps reporting a
		// model close to the published one; the exact arithmetic is pinned
		// by the Go recomputation above.
		if rel := (predicted - float64(actual)) / float64(actual); rel < -0.15 || rel > 0.05 {
			t.Errorf("predicted %.1f vs actual %d holdout purchases: %.1f%% off", predicted, actual, 100*rel)
		}

		// Buckets 0..6, 7+ add up to the total.
		var buckets int
		var sumActual int64
		if err := db.QueryRow(`SELECT count(*), sum(actual_purchases) FROM clv_validation WHERE model = 'bgnbd' AND bucket <> 'total'`).Scan(&buckets, &sumActual); err != nil {
			t.Fatal(err)
		}
		if buckets != 8 || sumActual != actual {
			t.Errorf("%d frequency buckets summing to %d actual purchases, want 8 and %d", buckets, sumActual, actual)
		}
	})
}

// checkPredictions recomputes every customer's P(alive), expected purchases
// and spend over the default horizon (a year: 365/7 weeks, 12 months) and
// predictive CLV in Go from the mart's inputs and the fitted parameters,
// and compares them with customer_value, which computed them in SQL with
// the registered functions over distinct (x, t_x, T).
func checkPredictions(t *testing.T, db *sql.DB, model string) {
	t.Helper()
	pm := params(t, db, model)
	var m clv.PurchaseModel = clv.BGNBD{R: pm["r"], Alpha: pm["alpha"], A: pm["a"], B: pm["b"]}
	if model == scoring.ParetoNBD {
		m = clv.ParetoNBD{R: pm["r"], Alpha: pm["alpha"], S: pm["s"], Beta: pm["beta"]}
	}
	g := params(t, db, scoring.GammaGamma)
	gg := clv.GammaGamma{P: g["p"], Q: g["q"], Gamma: g["gamma"]}
	const horizon, months, ppm = 365.0 / 7, 12, 365.25 / 12 / 7
	monthly := math.Pow(1.1, 1.0/12) - 1
	rows, err := db.Query(`SELECT customer_id, frequency, recency, "T", monetary_value, p_alive, expected_purchases,
  expected_spend, clv_predicted FROM customer_value`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id string
		var x, tx, T, mv, alive, purchases, spend, value float64
		if err := rows.Scan(&id, &x, &tx, &T, &mv, &alive, &purchases, &spend, &value); err != nil {
			t.Fatal(err)
		}
		perPurchase := gg.ExpectedSpend(x, mv)
		want := []float64{m.PAlive(x, tx, T), m.ExpectedPurchases(horizon, x, tx, T),
			perPurchase * m.ExpectedPurchases(horizon, x, tx, T), perPurchase * clv.PredictedCLV(m, 1, x, tx, T, months, ppm, monthly)}
		got := []float64{alive, purchases, spend, value}
		for i, name := range []string{"p_alive", "expected_purchases", "expected_spend", "clv_predicted"} {
			tol := 1e-9 * math.Abs(want[i])
			if i >= 2 {
				tol = 0.0051 // rounded to cents
			}
			if math.Abs(got[i]-want[i]) > tol {
				t.Errorf("%s customer %s: %s = %v, Go %v", model, id, name, got[i], want[i])
			}
		}
		n++
	}
	if err := rows.Err(); err != nil || n != 2357 {
		t.Fatalf("checked %d customers (%v), want 2357", n, err)
	}
}
