package scoring

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/custmart/custmart/jobs/config"
	"github.com/custmart/custmart/warehouse/transform"
)

// A Pareto/NBD fit that overruns its budget is recorded as over_budget and
// leaves the other models and the run alone.
func TestParetoBudget(t *testing.T) {
	defer func(b func(time.Duration) time.Duration) { paretoBudget = b }(paretoBudget)
	paretoBudget = func(time.Duration) time.Duration { return time.Nanosecond }

	ctx := context.Background()
	conn := scratchConn(t, ctx)
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
	status := map[string]string{}
	rows, err := conn.QueryContext(ctx, `SELECT model, parameter, value, status FROM clv_model`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var model, parameter, s string
		var v float64
		if err := rows.Scan(&model, &parameter, &v, &s); err != nil {
			t.Fatal(err)
		}
		got[model+" "+parameter] = v
		status[model] = s
	}
	want := map[string]string{"bgnbd": "converged", "pareto_nbd": "over_budget", "gamma_gamma": "converged"}
	if !maps.Equal(status, want) {
		t.Errorf("status %v, want %v", status, want)
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

// A run cancelled during a fit (SIGTERM) is logged as a cancel, not as a
// failed fit, and the model stops with the cancel.
func TestFitCancelIsNoFailure(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	conn := scratchConn(t, ctx)
	if _, err := conn.ExecContext(ctx, `CREATE TABLE clv_inputs AS
SELECT (i % 5)::BIGINT AS cal_x, (i % 5 * 10)::BIGINT AS cal_t_x_days, 70::BIGINT AS cal_T_days, 12.5 AS cal_m
FROM range(1000) r(i)`); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	env := transform.Env{Params: config.Default(t.TempDir()).Model.Params(), AsOf: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	// Cancelled once the data are read, as a SIGTERM during the fit is.
	defer func(b func(int) time.Duration) { fitBudget = b }(fitBudget)
	fitBudget = func(rows int) time.Duration { cancel(); return time.Hour }

	err := fitModels(ctx, conn, env)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("fitModels after a cancel: %v, want context.Canceled", err)
	}
	if !strings.Contains(logs.String(), `msg="clv fit cancelled: the run stops" model=bgnbd`) {
		t.Errorf("no cancel logged:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "failed") {
		t.Errorf("a cancel logged as a failure:\n%s", logs.String())
	}
}

// scratchConn is a connection to a new DuckDB file, closed with the test.
func scratchConn(t *testing.T, ctx context.Context) *sql.Conn {
	t.Helper()
	db, err := sql.Open("duckdb", filepath.Join(t.TempDir(), "w.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}
