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
	theta, fit, err := minimize(context.Background(), bowl, []float64{-3, 5})
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
