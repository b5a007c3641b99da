package scoring_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/custmart/custmart/fixtures"
	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/engine"
)

// scoringModels are the models this package adds to the transform: the
// scoring stage the benchmark times against the bare RFM aggregation.
var scoringModels = []string{
	"customer_months", "clv_inputs", "clv_model", "clv_validation", "customer_value", "cohort_annual_retention",
	"cohort_retention", "churn", "rfm_grid", "value_matrix", "tier_summary", "loyalty_matrix",
	"feedback", "campaign_response",
}

// bareRFM is the least SQL that computes RFM from the lake: one aggregation
// per customer and the quintile scores, with none of the pipeline around it.
const bareRFM = `CREATE OR REPLACE TABLE bare_rfm AS
WITH base AS (
  SELECT customer_id,
    DATE %[2]s - max(CAST(ts AS DATE)) FILTER (WHERE NOT is_refund) AS recency_days,
    count(DISTINCT order_id) FILTER (WHERE NOT is_refund) AS orders,
    sum(amount) AS monetary
  FROM read_parquet(%[1]s)
  WHERE ts < DATE %[2]s + 1
  GROUP BY customer_id
  HAVING count(*) FILTER (WHERE NOT is_refund) > 0),
cuts AS (
  SELECT quantile_cont(recency_days, [0.2, 0.4, 0.6, 0.8]) AS r, quantile_cont(orders, [0.2, 0.4, 0.6, 0.8]) AS f,
    quantile_cont(monetary, [0.2, 0.4, 0.6, 0.8]) AS m
  FROM base)
SELECT b.*, 1 + len(list_filter(c.r, x -> b.recency_days < x)) AS r_score,
  1 + len(list_filter(c.f, x -> b.orders > x)) AS f_score, 1 + len(list_filter(c.m, x -> b.monetary > x)) AS m_score
FROM base b, cuts c`

// BenchmarkScoring times a full transform over fixtures (100,000 customers,
// about a million lines; CUSTMART_BENCH_CUSTOMERS overrides) and reports
// each scoring model, the scoring stage in total, the whole transform, and
// the bare DuckDB RFM aggregation over the same lake, with their ratio.
//
//	go test ./warehouse/scoring -run XXX -bench Scoring -benchtime 3x
func BenchmarkScoring(b *testing.B) {
	customers := 100_000
	if v := os.Getenv("CUSTMART_BENCH_CUSTOMERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("CUSTMART_BENCH_CUSTOMERS=%q: %v", v, err)
		}
		customers = n
	}
	dir := b.TempDir()
	inbox := filepath.Join(dir, "inbox")
	truth, err := fixtures.Generate(context.Background(), fixtures.Options{Customers: customers, Seed: 1, Out: inbox})
	if err != nil {
		b.Fatal(err)
	}
	p := newPipeline(b, dir, fixtureConfig(inbox, ""), truth.End)
	asOf := truth.End

	db, err := engine.Open(context.Background(), filepath.Join(dir, "bare.duckdb"), engine.Settings{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	bare := fmt.Sprintf(bareRFM, warehouse.Quote(p.layout.TransactionsGlob()), warehouse.Quote(asOf.Format(time.DateOnly)))

	b.ResetTimer()
	var bareTotal, scoringTotal, transformTotal time.Duration
	perModel := map[string]time.Duration{}
	for b.Loop() {
		start := time.Now()
		if _, err := db.Exec(bare); err != nil {
			b.Fatal(err)
		}
		bareTotal += time.Since(start)

		start = time.Now()
		res := p.transform(b, asOf)
		transformTotal += time.Since(start)
		for _, m := range res.Models {
			perModel[m.Name] += m.Duration
		}
	}
	for _, name := range scoringModels {
		scoringTotal += perModel[name]
		b.ReportMetric(perModel[name].Seconds()/float64(b.N), name+"-s")
	}
	b.ReportMetric(bareTotal.Seconds()/float64(b.N), "bare_rfm-s")
	b.ReportMetric(scoringTotal.Seconds()/float64(b.N), "scoring-s")
	b.ReportMetric(transformTotal.Seconds()/float64(b.N), "transform-s")
	b.ReportMetric(scoringTotal.Seconds()/bareTotal.Seconds(), "scoring/bare")
}
