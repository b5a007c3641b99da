package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custmart/custmart/fixtures"
	"github.com/custmart/custmart/jobs/bench"
	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/engine"
	"github.com/custmart/custmart/warehouse/publish"
)

// asCLIEnv makes the test binary act as the custmart binary, so that bench
// can run its stages as child processes of the test.
const asCLIEnv = "CUSTMART_TEST_AS_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(asCLIEnv) == "1" {
		os.Exit(Do(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	code := m.Run()
	if golden.dir != "" {
		os.RemoveAll(golden.dir)
	}
	os.Exit(code)
}

// Marts that record how the data got there (runs, batches) rather than the
// data: their rows differ between two histories by construction.
var historyMarts = []string{"job_runs"}

// Columns that identify a run or a batch, not the data.
var runColumns = []string{"batch_id", "started_at", "finished_at", "quarantined_at"}

// splitFixtures writes 60 days of fixtures and returns their directory and
// summary.
func splitFixtures(t *testing.T, customers int) (string, fixtures.Summary) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fixtures")
	mustRun(t, "fixtures", "--out", dir, "--customers", fmt.Sprint(customers), "--seed", "11", "--days", "60")
	s, err := fixtures.ReadTruth(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, s
}

// fillInbox copies the day files of src into <dataDir>/inbox, except those
// whose days are in skip.
func fillInbox(t *testing.T, src, dataDir string, days []time.Time, skip ...time.Time) {
	t.Helper()
	inbox := filepath.Join(dataDir, "inbox")
	if err := os.MkdirAll(inbox, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range days {
		if slices.ContainsFunc(skip, d.Equal) {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(src, fixtures.DayFile(d)))
		if os.IsNotExist(err) {
			continue // a day without sales
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(inbox, fixtures.DayFile(d)), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func period(s fixtures.Summary) []time.Time {
	var days []time.Time
	for d := s.Start; !d.After(s.End); d = d.AddDate(0, 0, 1) {
		days = append(days, d)
	}
	return days
}

// TestIncrementalRunEqualsFullRecompute loads all but two days (the last one
// and a late-arriving day in the middle), runs, adds them, runs again, and
// compares every published mart with one full run over all days.
func TestIncrementalRunEqualsFullRecompute(t *testing.T) {
	if testing.Short() {
		t.Skip("three pipeline runs over 150 customers; make test runs it")
	}
	t.Parallel()
	src, s := splitFixtures(t, 150)
	days := period(s)
	late, last := s.Start.AddDate(0, 0, 20), s.End
	asOf := s.End.Format(time.DateOnly)

	full := filepath.Join(t.TempDir(), "full")
	fillInbox(t, src, full, days)
	mustRun(t, "run", "--data-dir", full, "--as-of", asOf)

	inc := filepath.Join(t.TempDir(), "incremental")
	fillInbox(t, src, inc, days, late, last)
	mustRun(t, "run", "--data-dir", inc, "--as-of", s.End.AddDate(0, 0, -1).Format(time.DateOnly))
	fillInbox(t, src, inc, []time.Time{late, last})
	out := mustRun(t, "run", "--data-dir", inc, "--as-of", asOf)
	// The second run must really be incremental, or the equality proves nothing.
	if !strings.Contains(out, "(2 changed days)") {
		t.Fatalf("the daily run did not rebuild exactly the 2 new days of customer_daily:\n%s", out)
	}
	assertSameMarts(t, full, inc)
}

// TestSmallMemoryLimitGivesSameMarts runs the pipeline with a DuckDB memory
// limit far below the default, one thread and a temp directory to spill to,
// and compares every published mart with an unconstrained run.
func TestSmallMemoryLimitGivesSameMarts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 1,000 customers twice, once spilling under a 64 MiB limit; make test runs it")
	}
	t.Parallel()
	src, s := splitFixtures(t, 1000)
	days := period(s)
	asOf := s.End.Format(time.DateOnly)

	free := filepath.Join(t.TempDir(), "free")
	fillInbox(t, src, free, days)
	mustRun(t, "run", "--data-dir", free, "--as-of", asOf)

	limited := filepath.Join(t.TempDir(), "limited")
	fillInbox(t, src, limited, days)
	cfg := filepath.Join(limited, "custmart.yaml")
	writeLimitedConfig(t, cfg, filepath.Join(limited, "inbox"), "64MiB", filepath.Join(t.TempDir(), "spill"))
	mustRun(t, "run", "--config", cfg, "--data-dir", limited, "--as-of", asOf)
	assertSameMarts(t, free, limited)
}

func writeLimitedConfig(t *testing.T, path, inbox, limit, spill string) {
	t.Helper()
	raw := fmt.Sprintf(`version: 1
sources:
  - name: sample
    path: %s
    columns: {transaction_id: transaction_id, order_id: order_id, customer_id: customer_id, ts: ts,
              amount: amount, quantity: quantity, unit_price: unit_price, currency: currency,
              channel: channel, store_id: store_id, product_id: product_id}
    cancellation_pattern: "^R"
warehouse:
  memory_limit: %s
  temp_directory: %s
  threads: 1
`, inbox, limit, spill)
	if err := os.WriteFile(path, []byte(raw), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBareBaselineDoesTheSameWork checks that the bench compares like with
// like: the bare SQL's customer summary and RFM scores equal the published
// customer_profile and rfm marts of the same files.
func TestBareBaselineDoesTheSameWork(t *testing.T) {
	t.Parallel()
	src, s := splitFixtures(t, 150)
	data := filepath.Join(t.TempDir(), "data")
	fillInbox(t, src, data, period(s))
	mustRun(t, "run", "--data-dir", data, "--as-of", s.End.Format(time.DateOnly))
	ctx := context.Background()
	var rows []int64
	for _, step := range bench.BareSteps {
		n, err := bench.RunBare(ctx, step, filepath.Join(data, "inbox"), data, s.End, engine.Settings{})
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, n)
	}
	if rows[0] != s.Lines {
		t.Fatalf("bare copy wrote %d rows; the fixtures have %d lines", rows[0], s.Lines)
	}
	marts := publishedMarts(t, data)
	bare := bench.BareDir(data)
	db := openDuckDB(t)
	for _, c := range []struct{ bare, mart, cols string }{
		{"customer_summary", "customer_profile", "customer_id, first_purchase, last_purchase, orders, purchase_days, items, gross_revenue, refunds, net_revenue"},
		{"rfm", "rfm", "customer_id, recency_days, orders, monetary, r_score, f_score, m_score"},
	} {
		a := fmt.Sprintf("SELECT %s FROM read_parquet(%s)", c.cols, warehouse.Quote(filepath.Join(bare, c.bare+".parquet")))
		b := fmt.Sprintf("SELECT %s FROM read_parquet(%s)", c.cols, warehouse.Quote(marts[c.mart]))
		if diff, n := differences(t, db, a, b); diff != 0 || n == 0 {
			t.Errorf("bare %s and mart %s: %d differing rows of %d", c.bare, c.mart, diff, n)
		}
	}
}

// TestBenchCommand runs `custmart bench` at a tiny size with its stages in
// child processes and checks that the figures add up.
func TestBenchCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("runs custmart bench with its stages in child processes; make test runs it")
	}
	t.Setenv(asCLIEnv, "1")
	work, results := t.TempDir(), t.TempDir()
	out := mustRun(t, "bench", "--rows", "3000", "--sizes", "2000", "--work", work, "--results", results)
	for _, want := range []string{"Full run:", "Bare DuckDB baseline", "Incremental run:", "Scaling curve", "Targets:", "end to end / sum of bare stages"} {
		if !strings.Contains(out, want) {
			t.Errorf("bench output lacks %q:\n%s", want, out)
		}
	}
	files, err := filepath.Glob(filepath.Join(results, "*.json"))
	if err != nil || len(files) != 1 {
		t.Fatalf("want one results file in %s, got %v (%v)", results, files, err)
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var r bench.Results
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	truth, err := fixtures.ReadTruth(r.Fixtures[len(r.Fixtures)-1].Dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.Full == nil || r.Incremental == nil || r.Full.Lines+r.Incremental.NewLines != truth.Lines {
		t.Fatalf("full and incremental runs should load all %d lines between them: %+v %+v", truth.Lines, r.Full, r.Incremental)
	}
	for _, s := range append(r.Full.Stages, r.Bare...) {
		if (s.Kind == bench.KindStage || s.Kind == bench.KindBare) && (s.PeakRSSBytes < 1<<20 || s.Seconds <= 0) {
			t.Errorf("stage %s was not measured: %+v", s.Name, s)
		}
	}
	reported := false
	for _, s := range r.Full.Stages {
		reported = reported || (s.Name == "(report)" && s.Seconds > 0 && s.PeakRSSBytes > 1<<20)
	}
	if !reported {
		t.Error("the full run has no measured (report) row")
	}
	if r.Bare[0].Rows != r.Full.Lines {
		t.Errorf("bare copy wrote %d rows, custmart ingested %d", r.Bare[0].Rows, r.Full.Lines)
	}
	if len(r.Curve) != 2 || r.Curve[0].Lines >= r.Curve[1].Lines || r.Curve[1].Lines != r.Full.Lines {
		t.Errorf("curve %+v: want the 2000-line point, then the main run", r.Curve)
	}
	if len(r.Targets) == 0 {
		t.Error("no targets were checked")
	}
	// A second run reuses the cached fixtures.
	mustRun(t, "bench", "--rows", "3000", "--curve=false", "--bare=false", "--incremental=false", "--work", work, "--results", results)
	files, _ = filepath.Glob(filepath.Join(results, "*.json"))
	raw, _ = os.ReadFile(files[len(files)-1])
	var again bench.Results
	if err := json.Unmarshal(raw, &again); err != nil {
		t.Fatal(err)
	}
	if len(again.Fixtures) != 1 || !again.Fixtures[0].Cached {
		t.Errorf("second run did not reuse the cached fixtures: %+v", again.Fixtures)
	}
}

func openDuckDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// publishedMarts maps each mart of the current version to its Parquet file.
func publishedMarts(t *testing.T, dataDir string) map[string]string {
	t.Helper()
	l := warehouse.NewLayout(dataDir)
	version, _, err := publish.Current(l)
	if err != nil {
		t.Fatal(err)
	}
	info, err := publish.ReadInfo(l, version)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for m := range info.Marts {
		out[m] = filepath.Join(l.Version(version), m+".parquet")
	}
	return out
}

// assertSameMarts compares every published mart of two data directories as
// multisets of rows, leaving out what identifies a run or a batch and
// comparing input files by name.
func assertSameMarts(t *testing.T, wantDir, gotDir string) {
	t.Helper()
	want, got := publishedMarts(t, wantDir), publishedMarts(t, gotDir)
	if len(want) != len(got) {
		t.Fatalf("published marts differ: %v and %v", want, got)
	}
	db := openDuckDB(t)
	compared := 0
	for mart, wantFile := range want {
		gotFile, ok := got[mart]
		if !ok {
			t.Errorf("mart %s is missing from %s", mart, gotDir)
			continue
		}
		if slices.Contains(historyMarts, mart) {
			continue
		}
		cols := martColumns(t, db, wantFile)
		a := fmt.Sprintf("SELECT %s FROM read_parquet(%s)", cols, warehouse.Quote(wantFile))
		b := fmt.Sprintf("SELECT %s FROM read_parquet(%s)", cols, warehouse.Quote(gotFile))
		if diff, n := differences(t, db, a, b); diff != 0 {
			t.Errorf("mart %s: %d of %d rows differ", mart, diff, n)
		}
		compared++
	}
	if compared < 5 {
		t.Fatalf("only %d marts compared", compared)
	}
}

// martColumns is the select list of a mart without run identifiers, with
// file paths reduced to file names and floating-point values rounded to 9
// significant digits: DuckDB's parallel float sums (and fits over them) differ
// in the last bits between any two runs, incremental or not.
func martColumns(t *testing.T, db *sql.DB, file string) string {
	t.Helper()
	rows, err := db.Query("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))", file)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c, typ string
		if err := rows.Scan(&c, &typ); err != nil {
			t.Fatal(err)
		}
		q := warehouse.Ident(c)
		switch {
		case slices.Contains(runColumns, c):
		case c == "file":
			cols = append(cols, "regexp_replace(file, '^.*/', '') AS file")
		case typ == "DOUBLE" || typ == "FLOAT":
			cols = append(cols, fmt.Sprintf("CASE WHEN %[1]s = 0 OR NOT isfinite(%[1]s) THEN %[1]s ELSE round(%[1]s, 8 - CAST(floor(log10(abs(%[1]s))) AS INTEGER)) END AS %[1]s", q))
		default:
			cols = append(cols, warehouse.Ident(c))
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(cols, ", ")
}

// differences counts rows in a but not b plus rows in b but not a (as
// multisets), and the rows of a.
func differences(t *testing.T, db *sql.DB, a, b string) (diff, rows int64) {
	t.Helper()
	q := fmt.Sprintf(`SELECT (SELECT count(*) FROM ((%[1]s EXCEPT ALL %[2]s) UNION ALL (%[2]s EXCEPT ALL %[1]s))),
  (SELECT count(*) FROM (%[1]s))`, a, b)
	if err := db.QueryRow(q).Scan(&diff, &rows); err != nil {
		t.Fatalf("compare %s\nwith %s: %v", a, b, err)
	}
	return diff, rows
}
