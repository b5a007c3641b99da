package lake_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// No silent coercion: extra decimals and exponents are rejected with a
// reason, not rounded, below 10^8 and above it (the precision check takes a
// 64-bit or a 128-bit decimal); control characters and overlong ids are
// rejected; ids in NFC and NFD are one customer.
func TestNoSilentCoercions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	long := strings.Repeat("x", 300)
	csv := "transaction_id,order_id,customer_id,ts,amount,quantity,unit_price,currency\n" +
		"T1,O1,K1,2024-01-05 10:00:00,12.345,1,5.00,EUR\n" + // line 2: amount_precision
		"T2,O2,K1,2024-01-05 10:00:00,1e3,1,5.00,EUR\n" + // line 3: bad_amount
		"T3,O3,K\x001,2024-01-05 10:00:00,5.00,1,5.00,EUR\n" + // line 4: bad_id
		"T4,O4," + long + ",2024-01-05 10:00:00,5.00,1,5.00,EUR\n" + // line 5: bad_id
		"T5,O5,Zo\u00eb,2024-01-05 10:00:00,5.00,1,5.00,EUR\n" + // NFC
		"T6,O6,Zoe\u0308,2024-01-05 10:00:00,5.10,1,5.00,EUR\n" + // NFD
		"T7,O7,K2,2024-01-05 10:00:00,12.30,1,5.00,EUR\n" +
		"T8,O8,K3,2024-01-05 10:00:00,123456789.001,1,5.00,EUR\n" + // line 9: amount_precision
		"T9,O9,K3,2024-01-05 10:00:00,1234567890.50,1,5.00,EUR\n" +
		"T10,O10,K3,2024-01-05 10:00:00,99999999.995,1,5.00,EUR\n" + // line 11: amount_precision
		"T11,O11,K4,2024-01-05 10:00:00,12.34000000000001,1,5.00,EUR\n" + // past ten decimals: 12.34
		"T12,O12,K4,2024-01-05 10:00:00,12.3400000001,1,5.00,EUR\n" // line 13: amount_precision
	path := e.write("coerce.csv", []byte(csv))
	report, err := e.ingest(e.shopSource(filepath.Dir(path), "    max_quarantine_share: 0.9\n"))
	if err != nil {
		t.Fatal(err)
	}
	checkReconciled(t, report)
	got := e.queryStrings("SELECT line || ' ' || reason_code FROM " + e.quarantineRel() + " ORDER BY line")
	if want := []string{"2 amount_precision", "3 bad_amount", "4 bad_id", "5 bad_id", "9 amount_precision", "11 amount_precision", "13 amount_precision"}; !slices.Equal(got, want) {
		t.Errorf("quarantine %v, want %v", got, want)
	}
	got = e.queryStrings("SELECT customer_id || ' ' || count(*) || ' ' || sum(amount) FROM " + e.lakeRel() + " GROUP BY customer_id ORDER BY 1")
	if want := []string{"K2 1 12.30", "K3 1 1234567890.50", "K4 1 12.34", "Zo\u00eb 2 10.10"}; !slices.Equal(got, want) {
		t.Errorf("lake %q, want %q", got, want)
	}
}

// integral_ids turns float-formatted customer ids into the integers they are.
func TestIntegralIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	csv := "transaction_id,order_id,customer_id,ts,amount,quantity,unit_price,currency\n" +
		"T1,O1,17850.0,2024-01-05 10:00:00,5.00,1,5.00,EUR\n" +
		"T2,O2,17850,2024-01-05 10:00:00,5.00,1,5.00,EUR\n" +
		"T3,O3,12.5,2024-01-05 10:00:00,5.00,1,5.00,EUR\n"
	path := e.write("floats.csv", []byte(csv))
	e.mustIngest(e.shopSource(filepath.Dir(path), "    integral_ids: true\n"))
	got := e.queryStrings("SELECT customer_id || ' ' || count(*) FROM " + e.lakeRel() + " GROUP BY customer_id ORDER BY 1")
	if want := []string{"12.5 1", "17850 2"}; !slices.Equal(got, want) {
		t.Errorf("lake %q, want %q", got, want)
	}
}
