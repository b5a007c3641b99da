package clv

import (
	"context"
	"database/sql"
	"math"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// A million customers with ages uniform over a year of weeks: every
// (x, t_x, T) triple is distinct, the worst case for the compressed
// likelihood.
var million = sync.OnceValue(func() []Customer {
	return simulateBGNBD(42, publishedBGNBD, 1_000_000, 52)
})

func BenchmarkFitBGNBD1M(b *testing.B) { benchmarkFitBGNBD(b, million()) }

// BG/NBD on a million customers whose times are whole days, as the
// transform's histories are: a few hundred distinct times.
func BenchmarkFitBGNBDWholeDays1M(b *testing.B) {
	data := slices.Clone(million())
	for i := range data {
		data[i].TX = math.Floor(data[i].TX*7) / 7
		data[i].T = math.Floor(data[i].T*7) / 7
	}
	benchmarkFitBGNBD(b, data)
}

func benchmarkFitBGNBD(b *testing.B, data []Customer) {
	var fit Fit
	for b.Loop() {
		var err error
		if _, fit, err = FitBGNBD(context.Background(), data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(fit.Iterations), "iterations")
	b.ReportMetric(float64(fit.Evaluations), "evaluations")
}

// Pareto/NBD on a million distinct triples: a likelihood pass sums two 2F1
// series (with their derivatives) per row.
func BenchmarkFitParetoNBD1M(b *testing.B) {
	data := simulateParetoNBD(43, publishedParetoNBD, 1_000_000, 52)
	var fit Fit
	for b.Loop() {
		var err error
		if _, fit, err = FitParetoNBD(context.Background(), data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(fit.Iterations), "iterations")
	b.ReportMetric(float64(fit.Evaluations), "evaluations")
}

// Gamma-Gamma on the repeat buyers among the million.
func BenchmarkFitGammaGamma1M(b *testing.B) {
	data := simulateSpend(44, GammaGamma{P: 6.25, Q: 3.74, Gamma: 15.44}, million())
	for b.Loop() {
		if _, _, err := FitGammaGamma(context.Background(), data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(data)), "buyers")
}

// Per-customer scoring in Go: P(alive), 52-week expectation and a 12-month
// CLV for one customer.
func BenchmarkScoreCustomer(b *testing.B) {
	data := million()[:1000]
	const ppm = 365.25 / 12 / 7
	for _, m := range []PurchaseModel{publishedBGNBD, publishedParetoNBD} {
		b.Run(m.Name(), func(b *testing.B) {
			i := 0
			for b.Loop() {
				c := data[i%len(data)]
				i++
				m.PAlive(c.X, c.TX, c.T)
				m.ExpectedPurchases(52, c.X, c.TX, c.T)
				PredictedCLV(m, 40, c.X, c.TX, c.T, 12, ppm, 0.01)
			}
		})
	}
}

// Scoring a million customers through the SQL functions, per query.
func BenchmarkUDFScoring1M(b *testing.B) {
	db, err := sql.Open("duckdb", filepath.Join(b.TempDir(), "bench.duckdb"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	if err := RegisterUDFs(ctx, conn); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE cust (x DOUBLE, t_x DOUBLE, "T" DOUBLE)`); err != nil {
		b.Fatal(err)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO cust SELECT unnest($1::DOUBLE[]), unnest($2::DOUBLE[]), unnest($3::DOUBLE[])`)
	if err != nil {
		b.Fatal(err)
	}
	data := million()
	for lo := 0; lo < len(data); lo += 100_000 {
		var xs, txs, ts []float64
		for _, c := range data[lo:min(lo+100_000, len(data))] {
			xs, txs, ts = append(xs, c.X), append(txs, c.TX), append(ts, c.T)
		}
		if _, err := stmt.ExecContext(ctx, xs, txs, ts); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	m := publishedBGNBD
	for _, q := range []struct{ name, sql string }{
		{"p_alive", `SELECT sum(bgnbd_p_alive(x, t_x, "T", $1, $2, $3, $4)) FROM cust`},
		{"expected_purchases", `SELECT sum(bgnbd_expected_purchases(52, x, t_x, "T", $1, $2, $3, $4)) FROM cust`},
		{"clv_12_months", `SELECT sum(bgnbd_clv(40, x, t_x, "T", $1, $2, $3, $4, 12, 365.25/12/7, 0.01)) FROM cust`},
	} {
		b.Run(q.name, func(b *testing.B) {
			for b.Loop() {
				var sum float64
				if err := conn.QueryRowContext(ctx, q.sql, m.R, m.Alpha, m.A, m.B).Scan(&sum); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
