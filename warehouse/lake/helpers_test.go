package lake_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/custmart/custmart/jobs/config"
	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/lake"
)

// env is a data directory with a lake, and the files fed to it.
type env struct {
	t      *testing.T
	dir    string
	layout warehouse.Layout
	asOf   time.Time
	in     lake.Ingester
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, dir: dir, layout: warehouse.NewLayout(filepath.Join(dir, "data")),
		asOf: time.Date(2024, 3, 31, 0, 0, 0, 0, time.UTC)}
	// The clock stands at the as-of date, so that future timestamps are
	// those after it.
	e.in = lake.Ingester{Layout: e.layout, AsOf: e.asOf, Now: func() time.Time { return e.asOf }, Workers: 2}
	return e
}

// write creates a file under the env's input directory and returns its path.
func (e *env) write(name string, content []byte) string {
	e.t.Helper()
	path := filepath.Join(e.dir, "in", name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(path, content, 0o644); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// source parses one source entry (YAML, indented as a list item under
// sources:) through the configuration loader, as a user would write it.
func (e *env) source(entry string) lake.Source {
	e.t.Helper()
	raw := "version: 1\nsources:\n" + entry
	c, err := config.Parse([]byte(raw), filepath.Join(e.dir, "custmart.yaml"))
	if err != nil {
		e.t.Fatalf("config: %v\n%s", err, raw)
	}
	return c.Sources[0].Lake()
}

// shopSource is a CSV source with the canonical column names.
func (e *env) shopSource(path string, extra string) lake.Source {
	return e.source(`  - name: shop
    path: ` + path + `
    columns: {transaction_id: transaction_id, order_id: order_id, customer_id: customer_id, ts: ts, amount: amount, quantity: quantity, unit_price: unit_price, currency: currency}
    cancellation_pattern: "^C"
    not_before: "2020-01-01"
` + extra)
}

func (e *env) ingest(srcs ...lake.Source) (lake.Report, error) {
	e.t.Helper()
	in := e.in
	return in.Ingest(context.Background(), srcs)
}

func (e *env) mustIngest(srcs ...lake.Source) lake.Report {
	e.t.Helper()
	r, err := e.ingest(srcs...)
	if err != nil {
		e.t.Fatalf("ingest: %v", err)
	}
	return r
}

func (e *env) db() *sql.DB {
	e.t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { db.Close() })
	return db
}

// lakeRel is the lake as readers see it, or an empty relation.
func (e *env) lakeRel() string {
	files, _ := filepath.Glob(e.layout.TransactionsGlob())
	if len(files) == 0 {
		return "(SELECT NULL::VARCHAR AS transaction_id, NULL::VARCHAR AS customer_id, NULL::DECIMAL(18,2) AS amount, NULL::BIGINT AS source_line, NULL::VARCHAR AS source_file, NULL::VARCHAR AS batch_id, NULL::BOOLEAN AS is_refund, NULL::DATE AS date, NULL::TIMESTAMP AS ts WHERE false)"
	}
	return "read_parquet(" + warehouse.Quote(e.layout.TransactionsGlob()) + ", hive_partitioning=true)"
}

func (e *env) quarantineRel() string {
	files, _ := filepath.Glob(quarantineGlob(e.layout))
	if len(files) == 0 {
		return "(SELECT NULL::VARCHAR AS file, NULL::BIGINT AS line, NULL::VARCHAR AS raw, NULL::VARCHAR AS reason_code, NULL::VARCHAR AS message WHERE false)"
	}
	return "read_parquet(" + warehouse.Quote(quarantineGlob(e.layout)) + ")"
}

// lakeTotals returns the lake's row count and amount total.
func (e *env) lakeTotals() (int64, string) {
	e.t.Helper()
	var n int64
	var sum string
	if err := e.db().QueryRow("SELECT count(*), coalesce(sum(amount), 0)::VARCHAR FROM "+e.lakeRel()).Scan(&n, &sum); err != nil {
		e.t.Fatal(err)
	}
	return n, sum
}

// queryStrings runs a query and returns its rows with columns joined by "|".
func (e *env) queryStrings(q string, args ...any) []string {
	e.t.Helper()
	rows, err := e.db().Query(q, args...)
	if err != nil {
		e.t.Fatalf("%v\n%s", err, q)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			e.t.Fatal(err)
		}
		parts := make([]string, len(cols))
		for i, v := range vals {
			parts[i] = v.String
			if !v.Valid {
				parts[i] = "NULL"
			}
		}
		out = append(out, strings.Join(parts, "|"))
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

func fileResult(t *testing.T, r lake.Report, name string) lake.FileResult {
	t.Helper()
	for _, f := range r.Files {
		if filepath.Base(f.File) == name {
			return f
		}
	}
	t.Fatalf("no result for %s in %+v", name, r.Files)
	return lake.FileResult{}
}

// checkReconciled asserts read = loaded + quarantined + duplicate for every
// file, and that reasons add up to the quarantined count.
func checkReconciled(t *testing.T, r lake.Report) {
	t.Helper()
	for _, f := range r.Files {
		if f.Status == lake.FileSkipped || f.Status == lake.FileChanged {
			continue
		}
		if f.Status == lake.FileFailed && f.RowsLoaded != 0 {
			t.Errorf("%s: failed but %d rows loaded", f.File, f.RowsLoaded)
		}
		if f.RowsRead != f.RowsLoaded+f.RowsQuarantined+f.RowsDuplicate+f.RowsRejected {
			t.Errorf("%s: read %d != loaded %d + quarantined %d + duplicate %d + rejected %d", f.File, f.RowsRead, f.RowsLoaded, f.RowsQuarantined, f.RowsDuplicate, f.RowsRejected)
		}
		var reasons int64
		for _, n := range f.Reasons {
			reasons += n
		}
		if reasons != f.RowsQuarantined {
			t.Errorf("%s: reasons %v add up to %d, quarantined %d", f.File, f.Reasons, reasons, f.RowsQuarantined)
		}
	}
}

// quarantineGlob matches the quarantine files of the lake.
func quarantineGlob(l warehouse.Layout) string {
	return filepath.Join(l.Lake(), "quarantine", "*.parquet")
}
