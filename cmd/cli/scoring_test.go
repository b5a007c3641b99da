package cli

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/custmart/custmart/fixtures"
	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/publish"
)

// scoringSetup writes fixtures and a configuration with a feedback survey
// next to them, and returns the config path, the data dir and the survey.
func scoringSetup(t *testing.T, customers int) (cfg, data, survey string, asOf string) {
	t.Helper()
	dir := t.TempDir()
	inbox := filepath.Join(dir, "inbox")
	truth, err := fixtures.Generate(context.Background(), fixtures.Options{Customers: customers, Seed: 3, Out: inbox})
	if err != nil {
		t.Fatal(err)
	}
	survey = filepath.Join(dir, "survey.csv")
	if err := os.WriteFile(survey, []byte("customer,answered,score\nC0000001,2025-03-01,4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg = writeConfig(t, `version: 1
sources:
  - name: sample
    path: `+inbox+`
    columns: {transaction_id: transaction_id, order_id: order_id, customer_id: customer_id, ts: ts, amount: amount}
    cancellation_pattern: "^R"
model:
  feedback:
    path: `+survey+`
    columns: {customer_id: customer, date: answered, score: score}
    scale: 5
`)
	return cfg, filepath.Join(dir, "data"), survey, truth.End.Format(time.DateOnly)
}

// TestFailingCheckKeepsPublishedMarts: a data-quality check that fails in
// a scoring model (a survey answer above its scale) fails the run, names
// the check, the model and the row, and the marts published before stay
// the live ones.
func TestFailingCheckKeepsPublishedMarts(t *testing.T) {
	t.Parallel()
	const customers = 100
	cfg, data, survey, asOf := scoringSetup(t, customers)
	mustRun(t, "run", "--config", cfg, "--data-dir", data, "--as-of", asOf)
	layout := warehouse.NewLayout(data)
	before, _, err := publish.Current(layout)
	if err != nil {
		t.Fatal(err)
	}
	got := queryCSV(t, "--config", cfg, "--data-dir", data, `SELECT attitude FROM customer_value WHERE customer_id = 'C0000001'`)
	if got[1][0] != "high" {
		t.Fatalf("a 4 of 5 should be a high attitude, got %v", got)
	}

	if err := os.WriteFile(survey, []byte("customer,answered,score\nC0000001,2025-03-01,4\nC0000002,2025-03-02,7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := custmart(t, "run", "--config", cfg, "--data-dir", data, "--as-of", asOf)
	if code != ExitFailure {
		t.Fatalf("run with a score of 7 on a scale of 5: exit %d, want %d; stderr:\n%s", code, ExitFailure, errOut)
	}
	for _, want := range []string{"check sql", "model feedback", "1 failing row", "C0000002"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	after, _, err := publish.Current(layout)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Fatalf("published version moved from %v to %v after a failed check", before, after)
	}
	got = queryCSV(t, "--config", cfg, "--data-dir", data, `SELECT count(*) FROM customer_value`)
	if got[1][0] != strconv.Itoa(customers) {
		t.Fatalf("the live marts after the failed run: %v, want the previous %d customers", got, customers)
	}
}

// TestHoldoutFlag: run and transform refuse a --holdout-from that is not a
// date or is after --as-of, and the golden run's --holdout-from 2025-07-01
// fills clv_validation.
func TestHoldoutFlag(t *testing.T) {
	t.Parallel()
	data, asOf, _ := goldenData(t)
	for _, command := range []string{"run", "transform"} {
		for _, c := range []struct{ from, msg string }{
			{"01/07/2025", "YYYY-MM-DD"},
			{"2026-01-01", "after --as-of"},
		} {
			code, _, errOut := custmart(t, command, "--data-dir", t.TempDir(), "--as-of", asOf, "--holdout-from", c.from)
			if code != ExitUsage || !strings.Contains(errOut, c.msg) {
				t.Errorf("%s --holdout-from %s: exit %d, stderr %q; want %d and %q", command, c.from, code, errOut, ExitUsage, c.msg)
			}
		}
	}
	got := queryCSV(t, "--data-dir", data, `SELECT strftime(holdout_from, '%Y-%m-%d'), customers, actual_purchases > 0
FROM clv_validation WHERE model = 'bgnbd' AND bucket = 'total'`)
	if len(got) != 2 || got[1][0] != goldenHoldout || got[1][2] != "true" {
		t.Fatalf("clv_validation after --holdout-from %s: %v", goldenHoldout, got)
	}
	// The customers of the validation are the ones acquired before the holdout.
	want := queryCSV(t, "--data-dir", data, `SELECT count(*) FROM customer_value WHERE first_purchase < DATE '`+goldenHoldout+`'`)
	if got[1][1] != want[1][0] {
		t.Fatalf("validation covers %s customers, %s were acquired before the holdout", got[1][1], want[1][0])
	}
}

func TestScoringConfigErrors(t *testing.T) {
	t.Parallel()
	base := "version: 1\nsources:\n  - {name: s, path: inbox, columns: {customer_id: c, ts: t, amount: a}}\nmodel:\n"
	for _, c := range []struct{ model, msg string }{
		{"  feedback: {path: s.csv, columns: {customer_id: c, date: d}, scale: 10}", "model.feedback.columns.score"},
		{"  feedback: {path: s.csv, columns: {customer_id: c, date: d, score: s}}", "model.feedback.columns.scale"},
		{"  feedback: {path: s.csv, format: xlsx, columns: {customer_id: c, date: d, score: s}, scale: 5}", "model.feedback.format"},
		{"  campaign_response: {path: r.csv, columns: {customer_id: c, campaign_id: k, date: d, answered: r}}", "model.campaign_response.columns.answered"},
		{"  comparison_sample: -1", "model.comparison_sample"},
	} {
		cfg := writeConfig(t, base+c.model+"\n")
		code, _, errOut := custmart(t, "transform", "--config", cfg, "--data-dir", t.TempDir(), "--as-of", "2025-01-01")
		if code != ExitUsage || !strings.Contains(errOut, c.msg) {
			t.Errorf("%s: exit %d, stderr %q; want %d naming %s", c.model, code, errOut, ExitUsage, c.msg)
		}
	}
}
