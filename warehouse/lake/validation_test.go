package lake_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/custmart/custmart/warehouse/lake"
)

// copyBroken copies files of testdata/broken into the env's inbox.
func (e *env) copyBroken(names ...string) string {
	e.t.Helper()
	for _, n := range names {
		raw, err := os.ReadFile(filepath.Join("testdata", "broken", n))
		if err != nil {
			e.t.Fatal(err)
		}
		e.write(n, raw)
	}
	return filepath.Join(e.dir, "in")
}

type expectation struct {
	read, loaded, quarantined, duplicate int64
	// quarantined rows: line -> reason code
	lines map[int64]string
}

// brokenSet is what every rule file of testdata/broken must become.
var brokenSet = map[string]expectation{
	"01-clean.csv":            {read: 8, loaded: 8},
	"02-missing-customer.csv": {read: 5, loaded: 3, quarantined: 2, lines: map[int64]string{3: "missing_customer_id", 5: "missing_customer_id"}},
	"03-missing-ts.csv":       {read: 4, loaded: 3, quarantined: 1, lines: map[int64]string{4: "missing_ts"}},
	"04-bad-ts.csv":           {read: 5, loaded: 3, quarantined: 2, lines: map[int64]string{3: "bad_ts", 5: "bad_ts"}},
	"05-ts-window.csv":        {read: 5, loaded: 3, quarantined: 2, lines: map[int64]string{3: "ts_in_future", 5: "ts_before_floor"}},
	"06-missing-amount.csv":   {read: 4, loaded: 3, quarantined: 1, lines: map[int64]string{4: "missing_amount"}},
	"07-bad-numbers.csv":      {read: 6, loaded: 3, quarantined: 3, lines: map[int64]string{3: "bad_amount", 4: "bad_quantity", 5: "bad_unit_price"}},
	"08-bad-currency.csv":     {read: 4, loaded: 3, quarantined: 1, lines: map[int64]string{4: "bad_currency"}},
	"09-column-count.csv":     {read: 5, loaded: 3, quarantined: 2, lines: map[int64]string{3: "bad_column_count", 5: "bad_column_count"}},
	"10-invalid-utf8.csv":     {read: 4, loaded: 3, quarantined: 1, lines: map[int64]string{4: "invalid_utf8"}},
	"11-quoted.csv":           {read: 4, loaded: 3, quarantined: 1, lines: map[int64]string{7: "bad_amount"}},
}

func TestBrokenFilesEveryRule(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	names := slices.Sorted(maps.Keys(brokenSet))
	inbox := e.copyBroken(names...)
	src := e.shopSource(inbox, "    currencies: [EUR, USD]\n    max_quarantine_share: 0.5\n")
	report := e.mustIngest(src)
	checkReconciled(t, report)

	var read, loaded, quarantined int64
	for _, name := range names {
		want := brokenSet[name]
		f := fileResult(t, report, name)
		reasons := map[string]int64{}
		for _, r := range want.lines {
			reasons[r]++
		}
		if f.Status != lake.FileLoaded || f.RowsRead != want.read || f.RowsLoaded != want.loaded ||
			f.RowsQuarantined != want.quarantined || f.RowsDuplicate != 0 || !maps.Equal(f.Reasons, reasons) {
			t.Errorf("%s: %s read=%d loaded=%d quarantined=%d duplicate=%d reasons=%v; want read=%d loaded=%d quarantined=%d reasons=%v (%s)",
				name, f.Status, f.RowsRead, f.RowsLoaded, f.RowsQuarantined, f.RowsDuplicate, f.Reasons,
				want.read, want.loaded, want.quarantined, reasons, f.Message)
		}
		read, loaded, quarantined = read+want.read, loaded+want.loaded, quarantined+want.quarantined
		// The lake holds exactly the loaded rows of the file.
		var n int64
		if err := e.db().QueryRow("SELECT count(*) FROM "+e.lakeRel()+" WHERE source_file = ?", filepath.Join(inbox, name)).Scan(&n); err != nil || n != want.loaded {
			t.Errorf("%s: lake has %d rows (%v), want %d", name, n, err, want.loaded)
		}
		// Every quarantined row: its line, reason, raw text and a message naming the column.
		got := e.queryStrings("SELECT line, reason_code, raw, message, source FROM "+e.quarantineRel()+" WHERE file = ? ORDER BY line", filepath.Join(inbox, name))
		if len(got) != len(want.lines) {
			t.Errorf("%s: quarantine %v, want lines %v", name, got, want.lines)
			continue
		}
		for _, row := range got {
			parts := strings.Split(row, "|")
			var line int64
			fmt.Sscan(parts[0], &line)
			if want.lines[line] != parts[1] || parts[2] == "" || parts[3] == "" || parts[4] != "shop" {
				t.Errorf("%s: quarantined row %q; want line %d with reason %q, raw text, a message and the source", name, row, line, want.lines[line])
			}
		}
	}
	// Every reason is a documented code; the lake files have exactly the
	// canonical columns, in order.
	for _, reason := range e.queryStrings("SELECT DISTINCT reason_code FROM " + e.quarantineRel()) {
		if !slices.Contains(lake.ReasonCodes, reason) {
			t.Errorf("reason code %q is not in lake.ReasonCodes", reason)
		}
	}
	files, _ := filepath.Glob(e.layout.TransactionsGlob())
	cols := e.queryStrings("SELECT column_name || ' ' || column_type FROM (DESCRIBE SELECT * FROM read_parquet(?, hive_partitioning=false))", files[0])
	if !slices.Equal(cols, lake.TransactionSchema) {
		t.Errorf("lake file columns %v,\nwant %v", cols, lake.TransactionSchema)
	}
	r, l, q, d := report.Totals()
	if r != read || l != loaded || q != quarantined || d != 0 || r != l+q+d {
		t.Errorf("run totals read=%d loaded=%d quarantined=%d duplicate=%d; want %d = %d + %d", r, l, q, d, read, loaded, quarantined)
	}

	// Rows keep their meaning: raw text of a quarantined multi-line row,
	// messages with the offending value, refunds flagged, values cleaned.
	checks := map[string]string{
		"SELECT raw FROM " + e.quarantineRel() + " WHERE reason_code = 'bad_quantity'":                            "G3,OG3,K1,2024-03-01 10:00:00,10.00,two,10.00,EUR",
		"SELECT message FROM " + e.quarantineRel() + " WHERE reason_code = 'bad_unit_price'":                      "column unit_price: $3 is not a number",
		"SELECT message FROM " + e.quarantineRel() + " WHERE reason_code = 'ts_in_future'":                        "column ts: 2024-04-02 00:00:00 is after 2024-03-31 plus future_tolerance",
		"SELECT string_agg(transaction_id, ',' ORDER BY transaction_id) FROM " + e.lakeRel() + " WHERE is_refund": "A3,A4,A5",
		"SELECT customer_id || ' ' || currency FROM " + e.lakeRel() + " WHERE transaction_id = 'A2'":              "K7 EUR",
		"SELECT order_id FROM " + e.lakeRel() + " WHERE transaction_id = 'Q3'":                                    "order\nwith \"breaks\"\nin it",
		"SELECT source_line FROM " + e.lakeRel() + " WHERE transaction_id = 'Q3'":                                 "4",
		"SELECT count(*) FROM " + e.lakeRel() + " WHERE transaction_id IN ('A7', 'A8')":                           "2",
	}
	for q, want := range checks {
		if got := e.queryStrings(q); len(got) != 1 || got[0] != want {
			t.Errorf("%s\n got %q, want %q", q, got, want)
		}
	}
}

func TestQuarantineThresholdLoadsNothingFromTheFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	inbox := e.copyBroken("01-clean.csv", "12-threshold-ok.csv", "13-threshold-fail.csv")
	report, err := e.ingest(e.shopSource(inbox, ""))
	if err == nil || !strings.Contains(err.Error(), "13-threshold-fail.csv: 10.0% of 20 lines rejected (bad_amount=1 missing_customer_id=1), over the 5.0% limit") {
		t.Fatalf("want a failure naming the file and the share, got %v", err)
	}
	checkReconciled(t, report)
	for name, want := range map[string][4]int64{
		"01-clean.csv":          {8, 8, 0, 0},
		"12-threshold-ok.csv":   {20, 19, 1, 0},
		"13-threshold-fail.csv": {20, 0, 2, 18},
	} {
		f := fileResult(t, report, name)
		if f.RowsRead != want[0] || f.RowsLoaded != want[1] || f.RowsQuarantined != want[2] || f.RowsRejected != want[3] {
			t.Errorf("%s: read=%d loaded=%d quarantined=%d rejected=%d, want %v", name, f.RowsRead, f.RowsLoaded, f.RowsQuarantined, f.RowsRejected, want)
		}
	}
	if f := fileResult(t, report, "13-threshold-fail.csv"); f.Status != lake.FileFailed {
		t.Errorf("13-threshold-fail.csv: status %s, want failed", f.Status)
	}
	got := e.queryStrings("SELECT regexp_extract(source_file, '[^/]+$'), count(*) FROM " + e.lakeRel() + " GROUP BY 1 ORDER BY 1")
	if want := []string{"01-clean.csv|8", "12-threshold-ok.csv|19"}; !slices.Equal(got, want) {
		t.Errorf("lake by file %v, want %v", got, want)
	}
	// The refused file's bad rows are in quarantine, so the user sees why.
	got = e.queryStrings("SELECT line || ' ' || reason_code FROM " + e.quarantineRel() + " WHERE file LIKE '%13-threshold%' ORDER BY line")
	if want := []string{"20 bad_amount", "21 missing_customer_id"}; !slices.Equal(got, want) {
		t.Errorf("quarantine of the failed file %v, want %v", got, want)
	}
	// Fixed, the file loads on the next run.
	e.write("13-threshold-fail.csv", []byte(strings.ReplaceAll(strings.ReplaceAll(mustRead(t, filepath.Join(inbox, "13-threshold-fail.csv")), ",bad,", ",10.00,"), "L20,OL20,,", "L20,OL20,K1,")))
	report = e.mustIngest(e.shopSource(inbox, ""))
	if f := fileResult(t, report, "13-threshold-fail.csv"); f.Status != lake.FileLoaded || f.RowsLoaded != 20 {
		t.Errorf("fixed file: %+v", f)
	}
	if n, _ := e.lakeTotals(); n != 8+19+20 {
		t.Errorf("lake has %d rows, want 47", n)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func TestDuplicatesAcrossFilesAndBatches(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	inbox := e.copyBroken("16-dup-a.csv", "17-dup-b.csv")
	src := e.shopSource(inbox, "")
	report := e.mustIngest(src)
	checkReconciled(t, report)
	if f := fileResult(t, report, "16-dup-a.csv"); f.RowsLoaded != 4 || f.RowsDuplicate != 0 {
		t.Errorf("16-dup-a.csv: %+v", f)
	}
	// T3 was in 16-dup-a.csv, T5 repeats within the file.
	if f := fileResult(t, report, "17-dup-b.csv"); f.RowsRead != 4 || f.RowsLoaded != 2 || f.RowsDuplicate != 2 {
		t.Errorf("17-dup-b.csv: read=%d loaded=%d duplicate=%d, want 4, 2, 2", f.RowsRead, f.RowsLoaded, f.RowsDuplicate)
	}
	if got := e.queryStrings("SELECT source_line FROM " + e.lakeRel() + " WHERE transaction_id = 'T5'"); !slices.Equal(got, []string{"3"}) {
		t.Errorf("T5 kept from lines %v, want the first occurrence (line 3)", got)
	}
	// A later batch: T1 is in the lake already.
	e.write("18-dup-c.csv", []byte("transaction_id,order_id,customer_id,ts,amount,quantity,unit_price,currency\nT1,O1,K1,2024-03-02 10:00:00,99.00,1,99.00,EUR\nT7,O7,K1,2024-03-02 10:00:00,5.00,1,5.00,EUR\n"))
	report = e.mustIngest(src)
	checkReconciled(t, report)
	if f := fileResult(t, report, "18-dup-c.csv"); f.RowsRead != 2 || f.RowsLoaded != 1 || f.RowsDuplicate != 1 {
		t.Errorf("18-dup-c.csv: read=%d loaded=%d duplicate=%d, want 2, 1, 1", f.RowsRead, f.RowsLoaded, f.RowsDuplicate)
	}
	for _, name := range []string{"16-dup-a.csv", "17-dup-b.csv"} {
		if f := fileResult(t, report, name); f.Status != lake.FileSkipped {
			t.Errorf("%s: %s on the second run, want skipped", name, f.Status)
		}
	}
	got := e.queryStrings("SELECT transaction_id, count(*), sum(amount)::VARCHAR FROM " + e.lakeRel() + " GROUP BY 1 ORDER BY 1")
	want := []string{"T1|1|10.00", "T2|1|10.00", "T3|1|10.00", "T4|1|10.00", "T5|1|10.00", "T6|1|10.00", "T7|1|5.00"}
	if !slices.Equal(got, want) {
		t.Errorf("lake ids %v, want %v", got, want)
	}
}

func TestIdenticalRowsWithoutIDAreKept(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	row := "K1,2024-03-01,19.99\n"
	path := e.write("cdnow-like.csv", []byte("customer,day,dollars\n"+row+row+"K2,2024-03-01,5.00\n"+row))
	src := e.source(`  - name: nodup
    path: ` + path + `
    columns: {customer_id: customer, ts: day, amount: dollars}
`)
	report := e.mustIngest(src)
	f := fileResult(t, report, "cdnow-like.csv")
	if f.RowsRead != 4 || f.RowsLoaded != 4 || f.RowsDuplicate != 0 {
		t.Errorf("read=%d loaded=%d duplicate=%d, want 4 rows loaded", f.RowsRead, f.RowsLoaded, f.RowsDuplicate)
	}
	if n, sum := e.lakeTotals(); n != 4 || sum != "64.97" {
		t.Errorf("lake %d rows, %s total; want 4 rows, 64.97", n, sum)
	}
}

func TestLateDataLandsInItsOwnPartition(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	head := "transaction_id,order_id,customer_id,ts,amount,quantity,unit_price,currency\n"
	e.write("2024-03-30.csv", []byte(head+"M1,O1,K1,2024-03-30 09:00:00,10.00,1,10.00,EUR\nM2,O2,K2,2024-03-30 18:00:00,20.00,1,20.00,EUR\n"))
	src := e.shopSource(filepath.Join(e.dir, "in"), "")
	e.mustIngest(src)
	e.write("2024-03-31.csv", []byte(head+"M3,O3,K1,2024-03-31 08:00:00,5.00,1,5.00,EUR\nM4,O4,K3,2024-01-15 12:00:00,7.00,1,7.00,EUR\n"))
	report := e.mustIngest(src)
	late := fileResult(t, report, "2024-03-31.csv")
	files, _ := filepath.Glob(filepath.Join(e.layout.Transactions(), "date=2024-01-15", "*.parquet"))
	if len(files) != 1 || !strings.HasPrefix(filepath.Base(files[0]), late.BatchID) {
		t.Fatalf("late row partition files %v, want one file of batch %s", files, late.BatchID)
	}
	got := e.queryStrings("SELECT date::VARCHAR, transaction_id FROM " + e.lakeRel() + " ORDER BY 2")
	want := []string{"2024-03-30|M1", "2024-03-30|M2", "2024-03-31|M3", "2024-01-15|M4"}
	if !slices.Equal(got, want) {
		t.Errorf("lake %v, want %v", got, want)
	}
	m, err := lake.LoadManifest(e.layout)
	if err != nil {
		t.Fatal(err)
	}
	last := m.Batches()[len(m.Batches())-1]
	if !slices.Equal(last.Dates, []string{"2024-01-15", "2024-03-31"}) {
		t.Errorf("late batch dates %v", last.Dates)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	inbox := e.copyBroken("01-clean.csv", "07-bad-numbers.csv", "13-threshold-fail.csv", "16-dup-a.csv", "17-dup-b.csv")
	src := e.shopSource(inbox, "")
	e.in.DryRun = true
	report, err := e.ingest(src)
	if err == nil {
		t.Fatal("want the failing files reported as an error in a dry run too")
	}
	if _, statErr := os.Stat(e.layout.Root); !os.IsNotExist(statErr) {
		entries, _ := os.ReadDir(e.layout.Root)
		t.Fatalf("dry run wrote into the data directory: %v", entries)
	}
	checkReconciled(t, report)
	want := map[string][5]int64{ // read, loaded, quarantined, duplicate, failed
		"01-clean.csv":          {8, 8, 0, 0, 0},
		"07-bad-numbers.csv":    {6, 0, 3, 0, 1},
		"13-threshold-fail.csv": {20, 0, 2, 0, 1},
		"16-dup-a.csv":          {4, 4, 0, 0, 0},
		"17-dup-b.csv":          {4, 2, 0, 2, 0},
	}
	for name, w := range want {
		f := fileResult(t, report, name)
		failed := int64(0)
		if f.Status == lake.FileFailed {
			failed = 1
		} else if f.Status != lake.FileDryRun {
			t.Errorf("%s: status %s", name, f.Status)
		}
		if got := [5]int64{f.RowsRead, f.RowsLoaded, f.RowsQuarantined, f.RowsDuplicate, failed}; got != w {
			t.Errorf("%s: %v, want %v", name, got, w)
		}
	}
	if r := fileResult(t, report, "07-bad-numbers.csv").Reasons; r["bad_amount"] != 1 || r["bad_quantity"] != 1 || r["bad_unit_price"] != 1 {
		t.Errorf("07-bad-numbers.csv reasons %v", r)
	}
	// The real run gives the same counts.
	e.in.DryRun = false
	real, _ := e.ingest(src)
	for name := range want {
		d, r := fileResult(t, report, name), fileResult(t, real, name)
		if d.RowsRead != r.RowsRead || d.RowsLoaded != r.RowsLoaded || d.RowsQuarantined != r.RowsQuarantined || d.RowsDuplicate != r.RowsDuplicate {
			t.Errorf("%s: dry run %+v, real run %+v", name, d, r)
		}
	}
}

func TestKeysLoseSurroundingSpaceSeparators(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	path := e.write("blanks.csv", []byte("transaction_id,order_id,customer_id,ts,amount,quantity,unit_price,currency\n"+
		" T1 ,O1,K1,2024-03-01 10:00:00,1.00,1,1.00,EUR\n"+
		"\u00a0T2\u3000,O2, K2,2024-03-01 10:00:00,1.00,1,1.00,\u2009eur\n"+
		"\tT3,O3,K3\u00a0,2024-03-01 10:00:00,1.00,1,1.00,usd \n"+
		"Tö4 ,Oé5,Kü6,2024-03-01 10:00:00,1.00,1,1.00,EUR\n"))
	e.mustIngest(e.shopSource(path, ""))
	got := e.queryStrings("SELECT transaction_id, order_id, customer_id, currency FROM " + e.lakeRel() + " ORDER BY source_line")
	// Unicode space separators go; other white space (a tab) stays.
	want := []string{"T1|O1|K1|EUR", "T2|O2|K2|EUR", "\tT3|O3|K3|USD", "Tö4|Oé5|Kü6|EUR"}
	if !slices.Equal(got, want) {
		t.Errorf("lake keys %q, want %q", got, want)
	}
}
