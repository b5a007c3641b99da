package clv

import (
	"fmt"
	"math"
	"testing"

	"gonum.org/v1/gonum/mathext"
)

func assertRel(t *testing.T, name string, got, want, tol float64) {
	t.Helper()
	if math.IsNaN(got) || math.Abs(got-want) > tol*math.Abs(want) {
		t.Errorf("%s = %.17g, want %.17g (relative error %.3g > %.1g)", name, got, want, math.Abs(got-want)/math.Abs(want), tol)
	}
}

// Closed forms from Abramowitz & Stegun 15.1 and DLMF 15.4, chosen so every
// route of Hyp2F1 is exercised: the plain series (small |z|), Pfaff (z < 0),
// Euler (c-a-b < 0), the 1-z connection formula (z near 1, c-a-b = 1/2), the
// near-integer c-a-b series (c-a-b = 0) and its Cephes fallback (z within
// 5e-5 of 1).
func TestHyp2F1ClosedForms(t *testing.T) {
	t.Parallel()
	for _, z := range []float64{-100, -5, -0.9, -0.3, 0.1, 0.5, 0.8, 0.95, 0.999, 0.999999} {
		// 2F1(1,1;2;z) = -ln(1-z)/z.
		assertRel(t, fmt.Sprintf("2F1(1,1;2;%g)", z), Hyp2F1(1, 1, 2, z), -math.Log1p(-z)/z, 1e-13)
	}
	// Pfaff sends -1e6 to 1-1e-6 with c-a-b = 0: the Cephes fallback, whose
	// documented peak relative error is 1.2e-11.
	assertRel(t, "2F1(1,1;2;-1e6)", Hyp2F1(1, 1, 2, -1e6), -math.Log1p(1e6)/-1e6, 2e-11)
	for _, z := range []float64{-50, -0.7, 0.2, 0.9, 0.9999} {
		// 2F1(a,b;b;z) = (1-z)^-a, also with the symmetric argument order.
		assertRel(t, fmt.Sprintf("2F1(0.7,2.5;2.5;%g)", z), Hyp2F1(0.7, 2.5, 2.5, z), math.Pow(1-z, -0.7), 1e-13)
		assertRel(t, fmt.Sprintf("2F1(2.5,0.7;2.5;%g)", z), Hyp2F1(2.5, 0.7, 2.5, z), math.Pow(1-z, -0.7), 1e-13)
	}
	for _, x := range []float64{0.5, 0.9, 0.99, 0.99999} {
		// 2F1(1/2,1/2;3/2;x^2) = arcsin(x)/x.
		assertRel(t, fmt.Sprintf("2F1(1/2,1/2;3/2;%g^2)", x), Hyp2F1(0.5, 0.5, 1.5, x*x), math.Asin(x)/x, 1e-13)
	}
	for _, x := range []float64{0.5, 2, 10, 1000} {
		// 2F1(1/2,1;3/2;-x^2) = arctan(x)/x.
		assertRel(t, fmt.Sprintf("2F1(1/2,1;3/2;-%g^2)", x), Hyp2F1(0.5, 1, 1.5, -x*x), math.Atan(x)/x, 1e-13)
	}
	for _, c := range []struct{ a, x float64 }{{0.3, 0.4}, {0.3, 1.5}, {2.7, 1.2}, {-1.6, 1.55}} {
		// 2F1(a,1-a;3/2;sin^2 x) = sin((2a-1)x) / ((2a-1) sin x), DLMF 15.4.16.
		z := math.Pow(math.Sin(c.x), 2)
		want := math.Sin((2*c.a-1)*c.x) / ((2*c.a - 1) * math.Sin(c.x))
		assertRel(t, fmt.Sprintf("2F1(%g,%g;3/2;%g)", c.a, 1-c.a, z), Hyp2F1(c.a, 1-c.a, 1.5, z), want, 1e-12)
	}
	for _, m := range []float64{0.5, 0.9, 0.999, 0.99999} {
		// 2F1(1/2,1/2;1;m) = 2K(m)/pi: c-a-b = 0 exactly, the logarithmic case.
		assertRel(t, fmt.Sprintf("2F1(1/2,1/2;1;%g)", m), Hyp2F1(0.5, 0.5, 1, m), 2*mathext.CompleteK(m)/math.Pi, 1e-11)
	}
	// Polynomial: 2F1(-2,b;c;z) = 1 - 2bz/c + b(b+1)z^2/(c(c+1)).
	assertRel(t, "2F1(-2,1.5;2.5;-3)", Hyp2F1(-2, 1.5, 2.5, -3), 1+2*1.5*3/2.5+1.5*2.5*9/(2.5*3.5), 1e-14)
	// Gauss's summation at z = 1.
	lg := func(x float64) float64 { v, _ := math.Lgamma(x); return v }
	assertRel(t, "2F1(0.3,0.4;2.1;1)", Hyp2F1(0.3, 0.4, 2.1, 1), math.Exp(lg(2.1)+lg(1.4)-lg(1.8)-lg(1.7)), 1e-13)
	if v := Hyp2F1(1, 1, 2, 1); !math.IsInf(v, 1) {
		t.Errorf("2F1(1,1;2;1) = %g, want +Inf (the series diverges)", v)
	}
	if v := Hyp2F1(1, 1, 2, 1.5); !math.IsNaN(v) {
		t.Errorf("2F1(1,1;2;1.5) = %g, want NaN (z > 1 is on the branch cut)", v)
	}
}

// The Pareto/NBD likelihood evaluates 2F1(a, b; a+1; z), which is an
// incomplete beta function: B_z(p, q) = z^p/p 2F1(p, 1-q; p+1; z). gonum's
// RegIncBeta is an independent implementation (a continued fraction).
func TestHyp2F1IncompleteBeta(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ p, q, z float64 }{
		{2.3, 0.4, 0.3}, {5.5, 0.7, 0.9}, {0.8, 2.6, 0.97}, {12.3, 0.6, 0.999}, {40.6, 1.6, 0.995}, {3.2, 0.394, 0.99999},
	} {
		want := mathext.RegIncBeta(c.p, c.q, c.z) * math.Exp(mathext.Lbeta(c.p, c.q)) * c.p / math.Pow(c.z, c.p)
		assertRel(t, fmt.Sprintf("2F1(%g,%g;%g;%g)", c.p, 1-c.q, c.p+1, c.z), Hyp2F1(c.p, 1-c.q, c.p+1, c.z), want, 1e-11)
	}
}

// Large parameters near z = 1, where the two terms of the connection formula
// are hundreds of times the result (Pareto/NBD rows of frequent buyers have
// u = r+x, c = r+s+x+1). Reference values from mpmath 1.3 hyp2f1 at 40
// significant digits.
func TestHyp2F1LargeParameters(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ a, b, c, z, want float64 }{
		{1, 40.9, 43.2, 0.95, 10.867953031062215301},
		{1, 140.9, 143.2, 0.95, 15.641031941782875752},
		{60.3, -1.7, 61.3, 0.93, 0.015457912541096160784},
		{42.2, 2.3, 43.2, 0.95, 533.93297997042625877},
	} {
		assertRel(t, fmt.Sprintf("2F1(%g,%g;%g;%g)", c.a, c.b, c.c, c.z), Hyp2F1(c.a, c.b, c.c, c.z), c.want, 1e-13)
	}
}

// The BG/NBD conditional expectation needs 2F1(r+x, b+x; a+b+x-1; z) with
// z = t/(alpha+T+t). Against gonum's Cephes port over a grid of CDNOW-like
// parameters and frequencies, where Cephes is reliable (|z| < 1, moderate
// parameters).
func TestHyp2F1MatchesCephes(t *testing.T) {
	t.Parallel()
	r, a, b := 0.243, 0.793, 2.426
	for _, x := range []float64{0, 1, 2, 7, 30} {
		for _, z := range []float64{0.05, 0.4, 0.6, 0.85, 0.97} {
			want := mathext.Hypergeo(r+x, b+x, a+b+x-1, z)
			assertRel(t, fmt.Sprintf("2F1(%g,%g;%g;%g)", r+x, b+x, a+b+x-1, z), Hyp2F1(r+x, b+x, a+b+x-1, z), want, 1e-10)
		}
	}
}

// Pfaff maps the two Pareto/NBD branches onto each other:
// 2F1(A, s+1; A+1; (alpha-beta)/(alpha+t)) with alpha < beta has a negative
// argument and must equal ((beta+t)/(alpha+t))^-A 2F1(A, r+x; A+1; (beta-alpha)/(beta+t)),
// where A = r+s+x. Both sides go through different routes.
func TestHyp2F1ParetoBranches(t *testing.T) {
	t.Parallel()
	r, s := 0.553, 0.606
	for _, c := range []struct{ x, alpha, beta, t float64 }{
		{0, 10.578, 11.669, 0}, {3, 10.578, 11.669, 20}, {2, 0.5, 40, 0}, {12, 1, 300, 5},
	} {
		A := r + s + c.x
		lhs := Hyp2F1(A, s+1, A+1, (c.alpha-c.beta)/(c.alpha+c.t))
		rhs := math.Pow((c.beta+c.t)/(c.alpha+c.t), -A) * Hyp2F1(A, r+c.x, A+1, (c.beta-c.alpha)/(c.beta+c.t))
		assertRel(t, fmt.Sprintf("Pareto branches %+v", c), lhs, rhs, 1e-12)
	}
}

func BenchmarkHyp2F1(b *testing.B) {
	for _, z := range []float64{0.3, 0.9, -4} {
		b.Run(fmt.Sprint("z=", z), func(b *testing.B) {
			for b.Loop() {
				Hyp2F1(2.243, 4.426, 5.219, z)
			}
		})
	}
}

// The Pareto/NBD likelihood sums its 2F1 in Euler-transformed form (see
// ParetoNBD.logU); it must equal the textbook U(t) = 2F1(A, s+1; A+1; z) /
// (alpha+t)^A, z = (alpha-beta)/(alpha+t), A = r+s+x, evaluated by Hyp2F1 for
// either sign of alpha-beta (Pfaff for z < 0), including z > 0.99 where
// logU switches to Hyp2F1's connection formula.
func TestParetoUMatchesTextbook(t *testing.T) {
	t.Parallel()
	for _, m := range []ParetoNBD{publishedParetoNBD, {R: 0.9, Alpha: 6, S: 1.3, Beta: 2}, {R: 0.9, Alpha: 500, S: 1.3, Beta: 2}, {R: 2, Alpha: 1, S: 0.4, Beta: 400}} {
		for _, c := range []struct{ x, t float64 }{{0, 0}, {0, 39}, {3, 20}, {40, 70}} {
			A := m.R + m.S + c.x
			want := Hyp2F1(A, m.S+1, A+1, (m.Alpha-m.Beta)/(m.Alpha+c.t)) * math.Pow(m.Alpha+c.t, -A)
			lnU, _ := m.logU(c.x, c.t, false)
			assertRel(t, fmt.Sprintf("%+v U(x=%g, t=%g)", m, c.x, c.t), math.Exp(lnU), want, 1e-11)
		}
	}
}
