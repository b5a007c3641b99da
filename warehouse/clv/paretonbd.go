package clv

import (
	"context"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mathext"
)

// ParetoNBD is the Pareto/NBD model (Schmittlein, Morrison & Colombo 1987):
// while active a customer buys at Poisson rate lambda ~ Gamma(R, Alpha) and
// has an exponential lifetime with rate mu ~ Gamma(S, Beta).
type ParetoNBD struct {
	R, Alpha, S, Beta float64
}

var _ PurchaseModel = ParetoNBD{}

// Name implements PurchaseModel.
func (ParetoNBD) Name() string { return "pareto_nbd" }

// Params implements PurchaseModel: r, alpha, s, beta.
func (m ParetoNBD) Params() []Param {
	return []Param{{"r", m.R}, {"alpha", m.Alpha}, {"s", m.S}, {"beta", m.Beta}}
}

func (m ParetoNBD) valid() bool { return validParams(m.R, m.Alpha, m.S, m.Beta) }

// PAlive is the share of the likelihood that comes from "still alive at T"
// (Fader & Hardie's note on P(alive) for Pareto/NBD):
//
//	1 / (1 + s/(r+s+x) (alpha+T)^(r+x) (beta+T)^s A0).
func (m ParetoNBD) PAlive(x, tx, T float64) float64 {
	if !m.valid() || !validHistory(x, tx, T) {
		return math.NaN()
	}
	uTx, _ := m.logU(x, tx, false)
	uT, _ := m.logU(x, T, false)
	alive, dead, _, _ := m.logTerms(x, T, uTx, uT, nil, nil)
	return 1 / (1 + math.Exp(dead-alive))
}

// ExpectedPurchases is E[Y(t) | x, t_x, T]:
//
//	(r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)] P(alive).
func (m ParetoNBD) ExpectedPurchases(t, x, tx, T float64) float64 {
	if !m.valid() || !validHistory(x, tx, T) || !(t >= 0) {
		return math.NaN()
	}
	return m.aliveRate(x, tx, T) * m.horizon(t, T)
}

// expectedPurchasesCurve implements curveModel: P(alive), the expensive
// part, is the same for every t.
func (m ParetoNBD) expectedPurchasesCurve(x, tx, T float64) func(t float64) float64 {
	if !m.valid() || !validHistory(x, tx, T) {
		return func(float64) float64 { return math.NaN() }
	}
	rate := m.aliveRate(x, tx, T)
	return func(t float64) float64 {
		if !(t >= 0) {
			return math.NaN()
		}
		return rate * m.horizon(t, T)
	}
}

// aliveRate is (r+x)(beta+T)/(alpha+T) P(alive).
func (m ParetoNBD) aliveRate(x, tx, T float64) float64 {
	return (m.R + x) * (m.Beta + T) / (m.Alpha + T) * m.PAlive(x, tx, T)
}

// horizon is [1 - ((beta+T)/(beta+T+t))^(s-1)]/(s-1), written as
// -expm1(-(s-1) L)/(s-1) with L = ln(1 + t/(beta+T)), which is also right at
// s = 1 (where it is L).
func (m ParetoNBD) horizon(t, T float64) float64 {
	l := math.Log1p(t / (m.Beta + T))
	if e := m.S - 1; e != 0 {
		return -math.Expm1(-e*l) / e
	}
	return l
}

// ExpectedPurchasesNew is E[X(t)] = r beta/(alpha (s-1)) [1 - (beta/(beta+t))^(s-1)].
func (m ParetoNBD) ExpectedPurchasesNew(t float64) float64 {
	return m.ExpectedPurchases(t, 0, 0, 0)
}

// LogLikelihood is the total log-likelihood of data; NaN if a row is
// invalid.
func (m ParetoNBD) LogLikelihood(data []Customer) float64 {
	h, err := newHistory(data)
	if err != nil || !m.valid() {
		return math.NaN()
	}
	ll, _ := h.paretoNBD(m, false)
	return ll
}

// FitParetoNBD estimates Pareto/NBD by maximum likelihood (BFGS on
// log-parameters with the analytic gradient; the likelihood pass runs on all
// CPUs). A pass sums two 2F1 series per row, so it costs several times a
// BG/NBD pass.
func FitParetoNBD(ctx context.Context, data []Customer) (ParetoNBD, Fit, error) {
	h, err := newHistory(data)
	if err == nil {
		err = h.fittable()
	}
	if err != nil {
		return ParetoNBD{}, Fit{}, fmt.Errorf("fit pareto/nbd: %w", err)
	}
	scale := math.Log(h.rateScale())
	start := []float64{0, scale, 0, scale}
	f := h.paretoNBDObjective()
	theta, fit, err := minimize(ctx, f, start, h.total, paramNames(ParetoNBD{}.Params()))
	if err != nil {
		return ParetoNBD{}, Fit{}, fmt.Errorf("fit pareto/nbd on %d rows: %w", len(data), err)
	}
	m := paretoNBDFromTheta(theta)
	fit.LogLikelihood, _ = h.paretoNBD(m, false)
	fit.Customers = h.total
	return m, fit, nil
}

func paretoNBDFromTheta(theta []float64) ParetoNBD {
	return ParetoNBD{math.Exp(theta[0]), math.Exp(theta[1]), math.Exp(theta[2]), math.Exp(theta[3])}
}

// paretoNBDObjective is the mean negative log-likelihood in log-parameters.
func (h *history) paretoNBDObjective() objective {
	return func(theta, grad []float64) float64 {
		m := paretoNBDFromTheta(theta)
		ll, d := h.paretoNBD(m, grad != nil)
		if grad != nil {
			for i, p := range []float64{m.R, m.Alpha, m.S, m.Beta} {
				grad[i] = -d[i] * p / h.total
			}
		}
		return -ll / h.total
	}
}

// The likelihood of Fader & Hardie's note "A Note on Deriving the
// Pareto/NBD Model and Related Expressions" (2005), equation (22):
//
//	L = G(r+x) alpha^r beta^s / G(r) [ (alpha+T)^-(r+x) (beta+T)^-s + s/(r+s+x) (U(t_x) - U(T)) ]
//
// with, for A = r+s+x,
//
//	alpha >= beta: U(t) = 2F1(A, s+1; A+1; (alpha-beta)/(alpha+t)) / (alpha+t)^A
//	alpha <  beta: U(t) = 2F1(A, r+x; A+1; (beta-alpha)/(beta+t)) / (beta+t)^A.
//
// The two branches are Pfaff transforms of each other; each keeps the 2F1
// argument z in [0, 1). The first bracket term is "alive at T", the second
// "died between t_x and T" (s/(r+s+x) (U(t_x) - U(T)) is s times the
// integral over (t_x, T) of (alpha+tau)^-(r+x) (beta+tau)^-(s+1)); P(alive)
// is the first term's share.
//
// Euler's transformation, 2F1(a,b;c;z) = (1-z)^(c-a-b) 2F1(c-a,c-b;c;z),
// turns both branches into one form with 1 - z = (beta+t)/(alpha+t) or its
// inverse:
//
//	U(t) = (alpha+t)^-(r+x) (beta+t)^-s H(t)
//	alpha >= beta: H = 2F1(1, r+x; r+s+x+1; (alpha-beta)/(alpha+t))
//	alpha <  beta: H = (alpha+t)/(beta+t) 2F1(1, s+1; r+s+x+1; (beta-alpha)/(beta+t)).
//
// Both 2F1 here are sum (u)_n/(c)_n z^n with 0 < u < c: positive terms, each
// less than z times the one before, so the series is summed directly and
// differentiated term by term in u, c and z, which gives the analytic
// gradient.

// logU returns ln U(t) for frequency x and, if wantGrad, its derivatives in
// (r, alpha, s, beta).
func (m ParetoNBD) logU(x, t float64, wantGrad bool) (float64, [4]float64) {
	r, alpha, s, beta := m.R, m.Alpha, m.S, m.Beta
	la, lb := math.Log(alpha+t), math.Log(beta+t)
	c := r + s + x + 1
	var lnH float64
	var d [4]float64
	if alpha >= beta {
		z := (alpha - beta) / (alpha + t)
		lnG, gu, gc, gz := hyp2f1One(r+x, c, z, wantGrad)
		lnH = lnG
		d = [4]float64{gu + gc, gz * (beta + t) / ((alpha + t) * (alpha + t)), gc, -gz / (alpha + t)}
	} else {
		z := (beta - alpha) / (beta + t)
		lnG, gu, gc, gz := hyp2f1One(s+1, c, z, wantGrad)
		lnH = la - lb + lnG
		d = [4]float64{gc, 1/(alpha+t) - gz/(beta+t), gu + gc, -1/(beta+t) + gz*(alpha+t)/((beta+t)*(beta+t))}
	}
	d[0] -= la
	d[1] -= (r + x) / (alpha + t)
	d[2] -= lb
	d[3] -= s / (beta + t)
	return -(r+x)*la - s*lb + lnH, d
}

// logTerms returns the logs of the two bracket terms of the likelihood,
// "alive at T" and "died in (t_x, T)", given ln U(t_x) and ln U(T), and, when
// dTx and dT (the derivatives of those) are not nil, the derivatives of both
// terms in (r, alpha, s, beta).
func (m ParetoNBD) logTerms(x, T, uTx, uT float64, dTx, dT *[4]float64) (alive, dead float64, dAlive, dDead [4]float64) {
	r, alpha, s, beta := m.R, m.Alpha, m.S, m.Beta
	A := r + s + x
	la, lb := math.Log(alpha+T), math.Log(beta+T)
	alive = -(r+x)*la - s*lb
	if dTx != nil {
		dAlive = [4]float64{-la, -(r + x) / (alpha + T), -lb, -s / (beta + T)}
	}
	dead = math.Inf(-1)
	if uT >= uTx { // U decreases in t; equal when t_x = T
		return alive, dead, dAlive, dDead
	}
	rho := math.Exp(uT - uTx)
	dead = math.Log(s/A) + uTx + math.Log1p(-rho)
	if dTx == nil {
		return alive, dead, dAlive, dDead
	}
	for i := range dDead {
		dDead[i] = (dTx[i] - rho*dT[i]) / (1 - rho)
	}
	dDead[0] -= 1 / A
	dDead[2] += 1/s - 1/A
	return alive, dead, dAlive, dDead
}

// paretoNBD returns the log-likelihood and, if wantGrad, its derivatives in
// (r, alpha, s, beta).
func (h *history) paretoNBD(m ParetoNBD, wantGrad bool) (float64, [4]float64) {
	r, alpha, s, beta := m.R, m.Alpha, m.S, m.Beta
	lgr, _ := math.Lgamma(r)
	lnAlpha, lnBeta := math.Log(alpha), math.Log(beta)
	var ll float64
	var d [4]float64
	psiR := mathext.Digamma(r)
	for j, x := range h.freqs {
		w := h.freqW[j]
		lg, _ := math.Lgamma(r + x)
		ll += w * (lg - lgr + r*lnAlpha + s*lnBeta)
		if wantGrad && w > 0 {
			d[0] += w * (mathext.Digamma(r+x) - psiR + lnAlpha)
			d[1] += w * r / alpha
			d[2] += w * lnBeta
			d[3] += w * s / beta
		}
	}
	// row adds a customer's bracket term to acc: ll, then the gradient.
	row := func(x, T, w, uTx, uT float64, dTx, dT *[4]float64, acc []float64) {
		if !wantGrad {
			dTx, dT = nil, nil
		}
		alive, dead, dAlive, dDead := m.logTerms(x, T, uTx, uT, dTx, dT)
		l := logAddExp(alive, dead)
		acc[0] += w * l
		if wantGrad {
			pAlive, pDead := math.Exp(alive-l), math.Exp(dead-l)
			for i := range 4 {
				acc[1+i] += w * (pAlive*dAlive[i] + pDead*dDead[i])
			}
		}
	}
	u0, d0 := m.logU(0, 0, wantGrad) // every x = 0 row has t_x = 0
	zero := sumParallel(len(h.zeroT), 5, minParallelParetoRows, func(lo, hi int, acc []float64) {
		for i := lo; i < hi; i++ {
			uT, dT := m.logU(0, h.zeroT[i], wantGrad)
			row(0, h.zeroT[i], h.zeroW[i], u0, uT, &d0, &dT, acc)
		}
	})
	rep := sumParallel(len(h.T), 5, minParallelParetoRows, func(lo, hi int, acc []float64) {
		for i := lo; i < hi; i++ {
			x := h.freqs[h.fi[i]]
			uTx, dTx := m.logU(x, h.tx[i], wantGrad)
			uT, dT := m.logU(x, h.T[i], wantGrad)
			row(x, h.T[i], h.w[i], uTx, uT, &dTx, &dT, acc)
		}
	})
	ll += zero[0] + rep[0]
	for i := range d {
		d[i] += zero[1+i] + rep[1+i]
	}
	return ll, d
}

// logAddExp returns ln(e^a + e^b) without overflow.
func logAddExp(a, b float64) float64 {
	if a < b {
		a, b = b, a
	}
	if math.IsInf(b, -1) {
		return a
	}
	return a + math.Log1p(math.Exp(b-a))
}
