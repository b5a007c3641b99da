package clv

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
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
	// flatCurvature is the least curvature of the mean log-likelihood, as a
	// share of the largest, in every direction of a strict maximum: on the
	// test data that identify their model (CDNOW, simulations) it is 1.5e-3
	// or more, on a ridge to the boundary (a handful of customers) 1.5e-7
	// or less.
	flatCurvature = 1e-5
	// driftGain is the least gain in total log-likelihood (over all
	// customers) worth a parameter moving e-fold further from the start: a
	// fit that gains less keeps climbing a ridge towards the boundary (s and
	// beta of Pareto/NBD growing together, say, when the data cannot tell
	// their dropout rates apart), where each step gains less than the last
	// and costs more, and is stopped there. Twice the gain is a
	// likelihood-ratio statistic of 0.2, far from any significance: the
	// data cannot tell the points apart, nor, since the gains shrink
	// geometrically on such a ridge, the stopping point from its limit.
	driftGain = 0.1
)

// objective returns the mean negative log-likelihood per customer at theta
// (log-parameters) and, when grad is not nil, stores its gradient there.
type objective func(theta, grad []float64) float64

// errRanOff stops an optimisation whose last evaluation had a parameter
// beyond the boundary: the likelihood keeps rising towards a limit there, and
// past it loses its precision (spurious huge values, then NaN steps whose
// series never end), so the fit would crawl until its budget runs out.
var errRanOff = errors.New("a parameter ran off below 1e-6 or above 1e6")

// minimize maximises a likelihood from start (log-parameters) with BFGS,
// within maxIterations, maxEvaluations and the deadline of ctx; f is the
// mean over customers (their total weight), names are the parameters' for
// the fit's detail. It returns
// the estimate and the fit summary, minus LogLikelihood and Customers, which
// the caller knows better. An error is either ctx's (the budget ran out or
// the run was cancelled) or says why there is no estimate at all.
func minimize(ctx context.Context, f objective, start []float64, customers float64, names []string) ([]float64, Fit, error) {
	c := &cachedObjective{f: f}
	problem := optimize.Problem{
		Func: c.value,
		Grad: c.gradient,
		// Called before every evaluation.
		Status: func() (optimize.Status, error) {
			if err := ctx.Err(); err != nil {
				return optimize.Failure, err
			}
			if c.ranOff {
				return optimize.Failure, errRanOff
			}
			return optimize.NotTerminated, nil
		},
	}
	drift := &driftConverge{
		FunctionConverge: optimize.FunctionConverge{Relative: 1e-15, Iterations: 20},
		start:            start,
		customers:        customers,
	}
	settings := &optimize.Settings{
		GradientThreshold: gradTol,
		MajorIterations:   maxIterations,
		FuncEvaluations:   maxEvaluations,
		Converger:         drift,
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
		Status:      StatusNotConverged,
		Detail:      res.Status.String(),
	}
	if err != nil {
		fit.Detail = fmt.Sprintf("%v: %v", res.Status, err)
	}
	switch {
	case drift.drifted:
		fit.Status = StatusBoundary
		fit.Detail = fmt.Sprintf("%s went from %.3g to %.3g, away from the start, for a log-likelihood gain of %.2g (under %g): the fit climbs a ridge towards the boundary and the data do not identify the model",
			names[drift.param], math.Exp(drift.from), math.Exp(theta[drift.param]), drift.gain, driftGain)
	case c.ranOff || slices.ContainsFunc(theta, ranOff):
		fit.Status = StatusBoundary
		if !errors.Is(err, errRanOff) {
			fit.Detail += "; " + errRanOff.Error()
		}
		fit.Detail += ": the data do not identify the model"
	case res.Status == optimize.GradientThreshold:
		fit.Status = StatusConverged
	case gradNorm <= convergedGradTol:
		// A line search that can no longer improve usually means the optimum
		// was reached to within rounding, but it also stops on a ridge that
		// climbs slowly towards the boundary (a -> infinity and b -> 0 with
		// a/b fixed, say), where the gradient is small too: the curvature
		// tells them apart.
		if flat(c, theta) {
			fit.Status = StatusBoundary
			fit.Detail += "; the likelihood is flat along a direction that leads to the boundary: the data do not identify the model"
			break
		}
		// The optimiser's own message ("linesearch failed") would contradict
		// the status in the log.
		fit.Status = StatusConverged
		fit.Detail = fmt.Sprintf("converged to within rounding: the likelihood stopped improving with the gradient at %.2g, within %g", gradNorm, convergedGradTol)
	}
	return theta, fit, nil
}

// driftConverge is FunctionConverge that also stops a climb towards the
// boundary: at each major iteration, when a log-parameter has moved at least
// 1 further from the start than at the last checkpoint, the total
// log-likelihood must have gained driftGain since then (and the iterate
// becomes the checkpoint), or the fit stops with drifted set.
type driftConverge struct {
	optimize.FunctionConverge
	start     []float64
	customers float64 // the objective is the mean over them

	mark    []float64 // the checkpoint
	markF   float64
	drifted bool
	param   int     // with drifted: the parameter that moved,
	from    float64 // from this log-value at the checkpoint,
	gain    float64 // for this gain in total log-likelihood
}

func (d *driftConverge) Init(dim int) {
	d.FunctionConverge.Init(dim)
	d.mark, d.drifted = nil, false
}

func (d *driftConverge) Converged(loc *optimize.Location) optimize.Status {
	if d.mark == nil {
		d.mark, d.markF = slices.Clone(loc.X), loc.F
		return d.FunctionConverge.Converged(loc)
	}
	for i, v := range loc.X {
		if math.Abs(v-d.start[i]) < math.Abs(d.mark[i]-d.start[i])+1 {
			continue
		}
		if gain := (d.markF - loc.F) * d.customers; gain < driftGain {
			d.drifted, d.param, d.from, d.gain = true, i, d.mark[i], gain
			return optimize.FunctionConvergence
		}
		copy(d.mark, loc.X)
		d.markF = loc.F
		break
	}
	return d.FunctionConverge.Converged(loc)
}

// flat reports whether the Hessian of c at theta (central differences of the
// analytic gradient) has a direction of no curvature, or of negative
// curvature: then theta is no strict minimum.
func flat(c *cachedObjective, theta []float64) bool {
	const step = 1e-4
	n := len(theta)
	h := mat.NewSymDense(n, nil)
	at := slices.Clone(theta)
	lo, hi := make([]float64, n), make([]float64, n)
	cols := make([][]float64, n)
	for i := range n {
		at[i] = theta[i] - step
		c.gradient(lo, at)
		at[i] = theta[i] + step
		c.gradient(hi, at)
		at[i] = theta[i]
		cols[i] = make([]float64, n)
		for j := range n {
			cols[i][j] = (hi[j] - lo[j]) / (2 * step)
		}
	}
	for i := range n {
		for j := i; j < n; j++ {
			h.SetSym(i, j, (cols[i][j]+cols[j][i])/2)
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(h, false) {
		return true
	}
	values := eig.Values(nil) // ascending
	return !(values[0] > flatCurvature*math.Max(1, values[n-1]))
}

// paramNames are the names of ps, in order.
func paramNames(ps []Param) []string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	return names
}

func ranOff(v float64) bool { return math.Abs(v) > boundaryLog }

// cachedObjective serves the optimiser's separate value and gradient calls
// from one likelihood pass, and notes a step past the boundary.
type cachedObjective struct {
	f           objective
	theta       []float64
	val         float64
	grad        []float64
	evaluations int
	ranOff      bool // an evaluation had a parameter beyond the boundary
}

func (c *cachedObjective) eval(theta []float64) {
	if c.theta != nil && slices.Equal(c.theta, theta) {
		return
	}
	c.evaluations++
	c.theta = append(c.theta[:0], theta...)
	c.grad = slices.Grow(c.grad[:0], len(theta))[:len(theta)]
	if slices.ContainsFunc(theta, ranOff) || slices.ContainsFunc(theta, math.IsNaN) {
		// Not worth a pass: the optimisation stops before the next one.
		c.ranOff = true
		c.val = math.NaN()
		for i := range c.grad {
			c.grad[i] = math.NaN()
		}
		return
	}
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

// The least rows worth a goroutine per likelihood pass, about a millisecond
// of work: a BG/NBD or Gamma-Gamma row costs some 50 ns, a Pareto/NBD row,
// whose terms sum 2F1 series, about ten times that.
const (
	minParallelRows       = 1 << 14
	minParallelParetoRows = 1 << 11
)

// sumParallel splits [0, n) into one contiguous range per CPU, but no range
// shorter than minRows, runs fn on each with its own accumulator of k
// values, and returns their sum.
func sumParallel(n, k, minRows int, fn func(lo, hi int, acc []float64)) []float64 {
	parts := min(runtime.GOMAXPROCS(0), max(1, n/minRows))
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
