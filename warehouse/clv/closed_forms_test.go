package clv

import (
	"context"
	"math"
	"testing"
)

// TestClosedFormsMatchGo evaluates the SQL closed forms and the Go methods
// over a grid of histories and parameters (the published CDNOW estimates
// among them) and wants them equal to 1e-12, relative; so are the BG/NBD
// expectations customer_value composes from the closed P(alive) and the
// Go functions of an active customer.
func TestClosedFormsMatchGo(t *testing.T) {
	t.Parallel()
	db, _ := openWithUDFs(t)
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := RegisterClosedForms(ctx, conn); err != nil {
		t.Fatal(err)
	}
	const tol = 1e-12
	const ppm = 365.25 / 12 / 7
	close := func(got, want float64) bool {
		return math.Abs(got-want) <= tol*math.Abs(want) || math.Abs(got-want) < 1e-300
	}
	bgs := []BGNBD{publishedBGNBD, {0.01, 0.1, 0.05, 0.3}, {5, 200, 3, 40}, {0.9, 8.5, 0.69, 2.65}, {2, 1, 1e-5, 1e5}}
	ggs := []GammaGamma{{6.25, 3.74, 15.44}, {0.5, 1.01, 1}, {40, 200, 900}}
	n := 0
	for _, m := range bgs {
		for _, x := range []float64{0, 1, 2, 5, 30, 200, 700} {
			for _, T := range []float64{0, 0.5, 10, 38.86, 78, 520, 5000} {
				for _, share := range []float64{0, 0.01, 0.5, 0.99, 1} {
					tx := share * T
					if x == 0 {
						tx = 0
					}
					got := queryFloat(t, conn, "SELECT bgnbd_p_alive_closed(?, ?, ?, ?, ?, ?, ?)", x, tx, T, m.R, m.Alpha, m.A, m.B)
					if want := m.PAlive(x, tx, T); !got.Valid || !close(got.Float64, want) {
						t.Errorf("bgnbd_p_alive_closed(%v, %v, %v; %+v) = %v, Go %v", x, tx, T, m, got, want)
					}
					// customer_value's factorisation: P(alive) in SQL times
					// the Go expectations of an active customer.
					got = queryFloat(t, conn, "SELECT bgnbd_p_alive_closed(?, ?, ?, ?, ?, ?, ?) * bgnbd_expected_purchases_alive(52, ?, ?, ?, ?, ?, ?)",
						x, tx, T, m.R, m.Alpha, m.A, m.B, x, T, m.R, m.Alpha, m.A, m.B)
					if want := m.ExpectedPurchases(52, x, tx, T); !got.Valid || !close(got.Float64, want) {
						t.Errorf("P(alive) * expected purchases if active (%v, %v, %v; %+v) = %v, Go %v", x, tx, T, m, got, want)
					}
					got = queryFloat(t, conn, "SELECT bgnbd_p_alive_closed(?, ?, ?, ?, ?, ?, ?) * bgnbd_clv_alive(40, ?, ?, ?, ?, ?, ?, 12, ?, 0.01)",
						x, tx, T, m.R, m.Alpha, m.A, m.B, x, T, m.R, m.Alpha, m.A, m.B, ppm)
					if want := PredictedCLV(m, 40, x, tx, T, 12, ppm, 0.01); !got.Valid || !close(got.Float64, want) {
						t.Errorf("P(alive) * CLV if active (%v, %v, %v; %+v) = %v, Go %v", x, tx, T, m, got, want)
					}
					n++
				}
			}
		}
	}
	for _, m := range ggs {
		for _, x := range []float64{0, 1, 3, 40} {
			for _, mean := range []float64{0.01, 1, 35.08, 9000} {
				got := queryFloat(t, conn, "SELECT gamma_gamma_expected_spend_closed(?, ?, ?, ?, ?)", x, mean, m.P, m.Q, m.Gamma)
				if want := m.ExpectedSpend(x, mean); !got.Valid || !close(got.Float64, want) {
					t.Errorf("gamma_gamma_expected_spend_closed(%v, %v; %+v) = %v, Go %v", x, mean, m, got, want)
				}
				n++
			}
		}
	}
	for _, q := range []string{
		"SELECT bgnbd_p_alive_closed(0, 0, 10, NULL, 1, 1, 1)",
		"SELECT bgnbd_p_alive_closed(NULL, 0, 10, 1, 1, 1, 1)",
		"SELECT gamma_gamma_expected_spend_closed(0, 0, 1, NULL, 1)",
		"SELECT gamma_gamma_expected_spend_closed(NULL, 0, 1, 2, 1)",
	} {
		if got := queryFloat(t, conn, q); got.Valid {
			t.Errorf("%s = %v, want NULL", q, got.Float64)
		}
	}
	t.Logf("%d grid points agree", n)
}
