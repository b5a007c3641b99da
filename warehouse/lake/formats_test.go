package lake_test

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/lake"
)

// sameRows is what every format case below must put in the lake.
var sameRows = []string{
	"T1|K1|2024-03-01 10:00:00|12.50|false",
	"T2|K2|2024-03-02 00:00:00|-3.00|true",
	"T3|K1|2024-03-03 23:59:59|100.00|false",
}

func gz(t *testing.T, p []byte) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(p); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return b.Bytes()
}

func zst(t *testing.T, p []byte) []byte {
	w, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	return w.EncodeAll(p, nil)
}

func TestFormats(t *testing.T) {
	t.Parallel()
	const canonical = "transaction_id,customer_id,ts,amount\nT1,K1,2024-03-01 10:00:00,12.50\nT2,K2,2024-03-02,-3\nT3,K1,2024-03-03 23:59:59,100\n"
	columns := "    columns: {transaction_id: transaction_id, customer_id: customer_id, ts: ts, amount: amount}\n"
	cases := []struct {
		name, file string
		content    func(t *testing.T) []byte
		options    string // source options besides name and path
	}{
		{"comma", "a.csv", func(*testing.T) []byte { return []byte(canonical) }, columns},
		{"semicolon, quoted, CRLF, BOM", "a.csv", func(*testing.T) []byte {
			return []byte("\ufefftransaction_id;customer_id;ts;amount\r\n\"T1\";K1;2024-03-01 10:00:00;12.50\r\nT2;\"K2\";2024-03-02;-3\r\nT3;K1;\"2024-03-03 23:59:59\";100\r\n")
		}, "    csv: {delimiter: \";\"}\n" + columns},
		{"pipe, single quotes with the delimiter inside", "a.txt", func(*testing.T) []byte {
			return []byte("id|who|when|what|note\nT1|K1|2024-03-01 10:00:00|12.50|'a|b'\nT2|K2|2024-03-02|-3|'it''s'\nT3|K1|2024-03-03 23:59:59|100|\n")
		}, "    csv: {delimiter: \"|\", quote: \"'\"}\n    columns: {transaction_id: id, customer_id: who, ts: when, amount: what}\n"},
		{"tab, no header", "a.tsv", func(*testing.T) []byte {
			return []byte("T1\tK1\t2024-03-01 10:00:00\t12.50\nT2\tK2\t2024-03-02\t-3\nT3\tK1\t2024-03-03 23:59:59\t100\n")
		}, "    csv: {delimiter: \"\\\\t\", header: false, names: [transaction_id, customer_id, ts, amount]}\n" + columns},
		{"whitespace with date format", "a.txt", func(*testing.T) []byte {
			return []byte("T1  K1 20240301100000 12.50\nT2\tK2   20240302000000  -3\n  T3 K1 20240303235959 100\n")
		}, "    csv: {delimiter: whitespace, header: false, names: [id, who, day, dollars], timestamp_format: \"%Y%m%d%H%M%S\"}\n    columns: {transaction_id: id, customer_id: who, ts: day, amount: dollars}\n"},
		{"timestamp format", "a.csv", func(*testing.T) []byte {
			return []byte("id,who,when,what\nT1,K1,01/03/2024 10:00:00,12.50\nT2,K2,02/03/2024 00:00:00,-3\nT3,K1,03/03/2024 23:59:59,100\n")
		}, "    csv: {timestamp_format: \"%d/%m/%Y %H:%M:%S\"}\n    columns: {transaction_id: id, customer_id: who, ts: when, amount: what}\n"},
		{"jsonl", "a.jsonl", func(*testing.T) []byte {
			return []byte(`{"id": "T1", "customer": {"id": "K1"}, "who": "K1", "at": "2024-03-01T10:00:00Z", "total": 12.5}
{"id": "T2", "who": "K2", "at": "2024-03-02", "total": -3}

{"id": "T3", "who": "K1", "at": "2024-03-04 01:59:59+02:00", "total": "100"}
`)
		}, "    format: jsonl\n    columns: {transaction_id: id, customer_id: who, ts: at, amount: total}\n"},
		{"gzip csv", "a.csv.gz", func(t *testing.T) []byte { return gz(t, []byte(canonical)) }, columns},
		{"zstd csv, no extension", "drop-7", func(t *testing.T) []byte { return zst(t, []byte(canonical)) }, columns},
		{"gzip jsonl", "a.jsonl.gz", func(t *testing.T) []byte {
			return gz(t, []byte("{\"id\":\"T1\",\"who\":\"K1\",\"at\":\"2024-03-01 10:00:00\",\"total\":12.5}\n{\"id\":\"T2\",\"who\":\"K2\",\"at\":\"2024-03-02\",\"total\":-3}\n{\"id\":\"T3\",\"who\":\"K1\",\"at\":\"2024-03-03 23:59:59\",\"total\":100}\n"))
		}, "    format: jsonl\n    columns: {transaction_id: id, customer_id: who, ts: at, amount: total}\n"},
		{"parquet", "a.parquet", parquetFile, "    format: parquet\n    columns: {transaction_id: id, customer_id: who, ts: stamp, amount: total}\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			path := e.write(c.file, c.content(t))
			report := e.mustIngest(e.source("  - name: f\n    path: " + path + "\n" + c.options))
			if f := fileResult(t, report, c.file); f.RowsRead != 3 || f.RowsLoaded != 3 {
				t.Fatalf("%+v", f)
			}
			got := e.queryStrings("SELECT transaction_id, customer_id, strftime(ts, '%Y-%m-%d %H:%M:%S'), amount::VARCHAR, is_refund FROM " + e.lakeRel() + " ORDER BY 1")
			if !slices.Equal(got, sameRows) {
				t.Errorf("lake %v,\nwant %v", got, sameRows)
			}
			lines := e.queryStrings("SELECT string_agg(source_line::VARCHAR, ',' ORDER BY transaction_id) FROM " + e.lakeRel())
			t.Logf("source lines %v", lines)
		})
	}
}

// parquetFile writes the rows with typed columns, as an export would.
func parquetFile(t *testing.T) []byte {
	path := filepath.Join(t.TempDir(), "p.parquet")
	db := (&env{t: t}).db()
	_, err := db.Exec(`COPY (SELECT * FROM (VALUES
  ('T1', 'K1', TIMESTAMP '2024-03-01 10:00:00', 12.50::DECIMAL(10,2)),
  ('T2', 'K2', TIMESTAMP '2024-03-02 00:00:00', -3::DECIMAL(10,2)),
  ('T3', 'K1', TIMESTAMP '2024-03-03 23:59:59', 100::DECIMAL(10,2))) t(id, who, stamp, total))
TO ` + warehouse.Quote(path) + ` (FORMAT parquet)`)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestGlobAndInboxAndChecksumSkip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	head := "transaction_id,order_id,customer_id,ts,amount,quantity,unit_price,currency\n"
	e.write("drops/day1.csv", []byte(head+"G1,O1,K1,2024-03-01 10:00:00,1.00,1,1.00,EUR\n"))
	e.write("drops/day2.csv", []byte(head+"G2,O2,K1,2024-03-02 10:00:00,2.00,1,2.00,EUR\n"))
	e.write("drops/.day3.csv.part", []byte(head+"G3,O3,K1,2024-03-03 10:00:00,3.00,1,3.00,EUR\n"))
	e.write("drops/notes.txt", []byte("not a drop"))

	glob := e.shopSource(filepath.Join(e.dir, "in", "drops", "day*.csv"), "")
	report := e.mustIngest(glob)
	if len(report.Files) != 2 {
		t.Fatalf("glob matched %d files, want day1 and day2: %+v", len(report.Files), report.Files)
	}
	// A copy of a file in the same drop is not loaded twice.
	e.write("drops/day1-copy.csv", []byte(head+"G1,O1,K1,2024-03-01 10:00:00,1.00,1,1.00,EUR\n"))
	// The same source again: skipped by checksum, even when renamed.
	if err := os.Rename(filepath.Join(e.dir, "in", "drops", "day2.csv"), filepath.Join(e.dir, "in", "drops", "day2-resent.csv")); err != nil {
		t.Fatal(err)
	}
	report = e.mustIngest(glob)
	for _, f := range report.Files {
		if f.Status != lake.FileSkipped {
			t.Errorf("%s: %s, want skipped (same content)", f.File, f.Status)
		}
	}
	if len(report.Files) != 3 {
		t.Errorf("%d results, want day1, day1-copy and day2-resent", len(report.Files))
	}
	// An inbox directory: dot files (partial uploads) are left alone; a
	// file that is not CSV fails with its name, the rest loads.
	inbox := e.source(`  - name: inbox
    path: ` + filepath.Join(e.dir, "in", "drops") + `
    columns: {transaction_id: transaction_id, customer_id: customer_id, ts: ts, amount: amount}
`)
	report, err := e.ingest(inbox)
	if err == nil || !strings.Contains(err.Error(), "notes.txt") {
		t.Fatalf("want notes.txt reported, got %v", err)
	}
	var names []string
	for _, f := range report.Files {
		names = append(names, filepath.Base(f.File)+":"+f.Status)
	}
	slices.Sort(names)
	if want := []string{"day1-copy.csv:loaded", "day1.csv:skipped", "day2-resent.csv:loaded", "notes.txt:failed"}; !slices.Equal(names, want) {
		t.Errorf("inbox results %v, want %v", names, want)
	}
	if n, sum := e.lakeTotals(); n != 4 || sum != "6.00" {
		t.Errorf("lake %d rows, %s; want the two rows once per source", n, sum)
	}
}

func TestChangedFilePolicies(t *testing.T) {
	t.Parallel()
	head := "transaction_id,order_id,customer_id,ts,amount,quantity,unit_price,currency\n"
	first := head + "P1,O1,K1,2024-03-01 10:00:00,1.00,1,1.00,EUR\nP2,O2,K1,2024-03-02 10:00:00,2.00,1,2.00,EUR\n"
	other := head + "Q1,O9,K9,2024-03-01 11:00:00,50.00,1,50.00,EUR\n"
	changed := head + "P1,O1,K1,2024-03-01 10:00:00,1.50,1,1.50,EUR\nP3,O3,K2,2024-03-03 10:00:00,3.00,1,3.00,EUR\n"

	t.Run("reject", func(t *testing.T) {
		e := newEnv(t)
		path := e.write("orders.csv", []byte(first))
		e.write("other.csv", []byte(other))
		src := e.shopSource(filepath.Join(e.dir, "in"), "")
		e.mustIngest(src)
		e.write("orders.csv", []byte(changed))
		report, err := e.ingest(src)
		if err == nil || !strings.Contains(err.Error(), path+" changed after it was ingested") || !strings.Contains(err.Error(), "on_changed_file: replace") {
			t.Fatalf("want the changed file reported with the fix, got %v", err)
		}
		if f := fileResult(t, report, "orders.csv"); f.Status != lake.FileChanged {
			t.Errorf("status %s", f.Status)
		}
		if got := e.queryStrings("SELECT string_agg(transaction_id || '=' || amount, ',' ORDER BY transaction_id) FROM " + e.lakeRel()); got[0] != "P1=1.00,P2=2.00,Q1=50.00" {
			t.Errorf("lake %v: the old rows must stay", got)
		}
	})
	t.Run("replace", func(t *testing.T) {
		e := newEnv(t)
		e.write("orders.csv", []byte(first))
		e.write("other.csv", []byte(other))
		src := e.shopSource(filepath.Join(e.dir, "in"), "    on_changed_file: replace\n")
		e.mustIngest(src)
		e.write("orders.csv", []byte(changed))
		report := e.mustIngest(src)
		if f := fileResult(t, report, "orders.csv"); f.Status != lake.FileLoaded || f.RowsLoaded != 2 || f.RowsDuplicate != 0 {
			t.Errorf("replaced file: %+v (P1 is not a duplicate of the row it replaces)", f)
		}
		// Exactly the new rows of the file, and the other file's rows untouched.
		if got := e.queryStrings("SELECT string_agg(transaction_id || '=' || amount, ',' ORDER BY transaction_id) FROM " + e.lakeRel()); got[0] != "P1=1.50,P3=3.00,Q1=50.00" {
			t.Errorf("lake %v, want P1=1.50,P3=3.00,Q1=50.00", got)
		}
		// Replacing again, then restoring the first content, still leaves one copy.
		e.write("orders.csv", []byte(first))
		e.mustIngest(src)
		if got := e.queryStrings("SELECT string_agg(transaction_id || '=' || amount, ',' ORDER BY transaction_id) FROM " + e.lakeRel()); got[0] != "P1=1.00,P2=2.00,Q1=50.00" {
			t.Errorf("lake after the second replace %v", got)
		}
		m, err := lake.LoadManifest(e.layout)
		if err != nil {
			t.Fatal(err)
		}
		live := 0
		for _, lf := range m.Live() {
			if filepath.Base(lf.File) == "orders.csv" {
				live++
			}
		}
		if live != 1 {
			t.Errorf("%d live entries for orders.csv", live)
		}
	})
}
