package scoring

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/custmart/custmart/jobs/config"
	"github.com/custmart/custmart/warehouse/transform"
)

// A Pareto/NBD fit that overruns its budget is recorded as not converged
// and leaves the other models and the run alone.
func TestParetoBudget(t *testing.T) {
	defer func(b func(time.Duration) time.Duration) { paretoBudget = b }(paretoBudget)
	paretoBudget = func(time.Duration) time.Duration { return time.Nanosecond }

	ctx := context.Background()
	db, err := sql.Open("duckdb", filepath.Join(t.TempDir(), "w.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Hardie's CDNOW summary (weeks, 2 decimals) as the calibration inputs.
	summary := filepath.Join("..", "..", "..", "shared", "datasets", "cdnow", "cdnow_customers_summary_with_transactions.csv")
	if _, err := os.Stat(summary); err != nil {
		t.Skipf("CDNOW data not present: %v", err)
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE clv_inputs AS
SELECT x AS cal_x, round(t_x * 7)::BIGINT AS cal_t_x_days, round("T" * 7)::BIGINT AS cal_T_days, zbar AS cal_m
FROM read_csv(?)`, summary); err != nil {
		t.Fatal(err)
	}
	env := transform.Env{Params: config.Default(t.TempDir()).Model.Params(), AsOf: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := fitModels(ctx, conn, env); err != nil {
		t.Fatalf("a fit over its budget failed the model: %v", err)
	}
	got := map[string]float64{}
	rows, err := conn.QueryContext(ctx, `SELECT model || ' ' || parameter, value FROM clv_model`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var v float64
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		got[k] = v
	}
	if got["pareto_nbd converged"] != 0 || got["pareto_nbd customers"] != 2357 {
		t.Errorf("pareto_nbd over budget: converged %v, customers %v; want 0, 2357", got["pareto_nbd converged"], got["pareto_nbd customers"])
	}
	if _, ok := got["pareto_nbd r"]; ok {
		t.Errorf("an abandoned fit left parameters: %v", got)
	}
	if got["bgnbd converged"] != 1 || got["gamma_gamma converged"] != 1 {
		t.Errorf("the other fits should be unaffected: %v", got)
	}
}
