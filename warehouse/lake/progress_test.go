package lake_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custmart/custmart/warehouse/lake"
)

func TestProgressReportsRowsAndBytes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.in.SegmentBytes = 4 << 10 // several units
	var size int64
	for i := range 3 {
		var b strings.Builder
		b.WriteString("transaction_id,customer_id,ts,amount\n")
		for j := range 500 {
			fmt.Fprintf(&b, "P%d-%d,K%d,2024-03-01 10:00:00,%d.50\n", i, j, j%7, j)
		}
		e.write(fmt.Sprintf("p%d.csv", i), []byte(b.String()))
		size += int64(b.Len())
	}
	var seen []lake.Progress
	ctx := lake.WithProgress(context.Background(), func(p lake.Progress) { seen = append(seen, p) })
	src := e.source(`  - name: p
    path: ` + filepath.Join(e.dir, "in") + `
    columns: {transaction_id: transaction_id, customer_id: customer_id, ts: ts, amount: amount}
`)
	in := e.in
	report, err := in.Ingest(ctx, []lake.Source{src})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) < 3 {
		t.Fatalf("%d progress reports, want one per unit (several)", len(seen))
	}
	for i := 1; i < len(seen); i++ {
		if seen[i].Rows < seen[i-1].Rows || seen[i].Bytes < seen[i-1].Bytes {
			t.Fatalf("progress went back: %+v then %+v", seen[i-1], seen[i])
		}
	}
	last := seen[len(seen)-1]
	read, _, _, _ := report.Totals()
	if last.Rows != read || read != 1500 {
		t.Errorf("last report %d rows, read %d, want 1500", last.Rows, read)
	}
	if last.Bytes != size || last.BytesTotal != size || last.Elapsed <= 0 {
		t.Errorf("last report %d of %d bytes after %v, want %d", last.Bytes, last.BytesTotal, last.Elapsed, size)
	}
}

func TestBarAndLogProgress(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	bar := lake.NewBar(&out)
	bar.Report(lake.Progress{Rows: 1500000, Bytes: 50 << 20, BytesTotal: 200 << 20, Elapsed: 2 * time.Second, File: "/in/day-1.csv"})
	fmt.Fprintln(bar, "time=... msg=\"ingest file\"")
	bar.Done()
	got := out.String()
	want := "\r\033[Kingest [######------------------]  25% 1,500,000 rows  750,000/s  50.0 MiB of 200.0 MiB  day-1.csv" +
		"\r\033[Ktime=... msg=\"ingest file\"\n" +
		"\r\033[Kingest [######------------------]  25% 1,500,000 rows  750,000/s  50.0 MiB of 200.0 MiB  day-1.csv" +
		"\r\033[Kingest [######------------------]  25% 1,500,000 rows  750,000/s  50.0 MiB of 200.0 MiB  day-1.csv\n"
	if got != want {
		t.Errorf("bar wrote %q\nwant       %q", got, want)
	}

	var logs bytes.Buffer
	report := lake.LogProgress(slog.New(slog.NewTextHandler(&logs, nil)), time.Hour)
	report(lake.Progress{Rows: 10, Bytes: 100, Elapsed: time.Second})
	report(lake.Progress{Rows: 20, Bytes: 200, Elapsed: 2 * time.Second})
	if n := strings.Count(logs.String(), "msg=\"ingest progress\""); n != 1 || !strings.Contains(logs.String(), "rows=10 rows_per_s=10 bytes=100") {
		t.Errorf("log lines:\n%s", logs.String())
	}
}
