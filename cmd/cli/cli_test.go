package cli

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/custmart/custmart/fixtures"
	"github.com/custmart/custmart/fixtures/fixturestest"
	"github.com/custmart/custmart/warehouse"
)

// custmart runs the CLI in-process and returns exit code, stdout and stderr.
func custmart(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := DoContext(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := custmart(t, args...)
	if code != ExitOK {
		t.Fatalf("custmart %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func queryCSV(t *testing.T, args ...string) [][]string {
	t.Helper()
	out := mustRun(t, append([]string{"query", "--format", "csv"}, args...)...)
	records, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("query output is not CSV: %v\n%s", err, out)
	}
	return records
}

func TestRunOnFixturesReconcilesRevenue(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	// Reconciling to the cent needs no size: a few months of a few customers.
	const customers = "80"
	mustRun(t, "fixtures", "--data-dir", data, "--customers", customers, "--seed", "7", "--days", "120")
	truth, err := fixtures.ReadTruth(filepath.Join(data, "inbox"))
	if err != nil {
		t.Fatal(err)
	}
	asOf := truth.End.Format(time.DateOnly)
	out := mustRun(t, "run", "--data-dir", data, "--as-of", asOf)
	for _, want := range []string{"custmart run as of " + asOf + ": success", "customers  " + customers, "revenue    " + truth.Amount(), "custmart query"} {
		if !strings.Contains(out, want) {
			t.Errorf("run summary lacks %q:\n%s", want, out)
		}
	}

	got := queryCSV(t, "--data-dir", data, `SELECT count(*) AS customers, sum(net_revenue) AS revenue,
  (SELECT count(*) FROM rfm) AS rfm_rows, (SELECT sum(rows_read) FROM ingest_log) AS lines FROM customer_profile`)
	if got[0][0] != "customers" || got[1][0] != customers || got[1][1] != truth.Amount() || got[1][2] != customers || got[1][3] != itoa(truth.Lines) {
		t.Fatalf("marts %v; want %s customers, revenue %s, %d lines", got, customers, truth.Amount(), truth.Lines)
	}
	// Raw input = lake = marts, to the cent.
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var lakeRows int64
	var lakeSum string
	layout := warehouse.NewLayout(data)
	if err := db.QueryRow(`SELECT count(*), sum(amount)::VARCHAR FROM read_parquet(?)`, layout.TransactionsGlob()).Scan(&lakeRows, &lakeSum); err != nil {
		t.Fatal(err)
	}
	if lakeRows != truth.Lines || lakeSum != truth.Amount() {
		t.Fatalf("lake has %d rows summing %s; input %d lines summing %s", lakeRows, lakeSum, truth.Lines, truth.Amount())
	}

	// A second run for the same date changes nothing in the lake.
	mustRun(t, "run", "--data-dir", data, "--as-of", asOf)
	again := queryCSV(t, "--data-dir", data, `SELECT count(*), sum(rows_loaded) FROM ingest_log`)
	if again[1][1] != itoa(truth.Lines) {
		t.Fatalf("after a second run ingest_log says %v loaded, want %d", again[1], truth.Lines)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "custmart.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCDNOWMaster ingests the real CDNOW master file through a config
// mapping: whitespace-delimited, %Y%m%d dates, no order id.
func TestCDNOWMaster(t *testing.T) {
	if testing.Short() {
		t.Skip("ingests the whole CDNOW master file (69,659 lines); make test runs it")
	}
	t.Parallel()
	cfg := writeConfig(t, fixturestest.CDNOWMasterConfig(fixturestest.CDNOWFile(t, "CDNOW_master.txt")))
	data := filepath.Join(t.TempDir(), "data")
	mustRun(t, "run", "--config", cfg, "--data-dir", data, "--as-of", "1998-06-30")
	got := queryCSV(t, "--config", cfg, "--data-dir", data, `SELECT count(*), sum(net_revenue), sum(purchase_days) FROM customer_profile`)
	if got[1][0] != "23570" || got[1][1] != "2500315.63" || got[1][2] != "67591" {
		t.Fatalf("CDNOW master profile: %v; want 23570 customers, 2500315.63, 67591 purchase days", got[1])
	}
}

// TestCDNOWSampleInterface runs the configuration the backbone issue pins,
// verbatim but for the path, on the CDNOW sample.
func TestCDNOWSampleInterface(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the pipeline on the whole CDNOW sample (6,919 lines); make test runs it")
	}
	t.Parallel()
	cfg := writeConfig(t, fixturestest.CDNOWSampleConfig(fixturestest.CDNOWFile(t, "CDNOW_sample.txt")))
	data := filepath.Join(t.TempDir(), "data")
	mustRun(t, "run", "--config", cfg, "--data-dir", data, "--as-of", "1997-09-30")
	got := queryCSV(t, "--config", cfg, "--data-dir", data, `SELECT count(*), count(DISTINCT segment) > 3 FROM rfm`)
	if got[1][0] != "2357" || got[1][1] != "true" {
		t.Fatalf("rfm over the CDNOW sample: %v, want 2357 customers in several segments", got[1])
	}
	// The lake is plain Hive-partitioned Parquet with canonical columns.
	files, _ := filepath.Glob(filepath.Join(data, "lake", "transactions", "date=1997-*", "*.parquet"))
	if len(files) == 0 {
		t.Fatal("no lake files under lake/transactions/date=YYYY-MM-DD/")
	}
}

// TestQueryOutput: query's output is what scripts rely on, on the golden
// run: CSV is a header line and the rows, nothing else, and decimals keep
// their scale in CSV and JSON, as psql and DuckDB print them.
func TestQueryOutput(t *testing.T) {
	t.Parallel()
	data, _, _ := goldenData(t)
	code, out, _ := custmart(t, "query", "--data-dir", data, "--format", "csv",
		"SELECT customer_id, recency_days, orders, monetary, r_score, f_score, m_score, segment FROM rfm ORDER BY customer_id LIMIT 3")
	if code != 0 {
		t.Fatalf("query exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || lines[0] != "customer_id,recency_days,orders,monetary,r_score,f_score,m_score,segment" {
		t.Fatalf("stdout must be CSV with a header line and nothing else:\n%s", out)
	}
	got := queryCSV(t, "--data-dir", data, `SELECT 12.50::DECIMAL(10,2) AS a, 0::DECIMAL(10,2) AS b, -0.05::DECIMAL(10,2) AS c`)
	if got[1][0] != "12.50" || got[1][1] != "0.00" || got[1][2] != "-0.05" {
		t.Fatalf("decimals in CSV: %v, want 12.50, 0.00, -0.05", got[1])
	}
	if out := mustRun(t, "query", "--data-dir", data, "--format", "json", `SELECT 12.50::DECIMAL(10,2) AS a`); !strings.Contains(out, `"a": 12.50`) {
		t.Fatalf("decimals in JSON must keep their scale:\n%s", out)
	}
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	bad := writeConfig(t, "version: 2\nsources: []\n")
	unknownKey := writeConfig(t, "version: 1\nsorces: []\n")
	data := t.TempDir()
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"unknown command", []string{"frobnicate"}, ExitUsage, "unknown command"},
		{"unknown flag", []string{"run", "--frob"}, ExitUsage, "unknown flag"},
		{"bad as-of", []string{"run", "--data-dir", data, "--as-of", "30/09/1997"}, ExitUsage, "YYYY-MM-DD"},
		{"bad config version", []string{"run", "--config", bad, "--data-dir", data}, ExitUsage, "write `version: 1`"},
		{"misspelt config key", []string{"run", "--config", unknownKey, "--data-dir", data}, ExitUsage, "sorces"},
		{"missing config file", []string{"run", "--config", filepath.Join(data, "nope.yaml")}, ExitUsage, "custmart init"},
		{"nothing published", []string{"query", "--data-dir", data, "SELECT 1"}, ExitFailure, "run `custmart run` first"},
		{"bad log format", []string{"version", "--log-format", "xml"}, ExitUsage, "text or json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, errOut := custmart(t, c.args...)
			if code != c.code || !strings.Contains(errOut, c.msg) {
				t.Fatalf("exit %d (want %d), stderr %q should contain %q", code, c.code, errOut, c.msg)
			}
		})
	}
}

func TestSecondWriterIsRefusedWithTheHolder(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	lock, err := warehouse.AcquireWriter(warehouse.NewLayout(data), "custmart schedule (test)")
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	code, _, errOut := custmart(t, "transform", "--data-dir", data, "--as-of", "2024-01-01")
	if code != ExitFailure || !strings.Contains(errOut, "locked by pid") || !strings.Contains(errOut, "custmart schedule (test)") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestInitWritesAValidConfig(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "custmart.yaml")
	mustRun(t, "init", path)
	if code, _, _ := custmart(t, "init", path); code != ExitUsage {
		t.Fatalf("init over an existing file: exit %d, want %d", code, ExitUsage)
	}
	// The example points at an inbox next to it; create it so the whole run works.
	if err := os.MkdirAll(filepath.Join(filepath.Dir(path), "inbox"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := fixtures.Generate(context.Background(), fixtures.Options{Customers: 50, Out: filepath.Join(filepath.Dir(path), "inbox"), Days: 30}); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "run", "--config", path, "--data-dir", filepath.Join(t.TempDir(), "data"), "--as-of", "2024-01-30")
}

// A second ingest does not read the files it loaded (their size, times and
// inode are as recorded); --verify reads them all.
func TestIngestSkipsUnchangedFilesUnlessVerify(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	mustRun(t, "fixtures", "--data-dir", data, "--customers", "30", "--days", "20", "--seed", "3")
	time.Sleep(1100 * time.Millisecond) // past the racy window of the files just written
	files, _ := filepath.Glob(filepath.Join(data, "inbox", "*.csv"))
	mustRun(t, "ingest", "--data-dir", data, "--as-of", "2024-01-20")
	want := fmt.Sprintf("%d skipped files not read", len(files))
	if out := mustRun(t, "ingest", "--data-dir", data, "--as-of", "2024-01-20"); !strings.Contains(out, want) {
		t.Errorf("second ingest lacks %q:\n%s", want, out)
	}
	if out := mustRun(t, "ingest", "--data-dir", data, "--as-of", "2024-01-20", "--verify"); strings.Contains(out, "not read") || !strings.Contains(out, "skipped") {
		t.Errorf("ingest --verify:\n%s", out)
	}
}

// A lake file lost after ingest fails the next run, naming the file, while
// the published marts stay; ingest --repair reads the source file again and
// the run publishes the full revenue.
func TestLostLakeFileFailsTheRunUntilRepaired(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	mustRun(t, "fixtures", "--data-dir", data, "--customers", "60", "--seed", "3", "--days", "90")
	truth, err := fixtures.ReadTruth(filepath.Join(data, "inbox"))
	if err != nil {
		t.Fatal(err)
	}
	asOf := truth.End.Format(time.DateOnly)
	mustRun(t, "run", "--data-dir", data, "--as-of", asOf)
	files, _ := filepath.Glob(warehouse.NewLayout(data).TransactionsGlob())
	lost := files[len(files)/2]
	if err := os.Remove(lost); err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(data, lost)
	code, _, errOut := custmart(t, "run", "--data-dir", data, "--as-of", asOf)
	if code == ExitOK || !strings.Contains(errOut, "missing: "+filepath.ToSlash(rel)) || !strings.Contains(errOut, "run `custmart ingest --repair` to read these source files again: ") {
		t.Fatalf("run after a lost lake file: exit %d\n%s", code, errOut)
	}
	revenue := func() string {
		return queryCSV(t, "--data-dir", data, "SELECT sum(net_revenue) FROM customer_profile")[1][0]
	}
	if got := revenue(); got != truth.Amount() {
		t.Errorf("published revenue %s after the failed run, want the earlier %s", got, truth.Amount())
	}
	if code, _, errOut := custmart(t, "query", "--data-dir", data, "SELECT count(*) FROM lake_transactions"); code == ExitOK ||
		!strings.Contains(errOut, "committed file(s) are missing (lake/"+filepath.ToSlash(strings.TrimPrefix(rel, "lake/"))) {
		t.Errorf("query of the damaged lake: exit %d\n%s", code, errOut)
	}
	out := mustRun(t, "ingest", "--data-dir", data, "--repair")
	if !strings.Contains(out, "dropped "+filepath.ToSlash(rel)) || !strings.Contains(out, "loaded") {
		t.Errorf("repair output:\n%s", out)
	}
	if out := mustRun(t, "ingest", "--data-dir", data, "--repair"); !strings.Contains(out, "nothing to repair") {
		t.Errorf("second repair:\n%s", out)
	}
	mustRun(t, "run", "--data-dir", data, "--as-of", asOf)
	if got := revenue(); got != truth.Amount() {
		t.Errorf("revenue after repair %s, want %s", got, truth.Amount())
	}
	lake := queryCSV(t, "--data-dir", data, "SELECT count(*), sum(amount) FROM lake_transactions")
	if lake[1][0] != itoa(truth.Lines) || lake[1][1] != truth.Amount() {
		t.Errorf("lake after repair %v, want %d rows, %s", lake[1], truth.Lines, truth.Amount())
	}
}
