package clv

import (
	"context"
	"math"
	"strings"
	"testing"
)

// A fit whose line search can improve no more at a small gradient is
// converged, and its detail, which the log shows, says so rather than
// "linesearch failed".
func TestStalledLineSearchAtTheOptimumIsConverged(t *testing.T) {
	// A convex bowl at 0 whose gradient is off by 3e-6, as rounding in a
	// likelihood's sums makes it: near the minimum the line search finds
	// no step that decreases the value along the direction it is given.
	bowl := func(theta, grad []float64) float64 {
		v := 0.0
		for i, d := range theta {
			v += math.Exp(d) - d + d*d*d*d
			if grad != nil {
				grad[i] = math.Exp(d) - 1 + 4*d*d*d + 3e-6
			}
		}
		return v
	}
	theta, fit, err := minimize(context.Background(), bowl, []float64{-3, 5}, 1, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	if !fit.Converged() || math.Abs(theta[0]) > 1e-4 || math.Abs(theta[1]) > 1e-4 {
		t.Fatalf("fit %+v at %v, want converged at 0", fit, theta)
	}
	if strings.Contains(strings.ToLower(fit.Detail), "fail") {
		t.Errorf("a converged fit's detail says %q", fit.Detail)
	}
}

// A fit that climbs a ridge towards the boundary, each e-fold step of a
// parameter gaining less likelihood than the last, is stopped as boundary
// once a step gains under driftGain, long before the parameter reaches
// 1e6 (where the fit used to be stopped, each evaluation there costing
// seconds for Pareto/NBD).
func TestDriftTowardsTheBoundaryStops(t *testing.T) {
	// The mean negative log-likelihood of 100 customers falls like e^-a as
	// a grows, so the total gain of a step from a to a+1 is
	// 100 (1 - 1/e) e^-a: under 0.1 past a = 6.4; b has its optimum at 1.
	ridge := func(theta, grad []float64) float64 {
		if grad != nil {
			grad[0] = -math.Exp(-theta[0])
			grad[1] = 2 * (theta[1] - 1)
		}
		return math.Exp(-theta[0]) + (theta[1]-1)*(theta[1]-1)
	}
	theta, fit, err := minimize(context.Background(), ridge, []float64{0, 0}, 100, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	if fit.Status != StatusBoundary || !strings.Contains(fit.Detail, "a went from") {
		t.Errorf("fit %+v, want boundary naming a", fit)
	}
	if theta[0] > 10 || math.Abs(theta[1]-1) > 0.1 {
		t.Errorf("stopped at %v, want a below 10 (far from the boundary at %g) and b near 1", theta, boundaryLog)
	}
	// Without the stop: 23 evaluations, to a = 13.3, where the
	// parameter counts as run off.
	if fit.Evaluations >= 20 {
		t.Errorf("%d likelihood evaluations, want under 20", fit.Evaluations)
	}
}
