// Package clv holds the numerics of predictive customer lifetime value: the
// BG/NBD (Fader, Hardie & Lee 2005) and Pareto/NBD (Schmittlein, Morrison &
// Colombo 1987) purchase models and the Gamma-Gamma spend model (Fader &
// Hardie 2013), fitted by maximum likelihood, their per-customer predictions,
// and DuckDB scalar functions that expose the predictions to SQL.
//
// Time is in whatever unit the caller measures x, t_x and T in (weeks in the
// literature); the fitted scale parameters (alpha, beta) are in that unit, and
// so is every t passed to a prediction.
package clv

import (
	"fmt"
	"math"
)

// Customer is one (x, t_x, T) triple and how many customers share it. The
// caller groups customers by the triple, so fit cost follows distinct triples.
// Customers first seen on the as-of date (T = 0) are accepted: their
// likelihood is 1, so they change no estimate (but count in Fit.Customers),
// and they score P(alive) = 1.
type Customer struct {
	X      float64 // repeat purchase periods (a non-negative integer)
	TX     float64 // time from the first to the last purchase (0 when X = 0)
	T      float64 // time from the first purchase to the as-of date
	Weight float64 // customers sharing this triple (> 0)
}

// Spend is a repeat buyer's spend summary for Gamma-Gamma, grouped like
// Customer.
type Spend struct {
	X      float64 // repeat purchase periods (a positive integer)
	M      float64 // mean spend of the repeat purchase periods (> 0)
	Weight float64 // customers sharing this pair (> 0)
}

// Fit reports how a maximum-likelihood fit went.
type Fit struct {
	LogLikelihood float64   // total over all customers, at the estimate
	Iterations    int       // major iterations of the optimiser
	Evaluations   int       // likelihood evaluations
	Customers     float64   // total weight of the data
	Status        FitStatus // how the fit ended
	Detail        string    // the optimiser's final status, for logs
}

// Converged reports whether the gradient vanished at an interior point.
func (f Fit) Converged() bool { return f.Status == StatusConverged }

// FitStatus says how a fit ended; the values are those of the status column
// of the clv_model mart.
type FitStatus string

const (
	// StatusConverged: the gradient vanished at an interior point.
	StatusConverged FitStatus = "converged"
	// StatusNotConverged: the optimiser stopped (iteration limit, a line
	// search that could not improve) with the gradient not small.
	StatusNotConverged FitStatus = "not_converged"
	// StatusBoundary: a parameter ran off below 1e-6 or above 1e6, where the
	// likelihood still rises towards a limit, or the fit was stopped on its
	// way there (a parameter moved e-fold for a negligible gain): the data
	// do not identify the model (a handful of customers, or an as-of date
	// far past the data).
	StatusBoundary FitStatus = "boundary"
	// StatusOverBudget: the fit was abandoned when its time budget (the
	// deadline of its context) ran out.
	StatusOverBudget FitStatus = "over_budget"
	// StatusFailed: no estimate at all (no repeat buyer, no finite
	// likelihood).
	StatusFailed FitStatus = "failed"
)

// Param is one fitted parameter, named as in the literature, lowercase.
type Param struct {
	Name  string
	Value float64
}

// PurchaseModel is a fitted model of the purchase process.
type PurchaseModel interface {
	// Name is the model's identifier in the clv_model mart.
	Name() string
	// Params lists the fitted parameters in a stable order.
	Params() []Param
	// PAlive is the probability that a customer with this history is still
	// active at T.
	PAlive(x, tx, T float64) float64
	// ExpectedPurchases is the expected number of purchases in (T, T+t].
	ExpectedPurchases(t, x, tx, T float64) float64
	// ExpectedPurchasesNew is E[X(t)] for a customer just acquired.
	ExpectedPurchasesNew(t float64) float64
}

// curveModel is implemented by models that can prepare one customer's
// expected purchases for many horizons, computing the parts that do not
// depend on t once.
type curveModel interface {
	expectedPurchasesCurve(x, tx, T float64) func(t float64) float64
}

// PredictedCLV discounts the expected spend of the next horizonMonths months:
//
//	sum_{k=1..H} spend * (E[X(k*ppm)] - E[X((k-1)*ppm)]) / (1+d)^k
//
// where E is m.ExpectedPurchases for this customer, ppm the model time units
// per month (365.25/12/7 for weeks, 365.25/12 for days) and d the monthly
// discount rate. spend is the expected spend per purchase (for instance
// GammaGamma.ExpectedSpend). It returns NaN for a negative horizon, a
// non-positive ppm or d <= -1.
func PredictedCLV(m PurchaseModel, spend, x, tx, T float64, horizonMonths int, periodsPerMonth, monthlyDiscount float64) float64 {
	expected := func(t float64) float64 { return m.ExpectedPurchases(t, x, tx, T) }
	if c, ok := m.(curveModel); ok {
		expected = c.expectedPurchasesCurve(x, tx, T)
	}
	return discountedSpend(expected, spend, horizonMonths, periodsPerMonth, monthlyDiscount)
}

// discountedSpend is PredictedCLV's sum over the cumulative expected
// purchases expected(t).
func discountedSpend(expected func(t float64) float64, spend float64, horizonMonths int, periodsPerMonth, monthlyDiscount float64) float64 {
	if horizonMonths < 0 || !(periodsPerMonth > 0) || !(monthlyDiscount > -1) {
		return math.NaN()
	}
	var clv, prev, discount float64 = 0, 0, 1
	for k := 1; k <= horizonMonths; k++ {
		cum := expected(float64(k) * periodsPerMonth)
		discount /= 1 + monthlyDiscount
		clv += spend * (cum - prev) * discount
		prev = cum
	}
	return clv
}

// validCustomer reports what is wrong with a triple, or nil.
func validCustomer(c Customer) error {
	switch {
	case !finite(c.X) || !finite(c.TX) || !finite(c.T) || !finite(c.Weight):
		return fmt.Errorf("x=%g t_x=%g T=%g weight=%g: values must be finite", c.X, c.TX, c.T, c.Weight)
	case c.X < 0 || c.X != math.Trunc(c.X):
		return fmt.Errorf("x=%g: x counts repeat purchase periods, a non-negative integer", c.X)
	case c.TX < 0 || c.TX > c.T:
		return fmt.Errorf("t_x=%g T=%g: need 0 <= t_x <= T; check that no purchase lies after the as-of date", c.TX, c.T)
	case c.X == 0 && c.TX != 0:
		return fmt.Errorf("x=0 t_x=%g: a customer without repeat purchases has t_x = 0", c.TX)
	case !(c.Weight > 0):
		return fmt.Errorf("weight=%g: the number of customers sharing a triple must be positive", c.Weight)
	}
	return nil
}

// validParams reports whether every model parameter is positive and finite.
func validParams(ps ...float64) bool {
	for _, p := range ps {
		if !(p > 0) || math.IsInf(p, 1) {
			return false
		}
	}
	return true
}

// validHistory reports whether (x, t_x, T) can be scored.
func validHistory(x, tx, T float64) bool {
	return x >= 0 && tx >= 0 && tx <= T && finite(x) && finite(T)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
