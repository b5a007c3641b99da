package clv

import (
	"math"

	"gonum.org/v1/gonum/mathext"
)

// Hyp2F1 returns the Gauss hypergeometric function 2F1(a, b; c; z) for real
// z <= 1 (NaN for z > 1, where the real function is not defined, and for c a
// non-positive integer unless a or b ends the series first).
//
// The defining series converges like z^n, so it is used only where that is
// quick. Elsewhere the argument is moved first:
//   - z < 0: Pfaff, 2F1(a,b;c;z) = (1-z)^-a 2F1(a, c-b; c; z/(z-1)), which maps
//     (-inf, 0) onto (0, 1);
//   - c-a-b < 0: Euler, 2F1(a,b;c;z) = (1-z)^(c-a-b) 2F1(c-a, c-b; c; z), so the
//     remaining series is bounded as z -> 1;
//   - z > 0.8: the connection formula to 1-z (Abramowitz & Stegun 15.3.6),
//     unless its two terms cancel (c-a-b within 0.05 of an integer, or large
//     parameters): then the series is summed in full (at most a million
//     terms), and only for z within about 5e-5 of 1 gonum's Cephes port
//     (which has the logarithmic integer case) takes over.
//
// Powers and gamma ratios are carried as logarithms, so large parameters
// (such as r+x for a frequent buyer) do not overflow before the factors meet.
func Hyp2F1(a, b, c, z float64) float64 {
	logScale, v := hyp2f1(a, b, c, z)
	if logScale == 0 || v == 0 || math.IsNaN(v) {
		return v
	}
	return v * math.Exp(logScale)
}

const (
	// seriesMaxZ is about where the plain series (some 150 terms at 0.8)
	// and the connection formula (eight log-gammas and two short series)
	// cost the same.
	seriesMaxZ = 0.8
	// nearIntegerGap is how close c-a-b may come to an integer before the
	// connection formula loses digits to cancellation (about log10(1/gap)
	// of them).
	nearIntegerGap = 0.05
	// maxCancellation is how much larger than the result the connection
	// formula's terms may be (large parameters make them so): beyond, two
	// digits are lost and the series is used instead.
	maxCancellation = 1e2
	// maxSeriesTerms bounds the plain series where the connection formula
	// is not used.
	maxSeriesTerms = 1_000_000
)

// hyp2f1 returns 2F1(a, b; c; z) as exp(logScale) * v.
func hyp2f1(a, b, c, z float64) (logScale, v float64) {
	switch {
	case math.IsNaN(a) || math.IsNaN(b) || math.IsNaN(c) || math.IsNaN(z):
		return 0, math.NaN()
	case z > 1:
		return 0, math.NaN()
	case z == 0:
		return 0, 1
	case isNonPosInt(a) || isNonPosInt(b):
		return 0, hyp2f1Polynomial(a, b, c, z)
	case isNonPosInt(c):
		return 0, math.NaN()
	case z == 1:
		return hyp2f1AtOne(a, b, c)
	case z < 0:
		// Pfaff; the variant with the smaller power of (1-z) keeps the
		// prefactor moderate (the same choice Cephes makes).
		w := z / (z - 1)
		l1z := math.Log1p(-z)
		if b > a {
			s, v := hyp2f1Unit(a, c-b, c, w)
			return s - a*l1z, v
		}
		s, v := hyp2f1Unit(b, c-a, c, w)
		return s - b*l1z, v
	}
	return hyp2f1Unit(a, b, c, z)
}

// hyp2f1Unit handles 0 <= z < 1.
func hyp2f1Unit(a, b, c, z float64) (logScale, v float64) {
	if z == 0 {
		return 0, 1
	}
	l1z := math.Log1p(-z)
	switch {
	case a == c:
		return -b * l1z, 1
	case b == c:
		return -a * l1z, 1
	case isNonPosInt(a) || isNonPosInt(b):
		return 0, hyp2f1Polynomial(a, b, c, z)
	}
	d := c - a - b
	if d < 0 {
		logScale = d * l1z
		a, b, d = c-a, c-b, -d
		if isNonPosInt(a) || isNonPosInt(b) {
			return logScale, hyp2f1Polynomial(a, b, c, z)
		}
	}
	if z <= seriesMaxZ {
		s, sv := hyp2f1Series(a, b, c, z, maxSeriesTerms)
		return logScale + s, sv
	}
	if math.Abs(d-math.Round(d)) >= nearIntegerGap {
		// The two terms can still cancel when the parameters are large;
		// 1/|cv| is how many times larger than the result they are.
		if s, cv := hyp2f1Connection(a, b, c, z, d); math.Abs(cv) > 1/maxCancellation {
			return logScale + s, cv
		}
	}
	if -math.Log(z)*maxSeriesTerms > 50 {
		s, sv := hyp2f1Series(a, b, c, z, maxSeriesTerms)
		return logScale + s, sv
	}
	return logScale, mathext.Hypergeo(a, b, c, z)
}

// hyp2f1Series sums the defining series, returned as exp(logScale) * v. It
// stops when the remaining tail, bounded by a geometric series with ratio
// q = max(|current term ratio|, z), is below the rounding of the sum.
func hyp2f1Series(a, b, c, z float64, maxTerms int) (logScale, v float64) {
	const (
		eps     = 1e-16
		rescale = 1e200
	)
	sum, term := 1.0, 1.0
	for n := 0.0; n < float64(maxTerms); n++ {
		ratio := (a + n) * (b + n) / ((c + n) * (n + 1)) * z
		term *= ratio
		sum += term
		absTerm, absSum := math.Abs(term), math.Abs(sum)
		if absSum > rescale {
			sum /= rescale
			term /= rescale
			logScale += math.Log(rescale)
			continue
		}
		if absTerm > eps*absSum { // cheap test first: the tail bound needs q
			continue
		}
		if term == 0 {
			break
		}
		if q := math.Max(math.Abs(ratio), z); q < 1 && absTerm*q <= eps*absSum*(1-q) {
			break
		}
	}
	return logScale, sum
}

// hyp2f1Polynomial sums the finite series when a or b is a non-positive
// integer.
func hyp2f1Polynomial(a, b, c, z float64) float64 {
	m := -a
	if isNonPosInt(b) && (!isNonPosInt(a) || -b < m) {
		m = -b
	}
	sum, term := 1.0, 1.0
	for n := 0.0; n < m; n++ {
		if c+n == 0 {
			return math.NaN()
		}
		term *= (a + n) * (b + n) / ((c + n) * (n + 1)) * z
		sum += term
	}
	return sum
}

// hyp2f1AtOne is Gauss's summation 2F1(a,b;c;1) = G(c)G(c-a-b)/(G(c-a)G(c-b)),
// finite only for c-a-b > 0.
func hyp2f1AtOne(a, b, c float64) (logScale, v float64) {
	d := c - a - b
	if d <= 0 {
		return 0, math.Inf(1)
	}
	l, sign := logGammaRatio([]float64{c, d}, []float64{c - a, c - b})
	return l, sign
}

// hyp2f1Connection applies Abramowitz & Stegun 15.3.6 for d = c-a-b > 0, not
// an integer, and z close to 1 (s = 1-z small):
//
//	2F1(a,b;c;z) = G(c)G(d)/(G(c-a)G(c-b)) 2F1(a, b; 1-d; s)
//	             + s^d G(c)G(-d)/(G(a)G(b)) 2F1(c-a, c-b; d+1; s)
func hyp2f1Connection(a, b, c, z, d float64) (logScale, v float64) {
	s := 1 - z
	l1, sign1 := logGammaRatio([]float64{c, d}, []float64{c - a, c - b})
	l2, sign2 := logGammaRatio([]float64{c, -d}, []float64{a, b})
	f1s, f1 := hyp2f1Series(a, b, 1-d, s, maxSeriesTerms)
	f2s, f2 := hyp2f1Series(c-a, c-b, d+1, s, maxSeriesTerms)
	t1 := l1 + f1s + math.Log(math.Abs(f1))
	t2 := l2 + f2s + d*math.Log(s) + math.Log(math.Abs(f2))
	sign1 *= math.Copysign(1, f1)
	sign2 *= math.Copysign(1, f2)
	// A reciprocal gamma of a non-positive integer is zero: that term vanishes.
	if sign1 == 0 || f1 == 0 {
		return t2, sign2
	}
	if sign2 == 0 || f2 == 0 {
		return t1, sign1
	}
	m := math.Max(t1, t2)
	return m, sign1*math.Exp(t1-m) + sign2*math.Exp(t2-m)
}

// logGammaRatio returns log|prod G(num) / prod G(den)| and its sign; the
// sign is 0 when a denominator gamma has a pole (its reciprocal is zero).
func logGammaRatio(num, den []float64) (float64, float64) {
	var l float64
	sign := 1.0
	for _, x := range den {
		if isNonPosInt(x) {
			return math.Inf(-1), 0
		}
		lg, s := math.Lgamma(x)
		l -= lg
		sign *= float64(s)
	}
	for _, x := range num {
		lg, s := math.Lgamma(x)
		l += lg
		sign *= float64(s)
	}
	return l, sign
}

func isNonPosInt(x float64) bool {
	return x <= 0 && x == math.Trunc(x)
}

// hyp2f1OneMaxZ is where hyp2f1One stops summing its series (at most about
// 4,000 terms) and falls back to Hyp2F1.
const hyp2f1OneMaxZ = 0.99

// hyp2f1One returns ln 2F1(1, u; c; z) = ln sum_n (u)_n/(c)_n z^n for
// 0 < u < c and 0 <= z < 1 and, if wantGrad, the derivatives of that
// logarithm in u, c and z. Every term is positive and at most z times the
// one before, so up to z = 0.99 the series and its term-by-term derivatives
// are summed directly:
//
//	d/du term_n = term_n * sum_{k<n} 1/(u+k)
//	d/dc term_n = -term_n * sum_{k<n} 1/(c+k)
//	d/dz term_n = n term_n / z.
//
// Closer to 1 the value comes from Hyp2F1, the z-derivative from
// d/dz 2F1(1,u;c;z) = u/c 2F1(2,u+1;c+1;z), and the u- and c-derivatives from
// central differences.
func hyp2f1One(u, c, z float64, wantGrad bool) (lnF, du, dc, dz float64) {
	if z > hyp2f1OneMaxZ {
		lnF = logHyp2F1(1, u, c, z)
		if !wantGrad {
			return lnF, 0, 0, 0
		}
		dz = u / c * math.Exp(logHyp2F1(2, u+1, c+1, z)-lnF)
		hu, hc := 1e-6*u, 1e-6*c
		du = (logHyp2F1(1, u+hu, c, z) - logHyp2F1(1, u-hu, c, z)) / (2 * hu)
		dc = (logHyp2F1(1, u, c+hc, z) - logHyp2F1(1, u, c-hc, z)) / (2 * hc)
		return lnF, du, dc, dz
	}
	// Stop when the tail, bounded by geometric series in z, is below rounding
	// for the sum and for the n-weighted sum behind the z-derivative.
	slack := 1e-16 * (1 - z)
	sum, term := 1.0, 1.0
	var harmU, harmC, sumU, sumC, sumZ float64
	for n := 0.0; n < maxSeriesTerms; n++ {
		next := term * (u + n) / (c + n) // term_{n+1} / z
		term = next * z
		sum += term
		if wantGrad {
			harmU += 1 / (u + n)
			harmC += 1 / (c + n)
			sumU += term * harmU
			sumC += term * harmC
			sumZ += (n + 1) * next
		}
		if term*(n+2+1/(1-z)) <= slack*sum {
			break
		}
	}
	return math.Log(sum), sumU / sum, -sumC / sum, sumZ / sum
}

// logHyp2F1 returns ln 2F1(a, b; c; z) where that is positive.
func logHyp2F1(a, b, c, z float64) float64 {
	logScale, v := hyp2f1(a, b, c, z)
	return logScale + math.Log(v)
}
