package lake_test

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/custmart/custmart/warehouse/lake"
)

// A history export: one file ordered by customer, so every segment of it
// spans all of its 730 days. Read in one partitioned write, a segment needs
// a buffer per day, far more than the 128 MiB limit; ingest stays within it.
func TestIngestHistoryExportWithinMemoryLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("streams a multi-year history export under a memory limit; make test runs it")
	}
	t.Parallel()
	e := newEnv(t)
	e.in.Engine.MemoryLimit = "128MiB"
	const rows, days = 600_000, 730
	first := e.asOf.AddDate(0, 0, -days)
	perDay := map[string]int64{}
	var badLines []string
	var csv bytes.Buffer
	csv.WriteString("transaction_id,order_id,customer_id,ts,amount,quantity,unit_price,currency\n")
	for i := range rows {
		day := first.AddDate(0, 0, (i*7919)%days)
		ts := day.Add(time.Duration(i%86400) * time.Second).Format("2006-01-02 15:04:05")
		amount := fmt.Sprintf("%d.%02d", i%1000, i%100)
		if i%100_003 == 7 {
			amount = "n/a"
			badLines = append(badLines, fmt.Sprint(i+2)) // after the header, from 1
		} else {
			perDay[day.Format(time.DateOnly)]++
		}
		fmt.Fprintf(&csv, "T%07d,O%07d,C%06d,%s,%s,1,%s,EUR\n", i, i, i/60, ts, amount, amount)
	}
	if csv.Len() <= 32<<20 { // the default segment size
		t.Fatalf("the export is %d bytes: one segment only", csv.Len())
	}
	path := e.write("history.csv", csv.Bytes())
	report := e.mustIngest(e.shopSource(path, ""))
	checkReconciled(t, report)
	loaded := int64(rows - len(badLines))
	f := fileResult(t, report, "history.csv")
	if f.RowsRead != rows || f.RowsLoaded != loaded || f.RowsQuarantined != int64(len(badLines)) || f.RowsDuplicate != 0 {
		t.Fatalf("read %d, loaded %d, quarantined %d, duplicate %d; want %d, %d, %d, 0",
			f.RowsRead, f.RowsLoaded, f.RowsQuarantined, f.RowsDuplicate, rows, loaded, len(badLines))
	}

	if n, _ := e.lakeTotals(); n != loaded {
		t.Errorf("the lake holds %d rows, want %d", n, loaded)
	}
	got := e.queryStrings("SELECT CAST(date AS VARCHAR), count(*) FROM " + e.lakeRel() + " GROUP BY 1 ORDER BY 1")
	var want []string
	for d := range days {
		day := first.AddDate(0, 0, d).Format(time.DateOnly)
		want = append(want, fmt.Sprintf("%s|%d", day, perDay[day]))
	}
	if !slices.Equal(got, want) {
		t.Errorf("rows by day differ: %d days in the lake, want %d", len(got), len(want))
	}
	// Line numbers stay physical across segments.
	if got := e.queryStrings("SELECT CAST(line AS VARCHAR) FROM " + e.quarantineRel() + " ORDER BY line"); !slices.Equal(got, badLines) {
		t.Errorf("quarantined lines %v, want %v", got, badLines)
	}
	if got := e.queryStrings("SELECT count(DISTINCT source_line) FROM " + e.lakeRel()); got[0] != fmt.Sprint(loaded) {
		t.Errorf("%s distinct source lines, want %d", got[0], loaded)
	}

	m, err := lake.LoadManifest(e.layout)
	if err != nil {
		t.Fatal(err)
	}
	live := m.Live()
	if len(live) != 1 || live[0].RowsLoaded != loaded || live[0].RowsQuarantined != int64(len(badLines)) {
		t.Fatalf("manifest %+v, want one file with %d rows loaded and %d quarantined", live, loaded, len(badLines))
	}
}
