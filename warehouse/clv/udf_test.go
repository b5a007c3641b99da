package clv

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
)

// openWithUDFs opens a DuckDB file in a temporary directory and registers
// the functions on one of its connections.
func openWithUDFs(t *testing.T) (*sql.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "clv.duckdb")
	db, err := sql.Open("duckdb", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := RegisterUDFs(ctx, conn); err != nil {
		t.Fatal(err)
	}
	return db, path
}

func queryFloat(t *testing.T, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, query string, args ...any) sql.NullFloat64 {
	t.Helper()
	var v sql.NullFloat64
	if err := q.QueryRowContext(context.Background(), query, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return v
}

func TestUDFsMatchGo(t *testing.T) {
	t.Parallel()
	db, _ := openWithUDFs(t)
	bg, pn := publishedBGNBD, publishedParetoNBD
	gg := GammaGamma{P: 6.25, Q: 3.74, Gamma: 15.44}
	const ppm = 365.25 / 12 / 7
	cases := []struct {
		sql  string
		args []any
		want float64
	}{
		{"SELECT bgnbd_p_alive(?, ?, ?, ?, ?, ?, ?)", []any{2, 30.43, 38.86, bg.R, bg.Alpha, bg.A, bg.B}, bg.PAlive(2, 30.43, 38.86)},
		{"SELECT bgnbd_expected_purchases(?, ?, ?, ?, ?, ?, ?, ?)", []any{39, 2, 30.43, 38.86, bg.R, bg.Alpha, bg.A, bg.B}, bg.ExpectedPurchases(39, 2, 30.43, 38.86)},
		{"SELECT bgnbd_clv(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", []any{35.0, 2, 30.43, 38.86, bg.R, bg.Alpha, bg.A, bg.B, 12, ppm, 0.01}, PredictedCLV(bg, 35, 2, 30.43, 38.86, 12, ppm, 0.01)},
		{"SELECT bgnbd_expected_purchases_alive(?, ?, ?, ?, ?, ?, ?)", []any{39, 2, 38.86, bg.R, bg.Alpha, bg.A, bg.B}, bg.ExpectedPurchasesAlive(39, 2, 38.86)},
		{"SELECT bgnbd_clv_alive(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", []any{35.0, 2, 38.86, bg.R, bg.Alpha, bg.A, bg.B, 12, ppm, 0.01}, bg.PredictedCLVAlive(35, 2, 38.86, 12, ppm, 0.01)},
		{"SELECT pareto_nbd_p_alive(?, ?, ?, ?, ?, ?, ?)", []any{2, 30.43, 38.86, pn.R, pn.Alpha, pn.S, pn.Beta}, pn.PAlive(2, 30.43, 38.86)},
		{"SELECT pareto_nbd_expected_purchases(?, ?, ?, ?, ?, ?, ?, ?)", []any{39, 2, 30.43, 38.86, pn.R, pn.Alpha, pn.S, pn.Beta}, pn.ExpectedPurchases(39, 2, 30.43, 38.86)},
		{"SELECT pareto_nbd_clv(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", []any{35.0, 2, 30.43, 38.86, pn.R, pn.Alpha, pn.S, pn.Beta, 12, ppm, 0.01}, PredictedCLV(pn, 35, 2, 30.43, 38.86, 12, ppm, 0.01)},
		{"SELECT gamma_gamma_expected_spend(?, ?, ?, ?, ?)", []any{2, 40.5, gg.P, gg.Q, gg.Gamma}, gg.ExpectedSpend(2, 40.5)},
		{"SELECT gamma_gamma_expected_spend(0, 0, 6.25, 3.74, 15.44)", nil, gg.ExpectedSpend(0, 0)},
	}
	for _, c := range cases {
		got := queryFloat(t, db, c.sql, c.args...)
		if !got.Valid || got.Float64 != c.want || c.want == 0 || math.IsNaN(c.want) {
			t.Errorf("%s %v = %v, want %v", c.sql, c.args, got, c.want)
		}
	}
	// The published figure, through SQL: integer literals are cast to DOUBLE.
	if got := queryFloat(t, db, "SELECT round(bgnbd_expected_purchases(39, 2, 30.43, 38.86, 0.243, 4.414, 0.793, 2.426), 3)"); got.Float64 != 1.226 {
		t.Errorf("bgnbd_expected_purchases for FHL's example = %v, want 1.226", got)
	}
}

func TestUDFsNullAndInvalid(t *testing.T) {
	t.Parallel()
	db, _ := openWithUDFs(t)
	for _, q := range []string{
		"SELECT bgnbd_p_alive(NULL, 1, 2, 0.2, 4, 0.8, 2.4)",
		"SELECT bgnbd_expected_purchases(39, 2, 30, NULL, 0.2, 4, 0.8, 2.4)",
		"SELECT pareto_nbd_p_alive(2, 30, 39, 0.5, 10, 0.6, NULL)",
		"SELECT gamma_gamma_expected_spend(2, NULL, 6, 3, 15)",
		"SELECT bgnbd_clv(30, 2, 30, 39, 0.2, 4, 0.8, 2.4, NULL, 4.35, 0.01)",
	} {
		if got := queryFloat(t, db, q); got.Valid {
			t.Errorf("%s = %v, want NULL", q, got.Float64)
		}
	}
	// Invalid values give NaN, not an error that would abort the query.
	for _, q := range []string{
		"SELECT bgnbd_p_alive(2, 40, 39, 0.2, 4, 0.8, 2.4)",                    // t_x > T
		"SELECT pareto_nbd_p_alive(2, 30, 39, -0.5, 10, 0.6, 11)",              // r < 0
		"SELECT bgnbd_clv(30, 2, 30, 39, 0.2, 4, 0.8, 2.4, 1.5, 4.35, 0.01)",   // fractional horizon
		"SELECT bgnbd_clv_alive(30, 2, 39, 0.2, 4, 0.8, 2.4, 1.5, 4.35, 0.01)", // fractional horizon
		"SELECT bgnbd_expected_purchases_alive(39, 2, -1, 0.2, 4, 0.8, 2.4)",   // T < 0
		"SELECT gamma_gamma_expected_spend(0, 0, 6, 0.5, 15)",                  // q < 1: no population mean
	} {
		if got := queryFloat(t, db, q); !got.Valid || !math.IsNaN(got.Float64) {
			t.Errorf("%s = %v, want NaN", q, got)
		}
	}
}

// Scoring a table in SQL gives the same as scoring it in Go, row by row.
func TestUDFsOverTable(t *testing.T) {
	t.Parallel()
	rows := loadCDNOW(t)
	db, _ := openWithUDFs(t)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, fmt.Sprintf(
		"CREATE TABLE cust AS SELECT ID AS id, x, t_x, \"T\", zbar FROM read_csv('%s')", cdnowSummary)); err != nil {
		t.Fatal(err)
	}
	bg, gg := publishedBGNBD, GammaGamma{P: 6.25, Q: 3.74, Gamma: 15.44}
	var goSum float64
	for _, r := range rows {
		goSum += bg.PAlive(r.x, r.tx, r.T) + bg.ExpectedPurchases(52, r.x, r.tx, r.T) + gg.ExpectedSpend(r.x, r.zbar)
	}
	got := queryFloat(t, db, `SELECT sum(bgnbd_p_alive(x, t_x, "T", $1, $2, $3, $4)
		+ bgnbd_expected_purchases(52, x, t_x, "T", $1, $2, $3, $4)
		+ gamma_gamma_expected_spend(x, zbar, 6.25, 3.74, 15.44)) FROM cust`, bg.R, bg.Alpha, bg.A, bg.B)
	if math.Abs(got.Float64-goSum) > 1e-9*goSum {
		t.Errorf("SQL sum of scores = %.12g, Go sum = %.12g", got.Float64, goSum)
	}
}

// TestUDFScope records what RegisterUDFs' comment promises: registration
// through one connection is visible from another connection of the same
// *sql.DB, even one opened before it; registering again is harmless; and
// nothing survives reopening the file.
func TestUDFScope(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "clv.duckdb")
	db, err := sql.Open("duckdb", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	before, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	registrar, err := db.Conn(ctx) // distinct: before is still held
	if err != nil {
		t.Fatal(err)
	}
	defer registrar.Close()
	if err := RegisterUDFs(ctx, registrar); err != nil {
		t.Fatal(err)
	}
	after, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	const q = "SELECT bgnbd_p_alive(1, 5, 10, 0.2, 4, 0.8, 2.4)"
	want := BGNBD{0.2, 4, 0.8, 2.4}.PAlive(1, 5, 10)
	for name, c := range map[string]*sql.Conn{"opened before": before, "registering": registrar, "opened after": after} {
		if got := queryFloat(t, c, q); got.Float64 != want {
			t.Errorf("connection %s: %s = %v, want %v", name, q, got, want)
		}
	}
	if err := RegisterUDFs(ctx, before); err != nil {
		t.Errorf("registering again on another connection: %v", err)
	}
	if got := queryFloat(t, after, q); got.Float64 != want {
		t.Errorf("after registering twice: %s = %v, want %v", q, got, want)
	}

	for _, c := range []*sql.Conn{before, registrar, after} {
		c.Close()
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	reopened, err := sql.Open("duckdb", path)
	if err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	var v float64
	err = reopened.QueryRowContext(ctx, q).Scan(&v)
	if err == nil || !strings.Contains(err.Error(), "bgnbd_p_alive") {
		t.Errorf("after reopening the file, %s gave (%v, %v), want an unknown-function error", q, v, err)
	}
}
