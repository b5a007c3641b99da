package clv

import (
	"context"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mathext"
)

// BGNBD is the beta-geometric/NBD model (Fader, Hardie & Lee 2005): while
// active a customer buys at Poisson rate lambda ~ Gamma(R, Alpha), and after
// each repeat purchase drops out with probability p ~ Beta(A, B).
type BGNBD struct {
	R, Alpha, A, B float64
}

var _ PurchaseModel = BGNBD{}

// Name implements PurchaseModel.
func (BGNBD) Name() string { return "bgnbd" }

// Params implements PurchaseModel: r, alpha, a, b.
func (m BGNBD) Params() []Param {
	return []Param{{"r", m.R}, {"alpha", m.Alpha}, {"a", m.A}, {"b", m.B}}
}

func (m BGNBD) valid() bool { return validParams(m.R, m.Alpha, m.A, m.B) }

// PAlive is 1 / (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)).
// Without repeat purchases it is 1: in BG/NBD dropout happens only at a
// repeat purchase.
func (m BGNBD) PAlive(x, tx, T float64) float64 {
	if !m.valid() || !validHistory(x, tx, T) {
		return math.NaN()
	}
	return 1 / m.deadOdds(x, tx, T)
}

// ExpectedPurchases is E[Y(t) | x, t_x, T], FHL 2005 equation (10):
//
//	(a+b+x-1)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)]
//	/ (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)),   z = t/(alpha+T+t).
//
// The power and 2F1 are combined by Euler's transformation into
// (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z): the large factors of a frequent
// buyer cancel analytically instead of overflowing.
func (m BGNBD) ExpectedPurchases(t, x, tx, T float64) float64 {
	if !m.valid() || !validHistory(x, tx, T) || !(t >= 0) {
		return math.NaN()
	}
	return m.numerator(t, x, T) / m.deadOdds(x, tx, T)
}

// expectedPurchasesCurve implements curveModel: the denominator is the same
// for every t.
func (m BGNBD) expectedPurchasesCurve(x, tx, T float64) func(t float64) float64 {
	if !m.valid() || !validHistory(x, tx, T) {
		return func(float64) float64 { return math.NaN() }
	}
	odds := m.deadOdds(x, tx, T)
	alive := m.aliveCurve(x, T)
	return func(t float64) float64 { return alive(t) / odds }
}

// ExpectedPurchasesAlive is the expected number of purchases in (T, T+t] of
// a customer with x repeat purchases who is known to be active at T: the
// numerator of ExpectedPurchases, which is PAlive times it. It does not
// depend on t_x, so customers can be scored once per distinct (x, T).
func (m BGNBD) ExpectedPurchasesAlive(t, x, T float64) float64 {
	if !m.valid() || !validHistory(x, 0, T) {
		return math.NaN()
	}
	return m.aliveCurve(x, T)(t)
}

// PredictedCLVAlive is PredictedCLV for a customer known to be active at T,
// with ExpectedPurchasesAlive in place of ExpectedPurchases: PredictedCLV is
// PAlive times it.
func (m BGNBD) PredictedCLVAlive(spend, x, T float64, horizonMonths int, periodsPerMonth, monthlyDiscount float64) float64 {
	if !m.valid() || !validHistory(x, 0, T) {
		return math.NaN()
	}
	return discountedSpend(m.aliveCurve(x, T), spend, horizonMonths, periodsPerMonth, monthlyDiscount)
}

// aliveCurve is ExpectedPurchasesAlive as a function of t, for a valid
// model and history.
func (m BGNBD) aliveCurve(x, T float64) func(t float64) float64 {
	return func(t float64) float64 {
		if !(t >= 0) {
			return math.NaN()
		}
		return m.numerator(t, x, T)
	}
}

// deadOdds is 1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x), which is
// 1/P(alive).
func (m BGNBD) deadOdds(x, tx, T float64) float64 {
	if x == 0 {
		return 1
	}
	return 1 + m.A/(m.B+x-1)*math.Exp((m.R+x)*(math.Log(m.Alpha+T)-math.Log(m.Alpha+tx)))
}

// numerator is the numerator of ExpectedPurchases.
func (m BGNBD) numerator(t, x, T float64) float64 {
	if t == 0 {
		return 0
	}
	// At a = 1, and at a+b+x = 1 (2F1 has a pole at c = 0), the formula is
	// 0/0; it is smooth in a and b, so the mean of two neighbours is accurate
	// to O(h^2).
	const h = 1e-6
	lo, hi := m, m
	switch {
	case math.Abs(m.A-1) < h:
		lo.A, hi.A = 1-h, 1+h
	case math.Abs(m.A+m.B+x-1) < h:
		lo.B, hi.B = 1-m.A-x-h, 1-m.A-x+h
	default:
		return m.numeratorAt(t, x, T)
	}
	return (lo.numeratorAt(t, x, T) + hi.numeratorAt(t, x, T)) / 2
}

func (m BGNBD) numeratorAt(t, x, T float64) float64 {
	r, alpha, a, b := m.R, m.Alpha, m.A, m.B
	z := t / (alpha + T + t)
	logScale, f := hyp2f1(a+b-1-r, a-1, a+b+x-1, z)
	rest := f * math.Exp((a-1)*math.Log1p(-z)+logScale)
	return (a + b + x - 1) / (a - 1) * (1 - rest)
}

// ExpectedPurchasesNew is E[X(t)] for a customer acquired at time 0:
// (a+b-1)/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))].
func (m BGNBD) ExpectedPurchasesNew(t float64) float64 {
	return m.ExpectedPurchases(t, 0, 0, 0)
}

// LogLikelihood is the total log-likelihood of data (FHL 2005 equation 6,
// summed with weights); NaN if a row is invalid.
func (m BGNBD) LogLikelihood(data []Customer) float64 {
	h, err := newHistory(data)
	if err != nil || !m.valid() {
		return math.NaN()
	}
	ll, _ := h.bgnbd(m, false)
	return ll
}

// FitBGNBD estimates BG/NBD by maximum likelihood (BFGS on log-parameters
// with the analytic gradient; the likelihood pass runs on all CPUs).
func FitBGNBD(ctx context.Context, data []Customer) (BGNBD, Fit, error) {
	h, err := newHistory(data)
	if err == nil {
		err = h.fittable()
	}
	if err != nil {
		return BGNBD{}, Fit{}, fmt.Errorf("fit bgnbd: %w", err)
	}
	start := []float64{0, math.Log(h.rateScale()), 0, 0}
	f := h.bgnbdObjective()
	theta, fit, err := minimize(ctx, f, start, h.total, paramNames(BGNBD{}.Params()))
	if err != nil {
		return BGNBD{}, Fit{}, fmt.Errorf("fit bgnbd on %d rows: %w", len(data), err)
	}
	m := bgnbdFromTheta(theta)
	fit.LogLikelihood, _ = h.bgnbd(m, false)
	fit.Customers = h.total
	return m, fit, nil
}

func bgnbdFromTheta(theta []float64) BGNBD {
	return BGNBD{math.Exp(theta[0]), math.Exp(theta[1]), math.Exp(theta[2]), math.Exp(theta[3])}
}

// bgnbdObjective is the mean negative log-likelihood in log-parameters.
func (h *history) bgnbdObjective() objective {
	return func(theta, grad []float64) float64 {
		m := bgnbdFromTheta(theta)
		ll, d := h.bgnbd(m, grad != nil)
		if grad != nil {
			for i, p := range []float64{m.R, m.Alpha, m.A, m.B} {
				grad[i] = -d[i] * p / h.total
			}
		}
		return -ll / h.total
	}
}

// bgnbd returns the log-likelihood and, if wantGrad, its derivatives in
// (r, alpha, a, b). With
//
//	A1 = lnG(r+x) - lnG(r) + r ln alpha
//	A2 = lnG(a+b) + lnG(b+x) - lnG(b) - lnG(a+b+x)
//	A3 = -(r+x) ln(alpha+T)
//	A4 = ln a - ln(b+x-1) - (r+x) ln(alpha+t_x)          (x > 0 only)
//
// a customer contributes A1 + A2 + ln(e^A3 + [x>0] e^A4). A1 and A2 depend
// on x alone and are summed per distinct x, the logarithms of A3 and A4 are
// taken once per distinct time; a row costs one exponential and one
// logarithm.
func (h *history) bgnbd(m BGNBD, wantGrad bool) (float64, [4]float64) {
	r, alpha, a, b := m.R, m.Alpha, m.A, m.B
	var ll float64
	var d [4]float64

	lgr, _ := math.Lgamma(r)
	lgb, _ := math.Lgamma(b)
	lgab, _ := math.Lgamma(a + b)
	lnAlpha, lnA := math.Log(alpha), math.Log(a)
	var psiR, psiB, psiAB float64
	if wantGrad {
		psiR, psiB, psiAB = mathext.Digamma(r), mathext.Digamma(b), mathext.Digamma(a+b)
	}
	nf := len(h.freqs)
	rx := make([]float64, nf)   // r + x
	lnK := make([]float64, nf)  // ln a - ln(b+x-1)
	invB := make([]float64, nf) // 1/(b+x-1)
	for j, x := range h.freqs {
		w := h.freqW[j]
		rx[j] = r + x
		lg1, _ := math.Lgamma(r + x)
		lg2, _ := math.Lgamma(b + x)
		lg3, _ := math.Lgamma(a + b + x)
		ll += w * (lg1 - lgr + r*lnAlpha + lgab + lg2 - lgb - lg3)
		if x > 0 {
			lnK[j] = lnA - math.Log(b+x-1)
			invB[j] = 1 / (b + x - 1)
		}
		if wantGrad && w > 0 {
			psiABX := mathext.Digamma(a + b + x)
			d[0] += w * (mathext.Digamma(r+x) - psiR + lnAlpha)
			d[1] += w * r / alpha
			d[2] += w * (psiAB - psiABX)
			d[3] += w * (psiAB + mathext.Digamma(b+x) - psiB - psiABX)
		}
	}

	if h.Ti == nil {
		h.indexTimes()
	}
	alphaT := make([]float64, len(h.times)) // alpha + t
	lnAlphaT := make([]float64, len(h.times))
	for k, t := range h.times {
		alphaT[k] = alpha + t
		lnAlphaT[k] = math.Log(alphaT[k])
	}

	// acc: ll, d/dr, d/dalpha, sum of w*P(A4 branch), d/db.
	zero := sumParallel(len(h.zeroT), 3, minParallelRows, func(lo, hi int, acc []float64) {
		var sLog, sInv float64 // sums of w ln(alpha+T) and w/(alpha+T)
		for i := lo; i < hi; i++ {
			w, aT := h.zeroW[i], alpha+h.zeroT[i]
			sLog += w * math.Log(aT)
			sInv += w / aT
		}
		acc[0], acc[1], acc[2] = -r*sLog, -sLog, -r*sInv
	})
	rep := sumParallel(len(h.T), 5, minParallelRows, func(lo, hi int, acc []float64) {
		var sLL, sR, sAlpha, sA, sB float64
		for i := lo; i < hi; i++ {
			j, w := h.fi[i], h.w[i]
			ti, xi := h.Ti[i], h.txi[i]
			lT, lx := lnAlphaT[ti], lnAlphaT[xi]
			a3 := -rx[j] * lT
			a4 := lnK[j] - rx[j]*lx
			// Log-sum-exp and the weight of the A4 branch. With e <= 1,
			// ln(1+e) is within 1e-16 of log1p(e) in absolute terms, which
			// is all a sum of log-likelihoods needs, and math.Log is the
			// faster of the two.
			var l, p4 float64
			if diff := a4 - a3; diff > 0 {
				e := math.Exp(-diff)
				l, p4 = a4+math.Log(1+e), 1/(1+e)
			} else {
				e := math.Exp(diff)
				l, p4 = a3+math.Log(1+e), e/(1+e)
			}
			sLL += w * l
			p3 := 1 - p4
			sR -= w * (p3*lT + p4*lx)
			sAlpha -= w * rx[j] * (p3/alphaT[ti] + p4/alphaT[xi])
			sA += w * p4
			sB -= w * p4 * invB[j]
		}
		acc[0], acc[1], acc[2], acc[3], acc[4] = sLL, sR, sAlpha, sA, sB
	})
	ll += zero[0] + rep[0]
	d[0] += zero[1] + rep[1]
	d[1] += zero[2] + rep[2]
	d[2] += rep[3] / a
	d[3] += rep[4]
	return ll, d
}
