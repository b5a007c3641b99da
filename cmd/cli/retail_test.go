package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// retailLine is one line of an export shaped like the public Online Retail
// data: invoices and C-prefixed cancellations, customer ids written as
// floats, guest checkouts with no customer id.
type retailLine struct {
	invoice, date, customer string
	quantity                int
	priceCents              int64
}

var retailLines = []retailLine{
	{"536365", "12/1/2010 8:26", "17850.0", 6, 255},
	{"536365", "12/1/2010 8:26", "17850.0", 8, 339},
	{"536370", "12/1/2010 8:45", "", 10, 85},
	{"536370", "12/1/2010 8:45", "", 4, 210},
	{"536367", "12/2/2010 9:10", "13047.0", 3, 169},
	{"C536379", "12/2/2010 9:41", "13047.0", -1, 169},
	{"536371", "12/2/2010 10:02", "", 1, 1275},
	{"C536380", "12/3/2010 11:00", "", -2, 85},
	{"C536391", "12/3/2010 11:12", "12583.0", -12, 165},
	{"536400", "12/3/2010 12:30", "17850.0", 2, 425},
}

func writeRetail(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n")
	for i, l := range retailLines {
		fmt.Fprintf(&b, "%s,%05d,\"ITEM, NO %d\",%d,%s,%d.%02d,%s,United Kingdom\n", l.invoice, 85000+i, i, l.quantity, l.date, l.priceCents/100, l.priceCents%100, l.customer)
	}
	path := filepath.Join(t.TempDir(), "retail", "2010-12.csv")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func retailConfig(t *testing.T, path, missing string) string {
	return writeConfig(t, `version: 1
sources:
  - name: retail
    path: `+path+`
    csv:
      timestamp_format: "%m/%d/%Y %H:%M"
    columns: {order_id: InvoiceNo, customer_id: CustomerID, ts: InvoiceDate, quantity: Quantity, unit_price: UnitPrice, product_id: StockCode}
    cancellation_pattern: "^C"
    integral_ids: true
    missing_customer_id: `+missing+`
`)
}

func cents(c int64) string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return fmt.Sprintf("%s%d.%02d", sign, c/100, c%100)
}

// Guest checkouts land with no customer under missing_customer_id:
// anonymous: counted in daily_sales (apart as guest columns), kept out of
// the per-customer marts, and not against the quarantine share; float ids
// join as integers; a customer with only cancellations is in the lake and
// in daily_sales but not in the customer count.
func TestGuestCheckoutsAndFloatIDs(t *testing.T) {
	t.Parallel()
	path := writeRetail(t)
	var total, guests, identified, cancelOnly int64
	var guestLines int
	customers := map[string]bool{}
	buyers := map[string]bool{}
	guestOrders, orders := map[string]bool{}, map[string]bool{}
	for _, l := range retailLines {
		amount := int64(l.quantity) * l.priceCents
		total += amount
		switch {
		case l.customer == "":
			guests += amount
			guestLines++
			if !strings.HasPrefix(l.invoice, "C") {
				guestOrders[l.invoice] = true
			}
		default:
			identified += amount
			customers[l.customer] = true
			if !strings.HasPrefix(l.invoice, "C") {
				buyers[l.customer] = true
				orders[l.invoice] = true
			}
		}
	}
	for c := range customers {
		if !buyers[c] {
			for _, l := range retailLines {
				if l.customer == c {
					cancelOnly += int64(l.quantity) * l.priceCents
				}
			}
		}
	}

	// By default a row without a customer is bad data: 4 of 10 lines is far
	// over the 5% share, and the file loads nothing.
	data := filepath.Join(t.TempDir(), "data")
	code, _, errOut := custmart(t, "run", "--config", retailConfig(t, path, "quarantine"), "--data-dir", data, "--as-of", "2010-12-31")
	if code == ExitOK || !strings.Contains(errOut, "40.0% of 10 lines rejected (missing_customer_id=4)") {
		t.Fatalf("quarantine policy: exit %d\n%s", code, errOut)
	}

	cfg := retailConfig(t, path, "anonymous")
	data = filepath.Join(t.TempDir(), "data")
	out := mustRun(t, "run", "--config", cfg, "--data-dir", data, "--as-of", "2010-12-31")
	if want := fmt.Sprintf("guests     %d orders, revenue %s", len(guestOrders), cents(guests)); !strings.Contains(out, want) {
		t.Errorf("run summary lacks %q:\n%s", want, out)
	}
	q := func(sql string) []string { return queryCSV(t, "--config", cfg, "--data-dir", data, sql)[1] }
	got := q(`SELECT count(*), count(*) FILTER (WHERE customer_id IS NULL), sum(amount)::VARCHAR,
  string_agg(DISTINCT customer_id, ' ' ORDER BY customer_id), count(*) FILTER (WHERE is_refund) FROM lake_transactions`)
	if want := []string{itoa(int64(len(retailLines))), itoa(int64(guestLines)), cents(total), "12583 13047 17850", "3"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("lake %v, want %v", got, want)
	}
	got = q(`SELECT sum(net_revenue)::VARCHAR, sum(identified_revenue)::VARCHAR, sum(guest_revenue)::VARCHAR, sum(guest_orders), sum(orders), max(customers) FROM daily_sales`)
	if want := []string{cents(total), cents(identified), cents(guests), itoa(int64(len(guestOrders))), itoa(int64(len(guestOrders) + len(orders))), "1"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("daily_sales %v, want %v", got, want)
	}
	got = q(`SELECT count(*), sum(net_revenue)::VARCHAR, (SELECT count(*) FROM rfm), (SELECT count(*) FROM customer_value WHERE customer_id IS NULL),
  (SELECT sum(rows_quarantined) FROM ingest_log) FROM customer_profile`)
	if want := []string{itoa(int64(len(buyers))), cents(identified - cancelOnly), itoa(int64(len(buyers))), "0", "0"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("customer marts %v, want %v", got, want)
	}
}

// Many refused files give one summary line per reason, and ingest's table
// one row per source and status; --verbose lists every file.
func TestManyRefusedFilesAreSummarised(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for day := 1; day <= 24; day++ {
		var b strings.Builder
		b.WriteString("InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n")
		fmt.Fprintf(&b, "5%02d01,85123,ITEM,2,12/%d/2010 9:00,2.55,17850.0,United Kingdom\n", day, day)
		if day > 3 { // a guest line: refused under the quarantine policy
			fmt.Fprintf(&b, "5%02d02,85123,ITEM,1,12/%d/2010 9:30,2.55,,United Kingdom\n", day, day)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("2010-12-%02d.csv", day)), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := retailConfig(t, filepath.Join(dir, "*.csv"), "quarantine")
	data := filepath.Join(t.TempDir(), "data")
	code, out, errOut := custmart(t, "ingest", "--config", cfg, "--data-dir", data)
	if code == ExitOK {
		t.Fatalf("ingest of refused files: exit 0\n%s", out)
	}
	for _, want := range []string{"21 files  failed", "3 files   loaded", "(one row per source and status; every file: --verbose, or the ingest_log mart)"} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "21 files mostly missing_customer_id (21 such rows); for example: ") || strings.Count(errOut, "\n") > 6 {
		t.Errorf("want one summary line, got:\n%s", errOut)
	}
	_, out, errOut = custmart(t, "ingest", "--config", cfg, "--data-dir", data, "--verbose")
	if n := strings.Count(out, "retail  2010-12-"); n != 24 {
		t.Errorf("--verbose lists %d files, want 24:\n%s", n, out)
	}
	if n := strings.Count(errOut, `msg="ingest file"`); n != 24 {
		t.Errorf("--verbose logs %d file lines, want 24", n)
	}
}
