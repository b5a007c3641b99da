package clv

import (
	"context"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mathext"
)

// GammaGamma is the spend model of Fader & Hardie (2013): a customer's
// spends are Gamma(P, nu) with nu ~ Gamma(Q, Gamma) across customers, so
// mean spend per purchase is P/nu, independent of the purchase process.
type GammaGamma struct {
	P, Q, Gamma float64
}

// Name is the model's identifier in the clv_model mart.
func (GammaGamma) Name() string { return "gamma_gamma" }

// Params lists p, q, gamma.
func (m GammaGamma) Params() []Param {
	return []Param{{"p", m.P}, {"q", m.Q}, {"gamma", m.Gamma}}
}

// ExpectedSpend is the expected spend per purchase of a customer with x
// repeat purchases of mean m: p(gamma + x m)/(p x + q - 1), which at x = 0 is
// the population mean p gamma/(q-1). NaN when that mean does not exist
// (q <= 1) or the inputs are invalid.
func (m GammaGamma) ExpectedSpend(x, mean float64) float64 {
	if !validParams(m.P, m.Q, m.Gamma) || !(m.Q > 1) || !(x >= 0) || !(mean >= 0) {
		return math.NaN()
	}
	if x == 0 {
		return m.P * m.Gamma / (m.Q - 1)
	}
	return m.P * (m.Gamma + x*mean) / (m.P*x + m.Q - 1)
}

// LogLikelihood is the total log-likelihood of data; NaN if a row is
// invalid.
func (m GammaGamma) LogLikelihood(data []Spend) float64 {
	s, err := newSpends(data)
	if err != nil || !validParams(m.P, m.Q, m.Gamma) {
		return math.NaN()
	}
	ll, _ := s.loglik(m)
	return ll
}

// FitGammaGamma estimates Gamma-Gamma by maximum likelihood from repeat
// buyers (x > 0, m > 0); BFGS on log-parameters with the analytic gradient.
func FitGammaGamma(ctx context.Context, data []Spend) (GammaGamma, Fit, error) {
	s, err := newSpends(data)
	if err != nil {
		return GammaGamma{}, Fit{}, fmt.Errorf("fit gamma-gamma: %w", err)
	}
	// With p = 1 and q = 2 the population mean p gamma/(q-1) is gamma:
	// start it at the observed mean.
	start := []float64{0, math.Log(2), math.Log(s.meanM)}
	f := s.objective()
	theta, fit, err := minimize(ctx, f, start, s.total, paramNames(GammaGamma{}.Params()))
	if err != nil {
		return GammaGamma{}, Fit{}, fmt.Errorf("fit gamma-gamma on %d rows: %w", len(data), err)
	}
	m := gammaGammaFromTheta(theta)
	fit.LogLikelihood, _ = s.loglik(m)
	fit.Customers = s.total
	return m, fit, nil
}

func gammaGammaFromTheta(theta []float64) GammaGamma {
	return GammaGamma{math.Exp(theta[0]), math.Exp(theta[1]), math.Exp(theta[2])}
}

// objective is the mean negative log-likelihood in log-parameters.
func (s *spends) objective() objective {
	return func(theta, grad []float64) float64 {
		m := gammaGammaFromTheta(theta)
		ll, d := s.loglik(m)
		if grad != nil {
			for i, p := range []float64{m.P, m.Q, m.Gamma} {
				grad[i] = -d[i] * p / s.total
			}
		}
		return -ll / s.total
	}
}

// spends holds Gamma-Gamma data in columns, x as an index into the distinct
// frequencies (as in history).
type spends struct {
	freqs, freqW       []float64
	x, lnX, lnM, xm, w []float64
	total, meanM       float64
}

func newSpends(data []Spend) (*spends, error) {
	s := &spends{}
	index := map[float64]int32{}
	var sumM float64
	for i, d := range data {
		switch {
		case !finite(d.X) || !finite(d.M) || !finite(d.Weight):
			return nil, fmt.Errorf("spend row %d: x=%g m=%g weight=%g: values must be finite", i, d.X, d.M, d.Weight)
		case !(d.X >= 1) || d.X != math.Trunc(d.X):
			return nil, fmt.Errorf("spend row %d: x=%g: Gamma-Gamma is fitted on repeat buyers only (x a positive integer); filter x > 0", i, d.X)
		case !(d.M > 0):
			return nil, fmt.Errorf("spend row %d: m=%g: mean spend must be positive; filter out customers whose repeat purchases total 0", i, d.M)
		case !(d.Weight > 0):
			return nil, fmt.Errorf("spend row %d: weight=%g: must be positive", i, d.Weight)
		}
		j, ok := index[d.X]
		if !ok {
			j = int32(len(s.freqs))
			index[d.X] = j
			s.freqs = append(s.freqs, d.X)
			s.freqW = append(s.freqW, 0)
		}
		s.freqW[j] += d.Weight
		s.x = append(s.x, d.X)
		s.lnX = append(s.lnX, math.Log(d.X))
		s.lnM = append(s.lnM, math.Log(d.M))
		s.xm = append(s.xm, d.X*d.M)
		s.w = append(s.w, d.Weight)
		s.total += d.Weight
		sumM += d.Weight * d.M
	}
	if s.total == 0 {
		return nil, fmt.Errorf("no repeat buyers to fit")
	}
	s.meanM = sumM / s.total
	return s, nil
}

// loglik returns the log-likelihood and its derivatives in (p, q, gamma).
// The mean m of x spends has density
//
//	G(px+q)/(G(px) G(q)) gamma^q x^(px) m^(px-1) / (gamma + x m)^(px+q).
func (s *spends) loglik(m GammaGamma) (float64, [3]float64) {
	p, q, gamma := m.P, m.Q, m.Gamma
	lgq, _ := math.Lgamma(q)
	psiQ := mathext.Digamma(q)
	lnGamma := math.Log(gamma)
	var ll float64
	var d [3]float64
	for j, x := range s.freqs {
		w := s.freqW[j]
		lg1, _ := math.Lgamma(p*x + q)
		lg2, _ := math.Lgamma(p * x)
		psi1, psi2 := mathext.Digamma(p*x+q), mathext.Digamma(p*x)
		ll += w * (lg1 - lg2 - lgq + q*lnGamma)
		d[0] += w * x * (psi1 - psi2)
		d[1] += w * (psi1 - psiQ + lnGamma)
		d[2] += w * q / gamma
	}
	acc := sumParallel(len(s.w), 4, minParallelRows, func(lo, hi int, acc []float64) {
		var sLL, sP, sQ, sG float64
		for i := lo; i < hi; i++ {
			x, w := s.x[i], s.w[i]
			lnD := math.Log(gamma + s.xm[i])
			sLL += w * (p*x*s.lnX[i] + (p*x-1)*s.lnM[i] - (p*x+q)*lnD)
			sP += w * x * (s.lnX[i] + s.lnM[i] - lnD)
			sQ -= w * lnD
			sG -= w * (p*x + q) / (gamma + s.xm[i])
		}
		acc[0], acc[1], acc[2], acc[3] = sLL, sP, sQ, sG
	})
	ll += acc[0]
	d[0] += acc[1]
	d[1] += acc[2]
	d[2] += acc[3]
	return ll, d
}
