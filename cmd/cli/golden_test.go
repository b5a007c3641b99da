package cli

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/custmart/custmart/fixtures"
	models "github.com/custmart/custmart/sql"
	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/publish"
)

// update rewrites the golden marts: make golden, or
// go test -tags duckdb_arrow ./cmd/cli -run TestGoldenMarts -update
var update = flag.Bool("update", false, "rewrite testdata/golden from the marts the test builds")

const (
	goldenDir = "testdata/golden"
	// goldenTolerance bounds how far a DOUBLE may move: |got - want| <=
	// goldenTolerance * max(1, |want|), absolute near zero and relative above one.
	goldenTolerance = 1e-9
	// goldenNull stands for SQL NULL in the golden files, as in PostgreSQL's COPY.
	goldenNull = `\N`
	// goldenMaxDiffs caps the differences reported per mart.
	goldenMaxDiffs = 20
)

// The golden fixture: fixed seed, size and period, and a fixed as-of date,
// so every mart is a pure function of the code. On top of the generated days,
// one file adds goldenExtraRows good rows and one bad row (so quarantine has
// content), and the run holds out the days from goldenHoldout (so
// clv_validation has).
var goldenFixture = fixtures.Options{Customers: 200, Seed: 20}

const (
	goldenExtraRows = 40
	goldenHoldout   = "2025-07-01"
)

// golden is the data directory the golden fixture was run into, built once
// for the tests that only read it (TestGoldenMarts, TestReport), with the
// run's summary; TestMain removes it.
var golden struct {
	once      sync.Once
	dir, data string
	asOf, out string
	err       error
}

// goldenData returns the data directory of the golden run and its summary,
// building it on first use. Its readers must not write to it.
func goldenData(t *testing.T) (data, asOf, runOut string) {
	t.Helper()
	golden.once.Do(func() {
		golden.dir, golden.err = os.MkdirTemp("", "custmart-golden-")
		if golden.err != nil {
			return
		}
		golden.data = filepath.Join(golden.dir, "data")
		opts := goldenFixture
		opts.Out = filepath.Join(golden.data, "inbox")
		sum, err := fixtures.Generate(context.Background(), opts)
		if err != nil {
			golden.err = err
			return
		}
		var b strings.Builder
		b.WriteString("transaction_id,order_id,customer_id,ts,product_id,quantity,unit_price,amount,currency,channel,store_id\n")
		for i := range goldenExtraRows {
			fmt.Fprintf(&b, "TX%03d,OX%03d,C9000001,2025-06-01 10:%02d:00,P00001,1,5.00,5.00,EUR,web,\n", i, i, i)
		}
		b.WriteString("TXBAD,OXBAD,C9000001,not a time,P00001,1,5.00,5.00,EUR,web,\n")
		if golden.err = os.WriteFile(filepath.Join(opts.Out, "extra-2025-06-01.csv"), []byte(b.String()), 0o644); golden.err != nil {
			return
		}
		golden.asOf = sum.End.Format("2006-01-02")
		var out, errOut bytes.Buffer
		if code := DoContext(context.Background(), []string{"run", "--data-dir", golden.data, "--as-of", golden.asOf, "--holdout-from", goldenHoldout},
			strings.NewReader(""), &out, &errOut); code != ExitOK {
			golden.err = fmt.Errorf("custmart run on the golden fixture: exit %d\n%s%s", code, out.String(), errOut.String())
		}
		golden.out = out.String()
	})
	if golden.err != nil {
		t.Fatal(golden.err)
	}
	return golden.data, golden.asOf, golden.out
}

// goldenVolatile are columns that change from run to run whatever the code
// (run and batch ids, wall-clock times, the published version): they are left
// out of the golden files. Paths under the data directory are written relative
// to it.
var goldenVolatile = map[string][]string{
	"ingest_log": {"batch_id", "started_at", "finished_at"},
	"job_runs":   {"run_id", "scheduled_at", "started_at", "finished_at", "duration_seconds", "published_version", "model_timings"},
	"quarantine": {"batch_id", "quarantined_at"},
}

// TestGoldenMarts pins the content of every published mart: the pipeline
// runs on a fixed fixture and each mart is compared, value for value, with
// testdata/golden/<mart>.csv (DOUBLE columns to goldenTolerance). A model
// change shows up in review as a diff of those files.
func TestGoldenMarts(t *testing.T) {
	t.Parallel()
	data, _, _ := goldenData(t)
	db := openCurrentVersion(t, data)
	marts := publishedModels(t)
	for _, mart := range marts {
		got := readMart(t, db, mart, data)
		path := filepath.Join(goldenDir, mart.Name+".csv")
		if *update {
			writeGolden(t, path, got)
			continue
		}
		want, err := readGolden(path)
		if err != nil {
			t.Errorf("mart %s: %v (make golden writes it)", mart.Name, err)
			continue
		}
		if diffs := got.diff(want); len(diffs) > 0 {
			t.Errorf("mart %s moved (-golden +got); if the change is intended, run make golden and review the diff:\n%s",
				mart.Name, strings.Join(diffs, "\n"))
		}
	}
	// A golden file without a mart is a mart that is no longer published.
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.csv"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".csv")
		if slices.ContainsFunc(marts, func(m models.Model) bool { return m.Name == name }) {
			continue
		}
		if *update {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Errorf("%s: mart %s is no longer published (make golden removes the file)", f, name)
	}
}

// publishedModels are the models declared publish: true, each with its key.
func publishedModels(t *testing.T) []models.Model {
	t.Helper()
	all, err := models.Load()
	if err != nil {
		t.Fatal(err)
	}
	var out []models.Model
	for _, m := range all {
		if m.Publish {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		t.Fatal("no model is published")
	}
	return out
}

// table is a mart as text: a header, rows in key order, and which columns
// are DOUBLE (compared to a tolerance) and which identify a row.
type table struct {
	header  []string
	rows    [][]string
	doubles map[string]bool
	key     []string
}

// readMart reads a mart without its volatile columns, in key order, every
// value as DuckDB's text of it.
func readMart(t *testing.T, db *sql.DB, mart models.Model, data string) table {
	t.Helper()
	tb := table{doubles: map[string]bool{}}
	types, err := db.Query("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position", mart.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer types.Close()
	for types.Next() {
		var name, typ string
		if err := types.Scan(&name, &typ); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(goldenVolatile[mart.Name], name) {
			continue
		}
		tb.header = append(tb.header, name)
		tb.doubles[name] = typ == "DOUBLE" || typ == "FLOAT"
	}
	if err := types.Err(); err != nil {
		t.Fatal(err)
	}
	if len(tb.header) == 0 {
		t.Fatalf("mart %s is not in the published marts", mart.Name)
	}
	var cols, order []string
	for _, c := range tb.header {
		cols = append(cols, "CAST("+warehouse.Ident(c)+" AS VARCHAR)")
	}
	for _, k := range mart.Key {
		if slices.Contains(tb.header, k) {
			tb.key = append(tb.key, k)
			order = append(order, warehouse.Ident(k))
		}
	}
	// The key first makes the file read like the mart; every column after
	// it fixes the order of rows the key does not tell apart.
	for _, c := range tb.header {
		order = append(order, warehouse.Ident(c))
	}
	q := fmt.Sprintf("SELECT %s FROM %s ORDER BY %s", strings.Join(cols, ", "), warehouse.Ident(mart.Name), strings.Join(order, ", "))
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("mart %s: %v", mart.Name, err)
	}
	defer rows.Close()
	for rows.Next() {
		vals := make([]sql.NullString, len(tb.header))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(vals))
		for i, v := range vals {
			row[i] = goldenNull
			if v.Valid {
				row[i] = strings.ReplaceAll(v.String, data+string(filepath.Separator), "")
			}
		}
		tb.rows = append(tb.rows, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return tb
}

func writeGolden(t *testing.T, path string, tb table) {
	t.Helper()
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write(tb.header)
	w.WriteAll(tb.rows)
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readGolden(path string) (table, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return table{}, err
	}
	records, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil {
		return table{}, fmt.Errorf("%s: %w", path, err)
	}
	if len(records) == 0 {
		return table{}, fmt.Errorf("%s is empty: it needs at least the header", path)
	}
	return table{header: records[0], rows: records[1:]}, nil
}

// diff lists how got (the built mart) differs from want (the golden file):
// columns added or removed, rows added or removed, and each value that moved,
// naming the row by its key (by its position when the mart has no stable key).
func (got table) diff(want table) []string {
	var out []string
	add := func(format string, args ...any) bool {
		if len(out) == goldenMaxDiffs {
			out = append(out, "  ... (more differences not shown)")
		}
		if len(out) > goldenMaxDiffs {
			return false
		}
		out = append(out, fmt.Sprintf(format, args...))
		return true
	}
	for _, c := range want.header {
		if !slices.Contains(got.header, c) {
			add("  column %s: -in golden +missing", c)
		}
	}
	for _, c := range got.header {
		if !slices.Contains(want.header, c) {
			add("  column %s: -missing +new", c)
		}
	}
	wantIdx := want.index(got.key)
	gotIdx := got.index(got.key)
	for id, wi := range wantIdx {
		if _, ok := gotIdx[id]; !ok {
			add("  row %s: -%s", id, strings.Join(want.rows[wi], ","))
		}
	}
	for id, gi := range gotIdx {
		wi, ok := wantIdx[id]
		if !ok {
			add("  row %s: +%s", id, strings.Join(got.rows[gi], ","))
			continue
		}
		for c, name := range got.header {
			wc := slices.Index(want.header, name)
			if wc < 0 {
				continue
			}
			g, w := got.rows[gi][c], want.rows[wi][wc]
			if !got.equal(name, w, g) {
				if !add("  row %s column %s: -%s +%s", id, name, w, g) {
					return out
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// index maps each row's identity (its key values, or its position without a
// key) to its index in rows.
func (tb table) index(key []string) map[string]int {
	var cols []int
	for _, k := range key {
		if i := slices.Index(tb.header, k); i >= 0 {
			cols = append(cols, i)
		}
	}
	idx := make(map[string]int, len(tb.rows))
	for r, row := range tb.rows {
		id := "#" + strconv.Itoa(r+1)
		if len(cols) > 0 {
			var parts []string
			for _, c := range cols {
				parts = append(parts, tb.header[c]+"="+row[c])
			}
			id = strings.Join(parts, " ")
		}
		idx[id] = r
	}
	return idx
}

func (got table) equal(column, want, value string) bool {
	if want == value {
		return true
	}
	if !got.doubles[column] {
		return false
	}
	w, err1 := strconv.ParseFloat(want, 64)
	g, err2 := strconv.ParseFloat(value, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	return math.Abs(g-w) <= goldenTolerance*math.Max(1, math.Abs(w))
}

// openCurrentVersion opens the data directory's published version read-only,
// closed when the test ends.
func openCurrentVersion(t *testing.T, data string) *sql.DB {
	t.Helper()
	_, dbPath, err := publish.Current(warehouse.NewLayout(data))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("duckdb", dbPath+"?access_mode=read_only")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
