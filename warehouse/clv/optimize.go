package clv

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/optimize"
)

const (
	// gradTol is the stopping threshold on the gradient of the mean
	// log-likelihood per customer in log-parameter space: at 1e-7 the
	// estimates sit within about 1e-5 (relative) of the exact maximum on
	// data like CDNOW, far inside any reporting precision.
	gradTol = 1e-7
	// convergedGradTol accepts a fit that stopped on a stalled function
	// value as converged when the gradient is this small anyway.
	convergedGradTol = 1e-5
	maxIterations    = 1000
	// boundaryLog bounds |ln parameter| for an estimate to count as interior:
	// beyond 1e-6 or 1e6 the likelihood is still rising towards a limit
	// (no dropout, a Poisson limit of the gamma mixing, ...), which happens
	// when the data cannot identify the model, such as a handful of
	// customers.
	boundaryLog = 13.8
	// maxEvaluations also bounds line searches, which do not count as
	// iterations and can stall where the likelihood is not finite.
	maxEvaluations = 5000
)

// objective returns the mean negative log-likelihood per customer at theta
// (log-parameters) and, when grad is not nil, stores its gradient there.
type objective func(theta, grad []float64) float64

// minimize maximises a likelihood from start (log-parameters) with BFGS. It
// returns the estimate and the fit summary, minus LogLikelihood and
// Customers, which the caller knows better.
func minimize(ctx context.Context, f objective, start []float64) ([]float64, Fit, error) {
	c := &cachedObjective{f: f}
	problem := optimize.Problem{
		Func: c.value,
		Grad: c.gradient,
		Status: func() (optimize.Status, error) {
			if err := ctx.Err(); err != nil {
				return optimize.Failure, err
			}
			return optimize.NotTerminated, nil
		},
	}
	settings := &optimize.Settings{
		GradientThreshold: gradTol,
		MajorIterations:   maxIterations,
		FuncEvaluations:   maxEvaluations,
		Converger:         &optimize.FunctionConverge{Relative: 1e-15, Iterations: 20},
	}
	res, err := optimize.Minimize(problem, start, settings, &optimize.BFGS{Linesearcher: &optimize.MoreThuente{}})
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, Fit{}, ctxErr
	}
	if res == nil {
		return nil, Fit{}, fmt.Errorf("optimise: %w", err)
	}
	theta := slices.Clone(res.X)
	if !finite(res.F) || slices.ContainsFunc(theta, func(v float64) bool { return !finite(v) }) {
		return nil, Fit{}, fmt.Errorf("optimise: no finite likelihood found (status %v, last error %v); the data may not identify the model", res.Status, err)
	}
	grad := make([]float64, len(theta))
	c.gradient(grad, theta)
	gradNorm := floats.Norm(grad, math.Inf(1))
	fit := Fit{
		Iterations:  res.MajorIterations,
		Evaluations: c.evaluations,
		Converged:   res.Status == optimize.GradientThreshold || gradNorm <= convergedGradTol,
		Status:      res.Status.String(),
	}
	if err != nil {
		// A line search that can no longer improve usually means the optimum
		// was reached to within rounding: Converged tells from the gradient.
		fit.Status = fmt.Sprintf("%v: %v", res.Status, err)
	}
	if slices.ContainsFunc(theta, func(v float64) bool { return math.Abs(v) > boundaryLog }) {
		fit.Converged = false
		fit.Status += "; a parameter ran off below 1e-6 or above 1e6: the data do not identify the model"
	}
	return theta, fit, nil
}

// cachedObjective serves the optimiser's separate value and gradient calls
// from one likelihood pass.
type cachedObjective struct {
	f           objective
	theta       []float64
	val         float64
	grad        []float64
	evaluations int
}

func (c *cachedObjective) eval(theta []float64) {
	if c.theta != nil && slices.Equal(c.theta, theta) {
		return
	}
	c.evaluations++
	c.theta = append(c.theta[:0], theta...)
	c.grad = slices.Grow(c.grad[:0], len(theta))[:len(theta)]
	c.val = c.f(theta, c.grad)
}

func (c *cachedObjective) value(theta []float64) float64 {
	c.eval(theta)
	return c.val
}

func (c *cachedObjective) gradient(grad, theta []float64) {
	c.eval(theta)
	copy(grad, c.grad)
}

// minParallelRows is the least work worth a goroutine per likelihood pass.
const minParallelRows = 1 << 14

// sumParallel splits [0, n) into one contiguous range per CPU, runs fn on
// each with its own accumulator of k values, and returns their sum.
func sumParallel(n, k int, fn func(lo, hi int, acc []float64)) []float64 {
	parts := min(runtime.GOMAXPROCS(0), max(1, n/minParallelRows))
	if parts == 1 {
		acc := make([]float64, k)
		fn(0, n, acc)
		return acc
	}
	accs := make([][]float64, parts)
	var wg sync.WaitGroup
	for p := range parts {
		accs[p] = make([]float64, k)
		wg.Go(func() { fn(p*n/parts, (p+1)*n/parts, accs[p]) })
	}
	wg.Wait()
	for _, acc := range accs[1:] {
		floats.Add(accs[0], acc)
	}
	return accs[0]
}
