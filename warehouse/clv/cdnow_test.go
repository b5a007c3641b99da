package clv

import (
	"context"
	"encoding/csv"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// cdnowSummary is Hardie's calibration summary of the CDNOW 1/10 sample
// (2,357 customers, weeks, as of 1997-09-30), see shared/datasets/README.md.
var cdnowSummary = filepath.Join("..", "..", "..", "shared", "datasets", "cdnow", "cdnow_customers_summary_with_transactions.csv")

type cdnowRow struct{ x, tx, T, zbar float64 }

func loadCDNOW(t testing.TB) []cdnowRow {
	t.Helper()
	f, err := os.Open(cdnowSummary)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("CDNOW summary not found at %s", cdnowSummary)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("read %s: %v", cdnowSummary, err)
	}
	if got := records[0]; len(got) != 5 || got[1] != "x" || got[2] != "t_x" || got[3] != "T" || got[4] != "zbar" {
		t.Fatalf("%s header = %v, want ID,x,t_x,T,zbar", cdnowSummary, got)
	}
	var rows []cdnowRow
	for i, rec := range records[1:] {
		var v [4]float64
		for k := range v {
			if v[k], err = strconv.ParseFloat(rec[k+1], 64); err != nil {
				t.Fatalf("%s line %d column %d: %v", cdnowSummary, i+2, k+2, err)
			}
		}
		rows = append(rows, cdnowRow{v[0], v[1], v[2], v[3]})
	}
	if len(rows) != 2357 {
		t.Fatalf("%s has %d customers, want 2357", cdnowSummary, len(rows))
	}
	return rows
}

// cdnowCustomers groups the summary by (x, t_x, T) as the SQL model does.
func cdnowCustomers(rows []cdnowRow) []Customer {
	type key struct{ x, tx, T float64 }
	index := map[key]int{}
	var out []Customer
	for _, r := range rows {
		k := key{r.x, r.tx, r.T}
		if i, ok := index[k]; ok {
			out[i].Weight++
			continue
		}
		index[k] = len(out)
		out = append(out, Customer{X: r.x, TX: r.tx, T: r.T, Weight: 1})
	}
	return out
}

func cdnowSpend(rows []cdnowRow) []Spend {
	var out []Spend
	for _, r := range rows {
		if r.x > 0 {
			out = append(out, Spend{X: r.x, M: r.zbar, Weight: 1})
		}
	}
	return out
}

func assertWithin(t *testing.T, name string, got, want, relTol float64) {
	t.Helper()
	if math.IsNaN(got) || math.Abs(got-want) > relTol*math.Abs(want) {
		t.Errorf("%s = %.5g, want %.5g within %.2g%%", name, got, want, relTol*100)
	}
}

func assertParams(t *testing.T, model string, got []Param, want []Param) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s params = %v, want %v", model, got, want)
	}
	for i := range want {
		if got[i].Name != want[i].Name {
			t.Errorf("%s param %d = %q, want %q", model, i, got[i].Name, want[i].Name)
		}
		assertWithin(t, model+" "+want[i].Name, got[i].Value, want[i].Value, 0.005)
	}
}

// publishedBGNBD and publishedParetoNBD are the CDNOW fits in docs/DOMAIN.md §4
// (Fader, Hardie & Lee 2005; Fader & Hardie's Pareto/NBD note).
var (
	publishedBGNBD     = BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426}
	publishedParetoNBD = ParetoNBD{R: 0.553, Alpha: 10.578, S: 0.606, Beta: 11.669}
)

// The published log-likelihoods are the same function as ours: FHL 2005
// equation (6) and equation (22) of Fader & Hardie's Pareto/NBD note are the
// full density of the observed purchase times given T, with no constant
// dropped (there is no combinatorial factor to drop: the data are event
// times, not counts), so no offset is needed. The density does depend on
// the time unit (it carries lambda^x, see TestCDNOWTimeUnit): -9582.4 is in
// weeks. At the rounded published parameters the likelihood is flat to
// well within 0.1, and the fitted optimum is at most a little higher.
func TestCDNOWBGNBD(t *testing.T) {
	t.Parallel()
	rows := loadCDNOW(t)
	data := cdnowCustomers(rows)

	if ll := publishedBGNBD.LogLikelihood(data); math.Abs(ll - -9582.4) > 0.1 {
		t.Errorf("BG/NBD log-likelihood at the published parameters = %.3f, want -9582.4 ± 0.1", ll)
	}

	m, fit, err := FitBGNBD(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("BG/NBD fit %+v on %d distinct triples: %+v", m, len(data), fit)
	assertParams(t, "bgnbd", m.Params(), publishedBGNBD.Params())
	if !fit.Converged() {
		t.Errorf("fit did not converge: %+v", fit)
	}
	if fit.Customers != 2357 {
		t.Errorf("fit.Customers = %g, want 2357", fit.Customers)
	}
	if math.Abs(fit.LogLikelihood - -9582.4) > 0.1 {
		t.Errorf("fitted log-likelihood = %.3f, want -9582.4 ± 0.1", fit.LogLikelihood)
	}
	if ll := m.LogLikelihood(data); ll != fit.LogLikelihood {
		t.Errorf("LogLikelihood(data) = %.6f, fit reported %.6f", ll, fit.LogLikelihood)
	}

	// FHL 2005 section 5: a customer with x=2, t_x=30.43, T=38.86 expects
	// 1.226 purchases in the next 39 weeks.
	for _, c := range []struct {
		name  string
		model BGNBD
	}{{"published", publishedBGNBD}, {"fitted", m}} {
		got := c.model.ExpectedPurchases(39, 2, 30.43, 38.86)
		if math.Round(got*1000)/1000 != 1.226 {
			t.Errorf("%s parameters: E[Y(39) | x=2, t_x=30.43, T=38.86] = %.5f, want 1.226", c.name, got)
		}
	}
}

func TestCDNOWParetoNBD(t *testing.T) {
	t.Parallel()
	rows := loadCDNOW(t)
	data := cdnowCustomers(rows)

	if ll := publishedParetoNBD.LogLikelihood(data); math.Abs(ll - -9595.0) > 0.1 {
		t.Errorf("Pareto/NBD log-likelihood at the published parameters = %.3f, want -9595.0 ± 0.1", ll)
	}
	m, fit, err := FitParetoNBD(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Pareto/NBD fit %+v: %+v", m, fit)
	assertParams(t, "pareto_nbd", m.Params(), publishedParetoNBD.Params())
	if !fit.Converged() {
		t.Errorf("fit did not converge: %+v", fit)
	}
	if math.Abs(fit.LogLikelihood - -9595.0) > 0.1 {
		t.Errorf("fitted log-likelihood = %.3f, want -9595.0 ± 0.1", fit.LogLikelihood)
	}
}

// Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value": fitted to
// the 946 CDNOW customers with repeat purchases, m = their mean repeat spend.
func TestCDNOWGammaGamma(t *testing.T) {
	t.Parallel()
	spend := cdnowSpend(loadCDNOW(t))
	if len(spend) != 946 {
		t.Fatalf("%d repeat buyers, want 946", len(spend))
	}
	m, fit, err := FitGammaGamma(context.Background(), spend)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Gamma-Gamma fit %+v: %+v", m, fit)
	assertParams(t, "gamma_gamma", m.Params(), []Param{{"p", 6.25}, {"q", 3.74}, {"gamma", 15.44}})
	if !fit.Converged() || fit.Customers != 946 {
		t.Errorf("fit = %+v, want converged on 946 customers", fit)
	}
}

// Changing the time unit (weeks to days) rescales alpha and beta by 7 and
// leaves the shape parameters alone; the log-likelihood moves by the
// Jacobian of the x purchase times, -sum(x) ln 7, since it is a density in
// time. This checks the start values and stopping rule do not depend on the
// unit.
func TestCDNOWTimeUnit(t *testing.T) {
	t.Parallel()
	weeks := cdnowCustomers(loadCDNOW(t))
	days := make([]Customer, len(weeks))
	var sumX float64
	for i, c := range weeks {
		days[i] = Customer{X: c.X, TX: 7 * c.TX, T: 7 * c.T, Weight: c.Weight}
		sumX += c.X * c.Weight
	}
	ctx := context.Background()
	bgW, fitW, err := FitBGNBD(ctx, weeks)
	if err != nil {
		t.Fatal(err)
	}
	bgD, fitD, err := FitBGNBD(ctx, days)
	if err != nil {
		t.Fatal(err)
	}
	pnW, pfitW, err := FitParetoNBD(ctx, weeks)
	if err != nil {
		t.Fatal(err)
	}
	pnD, pfitD, err := FitParetoNBD(ctx, days)
	if err != nil {
		t.Fatal(err)
	}
	scaled := func(ps []Param, k float64) []Param {
		for i := range ps {
			if ps[i].Name == "alpha" || ps[i].Name == "beta" {
				ps[i].Value *= k
			}
		}
		return ps
	}
	for _, c := range []struct {
		name            string
		weekly, daily   []Param
		llWeeks, llDays float64
	}{
		{"bgnbd", bgW.Params(), bgD.Params(), fitW.LogLikelihood, fitD.LogLikelihood},
		{"pareto_nbd", pnW.Params(), pnD.Params(), pfitW.LogLikelihood, pfitD.LogLikelihood},
	} {
		want := scaled(c.weekly, 7)
		for i := range want {
			assertRel(t, c.name+" "+want[i].Name+" in days", c.daily[i].Value, want[i].Value, 1e-4)
		}
		assertRel(t, c.name+" log-likelihood in days", c.llDays, c.llWeeks-sumX*math.Log(7), 1e-9)
	}
}
