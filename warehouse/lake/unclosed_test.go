package lake_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custmart/custmart/warehouse/lake"
)

// An unterminated quote makes the CSV reader take the rest of the file as one
// value. The file must fail whole, naming the line, with its lines counted
// as rejected, never load half of it.
func TestUnclosedQuoteFailsTheFileNamingTheLine(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var b strings.Builder
	b.WriteString("transaction_id,order_id,customer_id,ts,amount,quantity,unit_price,currency\n")
	for i := 1; i <= 101; i++ {
		if i == 51 {
			b.WriteString(`X1,OX1,"C1,2024-01-05 10:00:00,5.00,1,5.00,EUR` + "\n")
			continue
		}
		fmt.Fprintf(&b, "T%d,O%d,C%d,2024-01-05 10:00:00,5.00,1,5.00,EUR\n", i, i, i)
	}
	path := e.write("unclosed.csv", []byte(b.String()))
	report, err := e.ingest(e.shopSource(filepath.Dir(path), ""))
	if err == nil || !strings.Contains(err.Error(), "unclosed.csv line 52: a quoted value starts on this line and its quote is never closed") {
		t.Fatalf("want a failure naming file and line, got %v", err)
	}
	checkReconciled(t, report)
	f := fileResult(t, report, "unclosed.csv")
	if f.Status != lake.FileFailed || f.RowsLoaded != 0 || f.RowsRejected != 50 || f.RowsQuarantined != 1 || f.Reasons["unclosed_quote"] != 1 {
		t.Errorf("unclosed.csv: %+v", f)
	}
	if n, _ := e.lakeTotals(); n != 0 {
		t.Errorf("lake has %d rows of a refused file", n)
	}
	got := e.queryStrings("SELECT line || ' ' || reason_code FROM " + e.quarantineRel())
	if len(got) != 1 || got[0] != "52 unclosed_quote" {
		t.Errorf("quarantine %v, want the record at line 52", got)
	}
}

// The share checked against max_quarantine_share is over physical lines: a
// rejected record with quoted line breaks weighs as many lines as it spans.
func TestQuarantineShareCountsPhysicalLines(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var b strings.Builder
	b.WriteString("transaction_id,order_id,customer_id,ts,amount,quantity,unit_price,currency\n")
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&b, "T%d,O%d,C%d,2024-01-05 10:00:00,5.00,1,5.00,EUR\n", i, i, i)
	}
	// One bad record (amount) spanning 5 lines: 1 of 31 records, 5 of 35 lines.
	b.WriteString("B1,\"order\n\n\n\nend\",C1,2024-01-05 10:00:00,bad,1,5.00,EUR\n")
	path := e.write("spans.csv", []byte(b.String()))
	report, err := e.ingest(e.shopSource(filepath.Dir(path), ""))
	if err == nil || !strings.Contains(err.Error(), "14.3% of 35 lines rejected (bad_amount=1)") {
		t.Fatalf("want the share over lines, got %v", err)
	}
	checkReconciled(t, report)
	if f := fileResult(t, report, "spans.csv"); f.RowsRead != 31 || f.RowsQuarantined != 1 || f.RowsRejected != 30 {
		t.Errorf("spans.csv: %+v", f)
	}
}
