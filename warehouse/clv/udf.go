package clv

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"math"

	"github.com/duckdb/duckdb-go/v2"
)

// udfs are the SQL functions RegisterUDFs installs. Every argument and the
// result is DOUBLE (integer columns are cast implicitly); a NULL argument
// gives NULL; invalid values (non-positive parameters, t_x > T, a negative
// horizon) give NaN rather than failing the query, so one bad row shows up
// instead of aborting a whole mart.
var udfs = []struct {
	name string
	args []string
	fn   func(a []float64) float64
}{
	{"bgnbd_p_alive", []string{"x", "t_x", "T", "r", "alpha", "a", "b"}, func(a []float64) float64 {
		return BGNBD{a[3], a[4], a[5], a[6]}.PAlive(a[0], a[1], a[2])
	}},
	{"bgnbd_expected_purchases", []string{"t", "x", "t_x", "T", "r", "alpha", "a", "b"}, func(a []float64) float64 {
		return BGNBD{a[4], a[5], a[6], a[7]}.ExpectedPurchases(a[0], a[1], a[2], a[3])
	}},
	{"bgnbd_clv", []string{"spend", "x", "t_x", "T", "r", "alpha", "a", "b", "horizon_months", "periods_per_month", "monthly_discount"}, func(a []float64) float64 {
		return sqlCLV(BGNBD{a[4], a[5], a[6], a[7]}, a)
	}},
	{"bgnbd_expected_purchases_alive", []string{"t", "x", "T", "r", "alpha", "a", "b"}, func(a []float64) float64 {
		return BGNBD{a[3], a[4], a[5], a[6]}.ExpectedPurchasesAlive(a[0], a[1], a[2])
	}},
	{"bgnbd_clv_alive", []string{"spend", "x", "T", "r", "alpha", "a", "b", "horizon_months", "periods_per_month", "monthly_discount"}, func(a []float64) float64 {
		h, ok := wholeMonths(a[7])
		if !ok {
			return math.NaN()
		}
		return BGNBD{a[3], a[4], a[5], a[6]}.PredictedCLVAlive(a[0], a[1], a[2], h, a[8], a[9])
	}},
	{"pareto_nbd_p_alive", []string{"x", "t_x", "T", "r", "alpha", "s", "beta"}, func(a []float64) float64 {
		return ParetoNBD{a[3], a[4], a[5], a[6]}.PAlive(a[0], a[1], a[2])
	}},
	{"pareto_nbd_expected_purchases", []string{"t", "x", "t_x", "T", "r", "alpha", "s", "beta"}, func(a []float64) float64 {
		return ParetoNBD{a[4], a[5], a[6], a[7]}.ExpectedPurchases(a[0], a[1], a[2], a[3])
	}},
	{"pareto_nbd_clv", []string{"spend", "x", "t_x", "T", "r", "alpha", "s", "beta", "horizon_months", "periods_per_month", "monthly_discount"}, func(a []float64) float64 {
		return sqlCLV(ParetoNBD{a[4], a[5], a[6], a[7]}, a)
	}},
	{"gamma_gamma_expected_spend", []string{"x", "m", "p", "q", "gamma"}, func(a []float64) float64 {
		return GammaGamma{a[2], a[3], a[4]}.ExpectedSpend(a[0], a[1])
	}},
}

// sqlCLV is PredictedCLV with the argument order of the *_clv functions.
func sqlCLV(m PurchaseModel, a []float64) float64 {
	h, ok := wholeMonths(a[8])
	if !ok {
		return math.NaN()
	}
	return PredictedCLV(m, a[0], a[1], a[2], a[3], h, a[9], a[10])
}

// wholeMonths converts a SQL horizon_months; one that is not a whole number
// of months is invalid.
func wholeMonths(h float64) (int, bool) {
	if h != math.Trunc(h) || h < 0 || h > math.MaxInt32 {
		return 0, false
	}
	return int(h), true
}

// RegisterUDFs installs the per-customer formulas as DuckDB scalar
// functions, so analysts can score in SQL:
//
//	bgnbd_p_alive(x, t_x, T, r, alpha, a, b)
//	bgnbd_expected_purchases(t, x, t_x, T, r, alpha, a, b)
//	bgnbd_clv(spend, x, t_x, T, r, alpha, a, b, horizon_months, periods_per_month, monthly_discount)
//	bgnbd_expected_purchases_alive(t, x, T, r, alpha, a, b)
//	bgnbd_clv_alive(spend, x, T, r, alpha, a, b, horizon_months, periods_per_month, monthly_discount)
//	pareto_nbd_p_alive(x, t_x, T, r, alpha, s, beta)
//	pareto_nbd_expected_purchases(t, x, t_x, T, r, alpha, s, beta)
//	pareto_nbd_clv(spend, x, t_x, T, r, alpha, s, beta, horizon_months, periods_per_month, monthly_discount)
//	gamma_gamma_expected_spend(x, m, p, q, gamma)
//
// Each is the method of the same name in this package (the *_clv ones are
// PredictedCLV, bgnbd_clv_alive is PredictedCLVAlive), DOUBLE in and out,
// NULL in, NULL out. The *_alive ones are those of a customer known to be
// active at T; times bgnbd_p_alive they give the other two, which lets a
// table be scored once per distinct (x, T) instead of (x, t_x, T).
//
// Scope, as observed with duckdb-go v2.10506 / DuckDB 1.5 and checked by
// TestUDFScope: a function registered through one connection goes into the
// database instance's catalog, so every connection of the same *sql.DB sees
// it, including connections opened before the registration; registering
// once per *sql.DB is enough, and registering again is harmless. Nothing is
// persisted: once the *sql.DB is closed and the file reopened the functions
// are gone, so register after every open (and a view that calls them only
// works while they are registered).
func RegisterUDFs(ctx context.Context, conn *sql.Conn) error {
	double, err := duckdb.NewTypeInfo(duckdb.TYPE_DOUBLE)
	if err != nil {
		return fmt.Errorf("register clv functions: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("register clv functions: %w", err)
	}
	for _, u := range udfs {
		f := &scalarUDF{double: double, arity: len(u.args), fn: u.fn}
		if err := duckdb.RegisterScalarUDF(conn, u.name, f); err != nil {
			return fmt.Errorf("register clv function %s(%d args): %w", u.name, len(u.args), err)
		}
	}
	return nil
}

// scalarUDF adapts a float64 function to duckdb.ScalarFunc.
type scalarUDF struct {
	double duckdb.TypeInfo
	arity  int
	fn     func([]float64) float64
}

func (u *scalarUDF) Config() duckdb.ScalarFuncConfig {
	in := make([]duckdb.TypeInfo, u.arity)
	for i := range in {
		in[i] = u.double
	}
	return duckdb.ScalarFuncConfig{InputTypeInfos: in, ResultTypeInfo: u.double}
}

func (u *scalarUDF) Executor() duckdb.ScalarFuncExecutor {
	return duckdb.ScalarFuncExecutor{RowExecutor: func(values []driver.Value) (any, error) {
		var buf [16]float64
		args := buf[:len(values)]
		for i, v := range values {
			f, ok := v.(float64)
			if !ok {
				return nil, fmt.Errorf("argument %d is %T, want DOUBLE", i+1, v)
			}
			args[i] = f
		}
		return u.fn(args), nil
	}}
}
