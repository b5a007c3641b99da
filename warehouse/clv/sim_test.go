package clv

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/diff/fd"
	"gonum.org/v1/gonum/integrate/quad"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/mathext"
	"gonum.org/v1/gonum/stat/distuv"
)

// simulateBGNBD draws n customers from BG/NBD with ages T uniform on
// (0, maxT], so nearly every (x, t_x, T) triple is distinct (weight 1).
// Dropout happens only right after a repeat purchase, as in FHL 2005.
func simulateBGNBD(seed uint64, m BGNBD, n int, maxT float64) []Customer {
	src := rand.NewPCG(seed, 1)
	rng := rand.New(src)
	lambda := distuv.Gamma{Alpha: m.R, Beta: m.Alpha, Src: src}
	dropout := distuv.Beta{Alpha: m.A, Beta: m.B, Src: src}
	out := make([]Customer, n)
	for i := range out {
		T := maxT * (1 - rng.Float64())
		l, p := lambda.Rand(), dropout.Rand()
		c := Customer{T: T, Weight: 1}
		for t := rng.ExpFloat64() / l; t <= T; t += rng.ExpFloat64() / l {
			c.X++
			c.TX = t
			if rng.Float64() < p {
				break
			}
		}
		out[i] = c
	}
	return out
}

// simulateParetoNBD draws n customers from Pareto/NBD: exponential lifetime
// with rate mu ~ Gamma(s, beta), purchases at rate lambda ~ Gamma(r, alpha)
// while alive.
func simulateParetoNBD(seed uint64, m ParetoNBD, n int, maxT float64) []Customer {
	src := rand.NewPCG(seed, 2)
	rng := rand.New(src)
	lambda := distuv.Gamma{Alpha: m.R, Beta: m.Alpha, Src: src}
	mu := distuv.Gamma{Alpha: m.S, Beta: m.Beta, Src: src}
	out := make([]Customer, n)
	for i := range out {
		T := maxT * (1 - rng.Float64())
		l := lambda.Rand()
		end := math.Min(T, rng.ExpFloat64()/mu.Rand())
		c := Customer{T: T, Weight: 1}
		for t := rng.ExpFloat64() / l; t <= end; t += rng.ExpFloat64() / l {
			c.X++
			c.TX = t
		}
		out[i] = c
	}
	return out
}

// simulateSpend draws, for each repeat buyer, the mean of x spends that are
// Gamma(p, nu) with nu ~ Gamma(q, gamma).
func simulateSpend(seed uint64, m GammaGamma, customers []Customer) []Spend {
	src := rand.NewPCG(seed, 3)
	nu := distuv.Gamma{Alpha: m.Q, Beta: m.Gamma, Src: src}
	var out []Spend
	for _, c := range customers {
		if c.X == 0 {
			continue
		}
		// The sum of x Gamma(p, nu) spends is Gamma(p x, nu).
		total := distuv.Gamma{Alpha: m.P * c.X, Beta: nu.Rand(), Src: src}.Rand()
		out = append(out, Spend{X: c.X, M: total / c.X, Weight: 1})
	}
	return out
}

// standardErrors returns the asymptotic standard errors of the
// log-parameters: the square roots of the diagonal of the inverse observed
// information, i.e. of the inverse Hessian of the total negative
// log-likelihood (the mean objective times the number of customers).
func standardErrors(t *testing.T, f objective, theta []float64, n float64) []float64 {
	t.Helper()
	h := mat.NewSymDense(len(theta), nil)
	fd.Hessian(h, func(x []float64) float64 { return n * f(x, nil) }, theta, nil)
	var chol mat.Cholesky
	if !chol.Factorize(h) {
		t.Fatalf("observed information at %v is not positive definite: %v", theta, mat.Formatted(h))
	}
	var cov mat.SymDense
	if err := chol.InverseTo(&cov); err != nil {
		t.Fatal(err)
	}
	se := make([]float64, len(theta))
	for i := range se {
		se[i] = math.Sqrt(cov.At(i, i))
	}
	return se
}

// assertRecovered checks each true parameter lies within 4 standard errors
// of its estimate. On the log scale the maximum-likelihood estimator is
// close to normal at these sample sizes, so a miss is a 1-in-15,000 event
// per parameter if the fit is right (the seeds are fixed, so the test is
// deterministic), while a biased likelihood or a fit stopped early shows up
// as many standard errors. The standard errors must also be small (< 0.1,
// i.e. about 10%) for the check to mean anything.
func assertRecovered(t *testing.T, got, want []Param, theta, se []float64) {
	t.Helper()
	for i := range want {
		z := (theta[i] - math.Log(want[i].Value)) / se[i]
		t.Logf("%s: true %.4g, estimate %.4g, log-scale standard error %.3f, z = %+.2f", want[i].Name, want[i].Value, got[i].Value, se[i], z)
		if math.Abs(z) > 4 {
			t.Errorf("%s = %.4g, true %.4g: %.1f standard errors away", want[i].Name, got[i].Value, want[i].Value, z)
		}
		if se[i] > 0.1 {
			t.Errorf("%s: standard error %.3f too large for a meaningful check; simulate more customers", want[i].Name, se[i])
		}
	}
}

func logParams(ps []Param) []float64 {
	theta := make([]float64, len(ps))
	for i, p := range ps {
		theta[i] = math.Log(p.Value)
	}
	return theta
}

// 100,000 customers, CDNOW-like parameters, ages up to a year (weeks).
func TestBGNBDRecoversSimulatedParameters(t *testing.T) {
	t.Parallel()
	truth := BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426}
	data := simulateBGNBD(1, truth, 100_000, 52)
	m, fit, err := FitBGNBD(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	if !fit.Converged() {
		t.Fatalf("fit did not converge: %+v", fit)
	}
	t.Logf("fit: %+v", fit)
	h, _ := newHistory(data)
	theta := logParams(m.Params())
	assertRecovered(t, m.Params(), truth.Params(), theta, standardErrors(t, h.bgnbdObjective(), theta, h.total))
}

// Pareto/NBD is slower to fit (numerical gradient, 2F1 per row), so fewer
// customers; the parameters are chosen to cross into alpha > beta.
func TestParetoNBDRecoversSimulatedParameters(t *testing.T) {
	t.Parallel()
	truth := ParetoNBD{R: 0.8, Alpha: 6, S: 0.9, Beta: 4}
	data := simulateParetoNBD(2, truth, 20_000, 52)
	m, fit, err := FitParetoNBD(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	if !fit.Converged() {
		t.Fatalf("fit did not converge: %+v", fit)
	}
	t.Logf("fit: %+v", fit)
	h, _ := newHistory(data)
	theta := logParams(m.Params())
	assertRecovered(t, m.Params(), truth.Params(), theta, standardErrors(t, h.paretoNBDObjective(), theta, h.total))
}

func TestGammaGammaRecoversSimulatedParameters(t *testing.T) {
	t.Parallel()
	truth := GammaGamma{P: 6.25, Q: 3.74, Gamma: 15.44}
	data := simulateSpend(3, truth, simulateBGNBD(4, BGNBD{R: 0.8, Alpha: 4, A: 0.8, B: 2.4}, 20_000, 52))
	m, fit, err := FitGammaGamma(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	if !fit.Converged() {
		t.Fatalf("fit did not converge: %+v", fit)
	}
	t.Logf("fit on %d repeat buyers: %+v", len(data), fit)
	s, _ := newSpends(data)
	theta := logParams(m.Params())
	assertRecovered(t, m.Params(), truth.Params(), theta, standardErrors(t, s.objective(), theta, s.total))
}

// The analytic gradients against central differences of the same
// likelihood, away from the optimum where every term matters.
func TestAnalyticGradients(t *testing.T) {
	t.Parallel()
	customers := simulateBGNBD(5, BGNBD{R: 0.5, Alpha: 3, A: 1.3, B: 4}, 3000, 40)
	// Real data have repeat buyers whose last purchase is on the as-of date,
	// and shared triples.
	customers = append(customers, Customer{X: 3, TX: 40, T: 40, Weight: 7}, Customer{X: 1, TX: 12.5, T: 12.5, Weight: 2})
	h, err := newHistory(customers)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newSpends(simulateSpend(6, GammaGamma{P: 3, Q: 5, Gamma: 20}, customers))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		f     objective
		theta []float64
	}{
		{"bgnbd", h.bgnbdObjective(), logParams(BGNBD{0.3, 5, 0.7, 2}.Params())},
		{"bgnbd", h.bgnbdObjective(), logParams(BGNBD{2, 0.5, 3, 0.4}.Params())},
		{"gamma_gamma", s.objective(), logParams(GammaGamma{1.5, 8, 4}.Params())},
		{"pareto_nbd alpha < beta", h.paretoNBDObjective(), logParams(ParetoNBD{0.5, 10, 0.6, 12}.Params())},
		{"pareto_nbd alpha > beta", h.paretoNBDObjective(), logParams(ParetoNBD{0.9, 6, 1.3, 2}.Params())},
		{"pareto_nbd alpha = beta", h.paretoNBDObjective(), logParams(ParetoNBD{0.9, 6, 1.3, 6}.Params())},
		{"pareto_nbd z > 0.99", h.paretoNBDObjective(), logParams(ParetoNBD{0.9, 500, 1.3, 2}.Params())},
		{"pareto_nbd z > 0.99", h.paretoNBDObjective(), logParams(ParetoNBD{0.9, 1, 1.3, 400}.Params())},
	} {
		analytic := make([]float64, len(c.theta))
		c.f(c.theta, analytic)
		numeric := fd.Gradient(nil, func(x []float64) float64 { return c.f(x, nil) }, c.theta, &fd.Settings{Formula: fd.Central})
		for i := range analytic {
			if math.Abs(analytic[i]-numeric[i]) > 1e-7*math.Max(1, math.Abs(numeric[i])) {
				t.Errorf("%s at %v: d/dtheta[%d] analytic %.10g, numeric %.10g", c.name, c.theta, i, analytic[i], numeric[i])
			}
		}
	}
}

// E[X(t)] for a new BG/NBD customer by integrating over the dropout
// probability: given lambda and p, E[X(t)] = (1 - e^{-lambda p t})/p, and
// averaging over lambda ~ Gamma(r, alpha) gives (1 - (alpha/(alpha+p t))^r)/p;
// then integrate against Beta(a, b), substituting p = v^(1/a) to remove the
// p^(a-1) singularity. No 2F1 is involved.
func TestBGNBDExpectedPurchasesNewByQuadrature(t *testing.T) {
	t.Parallel()
	m := publishedBGNBD
	lbeta := math.Log(math.Gamma(m.A)) + math.Log(math.Gamma(m.B)) - math.Log(math.Gamma(m.A+m.B))
	for _, tt := range []float64{1, 39, 78, 520} {
		integrand := func(v float64) float64 {
			p := math.Pow(v, 1/m.A)
			if p == 0 {
				return m.R * tt / m.Alpha
			}
			return math.Pow(1-p, m.B-1) * -math.Expm1(-m.R*math.Log1p(p*tt/m.Alpha)) / p
		}
		want := quad.Fixed(integrand, 0, 1, 2000, quad.Legendre{}, 0) / m.A / math.Exp(lbeta)
		assertRel(t, fmt.Sprintf("E[X(%g)]", tt), m.ExpectedPurchasesNew(tt), want, 1e-7)
	}
}

// Pareto/NBD P(alive) splits the likelihood into "alive at T" and "died in
// (t_x, T)", where the second is s * integral over (t_x, T) of
// (alpha+tau)^-(r+x) (beta+tau)^-(s+1). Integrating that directly checks the
// 2F1 expression on both sides of alpha = beta.
func TestParetoNBDPAliveByQuadrature(t *testing.T) {
	t.Parallel()
	for _, m := range []ParetoNBD{publishedParetoNBD, {R: 0.8, Alpha: 6, S: 0.9, Beta: 4}, {R: 2, Alpha: 50, S: 0.3, Beta: 0.5}} {
		for _, c := range []struct{ x, tx, T float64 }{{0, 0, 38.86}, {2, 30.43, 38.86}, {7, 5, 60}, {30, 70, 78}} {
			alive := math.Pow(m.Alpha+c.T, -(m.R+c.x)) * math.Pow(m.Beta+c.T, -m.S)
			dead := m.S * quad.Fixed(func(tau float64) float64 {
				return math.Pow(m.Alpha+tau, -(m.R+c.x)) * math.Pow(m.Beta+tau, -(m.S+1))
			}, c.tx, c.T, 400, quad.Legendre{}, 0)
			assertRel(t, fmt.Sprintf("%+v PAlive%+v", m, c), m.PAlive(c.x, c.tx, c.T), alive/(alive+dead), 1e-10)
		}
	}
}

// The conditional expectation without 2F1: given alive at T, lambda ~
// Gamma(r+x, alpha+T) and p ~ Beta(a, b+x) independently (the likelihood of
// an active customer is (1-p)^x lambda^x e^{-lambda T}), so
//
//	E[Y(t)] = P(alive) * integral of Beta(p; a, b+x) (1 - ((alpha+T)/(alpha+T+p t))^(r+x)) / p dp.
//
// The cases include FHL's example and a frequent buyer (x = 5000) for whom
// ((alpha+T)/(alpha+T+t))^(r+x) and 2F1(r+x, b+x; a+b+x-1; z) are far outside
// the float64 range (1e-1500 and 1e+1500), so the textbook product cannot
// even be formed.
func TestBGNBDExpectedPurchasesByQuadrature(t *testing.T) {
	t.Parallel()
	for _, m := range []BGNBD{publishedBGNBD, {R: 1.5, Alpha: 20, A: 2.5, B: 6}} {
		for _, c := range []struct{ t, x, tx, T float64 }{
			{39, 2, 30.43, 38.86}, {39, 0, 0, 20}, {520, 1, 2, 70}, {5, 25, 30, 31}, {39, 300, 38, 38.86}, {39, 5000, 38.86, 38.86},
		} {
			r, alpha, a, b := m.R, m.Alpha, m.A, m.B
			// Integrate over u = ln p, where the integrand is smooth; the
			// posterior of p is centred near mu = a/(a+b+x) and its density
			// p^a (in u) falls below e^-50 of its peak 50/a below ln mu.
			lbeta := mathext.Lbeta(a, b+c.x)
			integrand := func(u float64) float64 {
				p := math.Exp(u)
				g := -math.Expm1(-(r+c.x)*math.Log1p(p*c.t/(alpha+c.T))) / p
				return math.Exp(a*u+(b+c.x-1)*math.Log1p(-p)-lbeta) * g
			}
			lnMu := math.Log(a / (a + b + c.x))
			var integral float64
			cuts := []float64{lnMu - 50/a, lnMu - 5, lnMu - 2, lnMu, lnMu + 1, lnMu + 2, lnMu + 3, 0}
			for i := range cuts[1:] {
				lo, hi := min(cuts[i], 0), min(cuts[i+1], 0)
				if lo < hi {
					integral += quad.Fixed(integrand, lo, hi, 200, quad.Legendre{}, 0)
				}
			}
			want := m.PAlive(c.x, c.tx, c.T) * integral
			assertRel(t, fmt.Sprintf("%+v E[Y%+v]", m, c), m.ExpectedPurchases(c.t, c.x, c.tx, c.T), want, 1e-8)
		}
	}
}

// At a = 1, and for a new customer at a+b = 1, the BG/NBD expectation is
// 0/0; the value there must continue its neighbours.
func TestBGNBDExpectedPurchasesRemovableSingularities(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name             string
		at, below, above BGNBD
		x, tx, T         float64
	}{
		{"a=1", BGNBD{0.5, 4, 1, 2}, BGNBD{0.5, 4, 1 - 1e-4, 2}, BGNBD{0.5, 4, 1 + 1e-4, 2}, 3, 20, 35},
		{"a+b=1", BGNBD{0.5, 4, 0.3, 0.7}, BGNBD{0.5, 4, 0.3, 0.7 - 1e-4}, BGNBD{0.5, 4, 0.3, 0.7 + 1e-4}, 0, 0, 35},
	} {
		at := c.at.ExpectedPurchases(30, c.x, c.tx, c.T)
		below := c.below.ExpectedPurchases(30, c.x, c.tx, c.T)
		above := c.above.ExpectedPurchases(30, c.x, c.tx, c.T)
		if math.IsNaN(at) || math.Abs(at-(below+above)/2) > 1e-8 || math.Abs(above-below) > 1e-3 {
			t.Errorf("%s: E there %.12g; below %.12g; above %.12g", c.name, at, below, above)
		}
	}
}

func TestPredictedCLV(t *testing.T) {
	t.Parallel()
	const ppm = 365.25 / 12 / 7
	for _, m := range []PurchaseModel{publishedBGNBD, publishedParetoNBD} {
		x, tx, T := 2.0, 30.43, 38.86
		// Without discounting the monthly increments telescope.
		undiscounted := PredictedCLV(m, 1, x, tx, T, 12, ppm, 0)
		assertRel(t, m.Name()+" undiscounted CLV", undiscounted, m.ExpectedPurchases(12*ppm, x, tx, T), 1e-12)
		// One month: spend * E[X(ppm)] / (1+d).
		assertRel(t, m.Name()+" one month", PredictedCLV(m, 40, x, tx, T, 1, ppm, 0.01), 40*m.ExpectedPurchases(ppm, x, tx, T)/1.01, 1e-12)
		// Discounting lowers the value, but by no more than the last month's factor.
		d := PredictedCLV(m, 1, x, tx, T, 12, ppm, 0.01)
		if !(d < undiscounted && d > undiscounted/math.Pow(1.01, 12)) {
			t.Errorf("%s: discounted CLV %g outside (%g, %g)", m.Name(), d, undiscounted/math.Pow(1.01, 12), undiscounted)
		}
		assertRel(t, m.Name()+" linear in spend", PredictedCLV(m, 37.5, x, tx, T, 12, ppm, 0.01), 37.5*d, 1e-12)
		if v := PredictedCLV(m, 1, x, tx, T, 0, ppm, 0.01); v != 0 {
			t.Errorf("%s: zero horizon gives %g", m.Name(), v)
		}
	}
}

// Pareto/NBD's expected purchases at s = 1 are the limit of its neighbours.
func TestParetoNBDExpectedPurchasesAtSEqualsOne(t *testing.T) {
	t.Parallel()
	at := ParetoNBD{R: 0.5, Alpha: 10, S: 1, Beta: 12}.ExpectedPurchases(39, 2, 30, 39)
	near := ParetoNBD{R: 0.5, Alpha: 10, S: 1 + 1e-7, Beta: 12}.ExpectedPurchases(39, 2, 30, 39)
	assertRel(t, "E at s=1", at, near, 1e-6)
	// and E[X(t)] for a new customer is r beta/alpha ln(1 + t/beta) there.
	assertRel(t, "E[X(39)] at s=1", ParetoNBD{R: 0.5, Alpha: 10, S: 1, Beta: 12}.ExpectedPurchasesNew(39), 0.5*12/10*math.Log1p(39.0/12), 1e-14)
}

func TestFitRejectsBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, c := range []struct {
		name string
		data []Customer
	}{
		{"t_x > T", []Customer{{X: 1, TX: 5, T: 4, Weight: 1}}},
		{"fractional x", []Customer{{X: 1.5, TX: 3, T: 4, Weight: 1}}},
		{"zero weight", []Customer{{X: 1, TX: 3, T: 4, Weight: 0}}},
		{"no repeat buyers", []Customer{{X: 0, TX: 0, T: 4, Weight: 10}}},
		{"empty", nil},
	} {
		if _, _, err := FitBGNBD(ctx, c.data); err == nil {
			t.Errorf("FitBGNBD(%s) succeeded", c.name)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
		if _, _, err := FitParetoNBD(ctx, c.data); err == nil {
			t.Errorf("FitParetoNBD(%s) succeeded", c.name)
		}
	}
	if _, _, err := FitGammaGamma(ctx, []Spend{{X: 2, M: 0, Weight: 1}}); err == nil {
		t.Error("FitGammaGamma with zero spend succeeded")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := FitBGNBD(cancelled, simulateBGNBD(7, publishedBGNBD, 100, 39)); err == nil {
		t.Error("FitBGNBD with a cancelled context succeeded")
	}
}

// Customers whose first purchase is on the as-of date (T = 0) carry no
// information: their likelihood is 1, and adding them changes nothing.
func TestZeroAgeCustomersAreNeutral(t *testing.T) {
	t.Parallel()
	data := simulateBGNBD(8, publishedBGNBD, 500, 39)
	withNew := append(data[:len(data):len(data)], Customer{X: 0, TX: 0, T: 0, Weight: 25})
	for _, m := range []interface{ LogLikelihood([]Customer) float64 }{publishedBGNBD, publishedParetoNBD} {
		if a, b := m.LogLikelihood(data), m.LogLikelihood(withNew); math.Abs(a-b) > 1e-9*math.Abs(a) {
			t.Errorf("%T: log-likelihood %g without and %g with T=0 customers", m, a, b)
		}
	}
	if p := publishedBGNBD.PAlive(0, 0, 0); p != 1 {
		t.Errorf("BG/NBD P(alive) at T=0 = %g, want 1", p)
	}
	if p := publishedParetoNBD.PAlive(0, 0, 0); p != 1 {
		t.Errorf("Pareto/NBD P(alive) at T=0 = %g, want 1", p)
	}
}

// Data that cannot identify a model make parameters run off to a limit;
// the fit must end (no endless line search), say it did not converge, and
// not fail.
func TestFitDegenerateData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, data := range map[string][]Customer{
		"one customer":       {{X: 1, TX: 3, T: 10, Weight: 1}},
		"three customers":    {{X: 1, TX: 3, T: 10, Weight: 1}, {X: 0, T: 7, Weight: 1}, {X: 4, TX: 8, T: 9, Weight: 1}},
		"nobody ever leaves": {{X: 1, TX: 10, T: 10, Weight: 50}, {X: 2, TX: 20, T: 20, Weight: 30}, {X: 0, T: 5, Weight: 10}},
		// Two fixture customers scored as of a year after their last
		// purchase: Pareto/NBD's s and beta run off together, and past 1e6
		// its likelihood lost precision, stepped to NaN and crawled until
		// the run's budget ran out.
		"as of long after the data": {{X: 0, T: 378.0 / 7, Weight: 1}, {X: 1, TX: 124.0 / 7, T: 649.0 / 7, Weight: 1}},
	} {
		for _, fit := range []func() (Fit, error){
			func() (Fit, error) { _, f, err := FitBGNBD(ctx, data); return f, err },
			func() (Fit, error) { _, f, err := FitParetoNBD(ctx, data); return f, err },
		} {
			f, err := fit()
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if f.Converged() {
				t.Errorf("%s: fit reports convergence: %+v", name, f)
			}
			if f.Status != StatusBoundary && f.Status != StatusNotConverged {
				t.Errorf("%s: status %q, want boundary or not_converged (%s)", name, f.Status, f.Detail)
			}
		}
	}
}
