package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custmart/custmart/fixtures"
	"github.com/custmart/custmart/warehouse"
)

// dailyOnlyMarts record how the data got there (runs, ingested batches), not
// the data: a day-by-day history and one rebuild differ there by construction.
var dailyOnlyMarts = []string{"job_runs", "ingest_log"}

// TestDailyRunsEqualFullRebuild runs the pipeline day by day: new days, a
// late file for an old day, a correction file with a refund and a purchase
// before a customer's first one on old days, a re-delivered day without one
// customer's lines (their rows leave the lake), and a new customer's first
// purchase. Every daily run must rebuild the per-customer base by customer,
// not whole. Then the same inbox is built once into another data directory,
// and every published mart must be equal, value for value (DOUBLEs to 1e-9),
// as must those of a backfill to an earlier day (against one rebuild as of
// it), of the run after it, and of a --full-refresh.
func TestDailyRunsEqualFullRebuild(t *testing.T) {
	if testing.Short() {
		t.Skip("eleven pipeline runs over 300 customers; make test runs it")
	}
	t.Parallel()
	src, s := splitFixtures(t, 300)
	days := period(s)
	n := len(days)
	daily := filepath.Join(t.TempDir(), "daily")
	inbox := filepath.Join(daily, "inbox")
	cfg := writeReplaceConfig(t, filepath.Join(t.TempDir(), "daily.yaml"), inbox)
	run := func(asOf time.Time, extra ...string) string {
		args := append([]string{"run", "--config", cfg, "--data-dir", daily, "--as-of", asOf.Format(time.DateOnly)}, extra...)
		return mustRun(t, args...)
	}
	query := func(q string) [][]string {
		return queryCSV(t, "--data-dir", daily, q)
	}

	late, corrected := days[20], days[30]
	fillInbox(t, src, daily, days[:n-5], late)
	run(days[n-6])

	// A customer first seen late in the period, to buy on an old day.
	earlier := query(fmt.Sprintf("SELECT customer_id FROM customer_profile WHERE first_purchase > DATE '%s' ORDER BY customer_id LIMIT 1", days[40].Format(time.DateOnly)))
	if len(earlier) != 2 {
		t.Fatalf("no customer first bought after %s: %v", days[40].Format(time.DateOnly), earlier)
	}
	earlyBuyer := earlier[1][0]
	// A customer with lines on the corrected day, preferring one who bought
	// on no other day, so the re-delivery removes them from the marts.
	dayFile := filepath.Join(inbox, fixtures.DayFile(corrected))
	raw, err := os.ReadFile(dayFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	var onDay []string
	for _, l := range lines[1:] {
		onDay = append(onDay, warehouse.Quote(strings.Split(l, ",")[2]))
	}
	gone := query(fmt.Sprintf("SELECT customer_id FROM customer_profile WHERE customer_id IN (%s) ORDER BY purchase_days, customer_id LIMIT 1", strings.Join(onDay, ", ")))
	if len(gone) != 2 {
		t.Fatalf("no customer bought on %s", corrected.Format(time.DateOnly))
	}
	goneCustomer := gone[1][0]

	header := lines[0] + "\n"
	steps := []struct {
		name string
		add  func()
		asOf time.Time
	}{
		{"a new day", func() { fillInbox(t, src, daily, days[n-5:n-4]) }, days[n-5]},
		{"a late file for an old day", func() { fillInbox(t, src, daily, []time.Time{late, days[n-4]}) }, days[n-4]},
		{"a refund and a purchase before a customer's first on old days", func() {
			writeFile(t, filepath.Join(inbox, "corrections.csv"), header+
				fmt.Sprintf("TX-EARLY-1,OX-EARLY-1,%s,%s 10:00:00,P00001,2,15.50,31.00,EUR,web,\n", earlyBuyer, days[3].Format(time.DateOnly))+
				fmt.Sprintf("TX-REFUND-1,RX-REFUND-1,%s,%s 11:00:00,P00001,-1,15.50,-15.50,EUR,web,\n", earlyBuyer, days[12].Format(time.DateOnly)))
			fillInbox(t, src, daily, days[n-3:n-2])
		}, days[n-3]},
		{"a re-delivered day without one customer's lines", func() {
			var kept []string
			for _, l := range lines {
				if strings.Split(l, ",")[2] != goneCustomer {
					kept = append(kept, l)
				}
			}
			writeFile(t, dayFile, strings.Join(kept, "\n")+"\n")
			fillInbox(t, src, daily, days[n-2:n-1])
		}, days[n-2]},
		{"a new customer's first purchase", func() {
			writeFile(t, filepath.Join(inbox, "new-customer.csv"), header+
				fmt.Sprintf("TX-NEW-1,OX-NEW-1,CNEW-0001,%s 09:30:00,P00002,1,42.00,42.00,EUR,app,\n", s.End.Format(time.DateOnly)))
			fillInbox(t, src, daily, days[n-1:])
		}, s.End},
	}
	for _, st := range steps {
		st.add()
		out := run(st.asOf)
		for _, m := range []string{"customer_base", "customer_months", "daily_customer_sales"} {
			if !builtByKey(out, m) {
				t.Fatalf("%s: the daily run did not rebuild %s by key:\n%s", st.name, m, out)
			}
		}
	}
	// The history must hold what the steps meant, or equality proves little.
	for _, c := range []struct{ q, want string }{
		{fmt.Sprintf("SELECT first_purchase FROM customer_profile WHERE customer_id = '%s'", earlyBuyer), days[3].Format(time.DateOnly)},
		{"SELECT first_purchase FROM customer_profile WHERE customer_id = 'CNEW-0001'", s.End.Format(time.DateOnly)},
		{fmt.Sprintf("SELECT count(*) > 0 FROM customer_profile WHERE customer_id = '%s' AND refunds >= 15.50", earlyBuyer), "true"},
	} {
		if got := query(c.q); len(got) != 2 || got[1][0] != c.want {
			t.Fatalf("%s: got %v, want %s", c.q, got, c.want)
		}
	}
	dailyMarts := martTables(t, daily)
	for _, m := range []string{"customer_profile", "customer_value", "daily_sales", "cohort_retention", "churn"} {
		if len(dailyMarts[m].rows) == 0 {
			t.Fatalf("mart %s is empty: nothing to compare", m)
		}
	}

	rebuild := func(name string, asOf time.Time) map[string]table {
		dir := filepath.Join(t.TempDir(), name)
		if err := os.CopyFS(filepath.Join(dir, "inbox"), os.DirFS(inbox)); err != nil {
			t.Fatal(err)
		}
		c := writeReplaceConfig(t, filepath.Join(t.TempDir(), name+".yaml"), filepath.Join(dir, "inbox"))
		mustRun(t, "run", "--config", c, "--data-dir", dir, "--as-of", asOf.Format(time.DateOnly))
		return martTables(t, dir)
	}
	full := rebuild("full", s.End)
	assertSameTables(t, "one rebuild", full, "the daily runs", dailyMarts)

	// A backfill, as of a day before the lake's last: the base holds the
	// whole lake, so it is built whole as of that day, and the next run
	// builds it whole again.
	backfill := days[n-10]
	out := run(backfill)
	if builtByKey(out, "customer_base") {
		t.Fatalf("a backfill as of %s rebuilt customer_base by customer, not whole:\n%s", backfill.Format(time.DateOnly), out)
	}
	assertSameTables(t, "one rebuild as of "+backfill.Format(time.DateOnly), rebuild("past", backfill), "a backfill", martTables(t, daily))
	out = run(s.End)
	if builtByKey(out, "customer_base") {
		t.Fatalf("the run after a backfill rebuilt customer_base by customer, not whole:\n%s", out)
	}
	assertSameTables(t, "one rebuild", full, "the run after a backfill", martTables(t, daily))

	out = run(s.End, "--full-refresh")
	if builtByKey(out, "customer_base") {
		t.Fatalf("--full-refresh rebuilt customer_base by customer, not whole:\n%s", out)
	}
	assertSameTables(t, "one rebuild", full, "a full refresh", martTables(t, daily))
}

// builtByKey reports whether the run's summary shows model rebuilt for some
// keys only ("(12 changed keys)"), not whole.
func builtByKey(out, model string) bool {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == model {
			return strings.HasSuffix(l, "changed keys)")
		}
	}
	return false
}

func writeReplaceConfig(t *testing.T, path, inbox string) string {
	t.Helper()
	writeFile(t, path, fmt.Sprintf(`version: 1
sources:
  - name: sample
    path: %s
    columns: {transaction_id: transaction_id, order_id: order_id, customer_id: customer_id, ts: ts,
              amount: amount, quantity: quantity, unit_price: unit_price, currency: currency,
              channel: channel, store_id: store_id, product_id: product_id}
    cancellation_pattern: "^R"
    on_changed_file: replace
`, inbox))
	return path
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// martTables reads every published mart of the data directory's current
// version but the daily-only ones, as the golden test reads them.
func martTables(t *testing.T, data string) map[string]table {
	t.Helper()
	db := openCurrentVersion(t, data)
	defer db.Close()
	out := map[string]table{}
	for _, m := range publishedModels(t) {
		if !slices.Contains(dailyOnlyMarts, m.Name) {
			out[m.Name] = readMart(t, db, m, data)
		}
	}
	return out
}

// assertSameTables fails with every difference between two sets of marts,
// naming the mart, the row by its key and the column.
func assertSameTables(t *testing.T, wantName string, want map[string]table, gotName string, got map[string]table) {
	t.Helper()
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("mart %s: missing after %s", name, gotName)
			continue
		}
		if diffs := g.diff(w); len(diffs) > 0 {
			t.Errorf("mart %s: %s differs from %s (-%s +%s):\n%s", name, gotName, wantName, wantName, gotName, strings.Join(diffs, "\n"))
		}
	}
}
