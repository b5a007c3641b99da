package lake_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/custmart/custmart/warehouse/lake"
	"github.com/custmart/custmart/warehouse/lake/internal/pgtest"
)

// pgRows inserts n orders after the highest id: three rows share each
// updated_at (ids 1-3, 4-6, ...), so that batches must not cut between equal
// watermarks; every tenth order has no customer (quarantined) when withBad
// is set. n is a multiple of 3: rows added later have a later watermark
// (a row added with the watermark already read is not read; see the
// package documentation).
func pgRows(t *testing.T, conn *pgx.Conn, n int, withBad bool) {
	t.Helper()
	_, err := conn.Exec(context.Background(), `INSERT INTO shop.orders (id, customer, amount, created_at, updated_at)
SELECT i, CASE WHEN $2 AND i % 10 = 0 THEN NULL ELSE 'K' || (i % 37) END, (i % 100) + 0.25,
  TIMESTAMPTZ '2024-03-01 00:00:00+00' + i * INTERVAL '1 minute',
  TIMESTAMPTZ '2024-03-01 00:00:00+01' + ((i - 1) / 3) * INTERVAL '1 second'
FROM generate_series((SELECT coalesce(max(id), 0) + 1 FROM shop.orders), (SELECT coalesce(max(id), 0) + $1 FROM shop.orders)) i`, n, withBad)
	if err != nil {
		t.Fatal(err)
	}
}

func pgTotals(t *testing.T, conn *pgx.Conn) (int64, string) {
	t.Helper()
	var n int64
	var sum string
	err := conn.QueryRow(context.Background(), "SELECT count(*), coalesce(sum(amount), 0)::text FROM shop.orders WHERE customer IS NOT NULL").Scan(&n, &sum)
	if err != nil {
		t.Fatal(err)
	}
	return n, sum
}

func readTotals(r lake.Report) (read, loaded, quarantined, batches int64) {
	for _, f := range r.Files {
		read += f.RowsRead
		loaded += f.RowsLoaded
		quarantined += f.RowsQuarantined
		batches++
	}
	return
}

func TestPostgresSource(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL server; make test runs it")
	}
	server := pgtest.Start(t)
	conn := server.Conn(t)
	_, err := conn.Exec(context.Background(), `DROP SCHEMA IF EXISTS shop CASCADE; CREATE SCHEMA shop;
CREATE TABLE shop.orders (id bigint PRIMARY KEY, customer text, amount numeric(12,2), created_at timestamptz, updated_at timestamptz)`)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("CUSTMART_TEST_ORDERS_DSN", server.DSN)
	e := newEnv(t)
	src := e.source(`  - name: orders
    postgres: {dsn_env: CUSTMART_TEST_ORDERS_DSN, table: shop.orders, watermark: updated_at, batch_size: 1000}
    columns: {transaction_id: id, customer_id: customer, ts: created_at, amount: amount}
    max_quarantine_share: 0.2
`)
	checkLake := func(when string) {
		t.Helper()
		wantN, wantSum := pgTotals(t, conn)
		if n, sum := e.lakeTotals(); n != wantN || sum != wantSum {
			t.Errorf("%s: lake %d rows, %s; database %d rows, %s", when, n, sum, wantN, wantSum)
		}
		if dup := e.queryStrings("SELECT count(*) FROM (SELECT transaction_id FROM " + e.lakeRel() + " GROUP BY 1 HAVING count(*) > 1)"); dup[0] != "0" {
			t.Errorf("%s: %s transaction ids are in the lake more than once", when, dup[0])
		}
	}

	// Initial load: 2502 rows in batches of about 1000, never splitting a watermark value.
	pgRows(t, conn, 2502, true)
	report := e.mustIngest(src)
	checkReconciled(t, report)
	read, loaded, quarantined, batches := readTotals(report)
	if read != 2502 || loaded != 2252 || quarantined != 250 || batches != 3 {
		t.Errorf("initial: read=%d loaded=%d quarantined=%d in %d batches; want 2502, 2252, 250 in 3", read, loaded, quarantined, batches)
	}
	checkLake("initial load")
	m, err := lake.LoadManifest(e.layout)
	if err != nil {
		t.Fatal(err)
	}
	prev := ""
	for _, b := range m.Batches() {
		if b.WatermarkFrom != prev || b.WatermarkTo == "" {
			t.Errorf("batch %s covers (%s, %s], the previous ended at %q", b.BatchID, b.WatermarkFrom, b.WatermarkTo, prev)
		}
		prev = b.WatermarkTo
	}
	state, err := lake.LoadState(e.layout, "orders")
	if err != nil || state.Watermark != "2024-02-29 23:13:53+00" {
		t.Errorf("state %+v (%v), want the watermark of row 2502 (updated_at 23:13:53 UTC)", state, err)
	}
	// Rows sharing a watermark come in any order: id 10 is row 10, 11 or 12 of its batch.
	got := e.queryStrings("SELECT line BETWEEN 10 AND 12, reason_code, raw FROM " + e.quarantineRel() + " ORDER BY file, line LIMIT 1")
	if len(got) != 1 || got[0] != "true|missing_customer_id|10,,10.25,2024-03-01 00:10:00+00,2024-02-29 23:00:03+00" {
		t.Errorf("first quarantined row %v", got)
	}

	// Incremental: only the new rows are read.
	pgRows(t, conn, 702, false)
	report = e.mustIngest(src)
	if read, loaded, _, _ := readTotals(report); read != 702 || loaded != 702 {
		t.Errorf("incremental: read %d loaded %d, want 702 new rows", read, loaded)
	}
	checkLake("incremental load")
	report = e.mustIngest(src)
	if read, _, _, _ := readTotals(report); read != 0 {
		t.Errorf("nothing new: read %d rows", read)
	}

	// A crash after a batch was committed and before the watermark was
	// saved: the state file still holds the old watermark.
	before, err := os.ReadFile(filepath.Join(e.layout.SourceState(), "orders.json"))
	if err != nil {
		t.Fatal(err)
	}
	pgRows(t, conn, 300, false)
	e.mustIngest(src)
	if err := os.WriteFile(filepath.Join(e.layout.SourceState(), "orders.json"), before, 0o644); err != nil {
		t.Fatal(err)
	}
	report = e.mustIngest(src)
	if read, _, _, _ := readTotals(report); read != 0 {
		t.Errorf("after the crash: read %d rows again, want 0 (the watermark comes from the manifest)", read)
	}
	checkLake("after a crash between commit and watermark save")
	if state, _ := lake.LoadState(e.layout, "orders"); state.Watermark != "2024-02-29 23:19:27+00" {
		t.Errorf("state not repaired: %+v", state)
	}

	// A query source with a numeric watermark, in one batch.
	query := e.source(`  - name: big-orders
    postgres: {dsn_env: CUSTMART_TEST_ORDERS_DSN, query: "SELECT id, customer, amount, created_at FROM shop.orders WHERE amount >= 90", watermark: id}
    columns: {transaction_id: id, customer_id: customer, ts: created_at, amount: amount}
    max_quarantine_share: 0.2
`)
	report = e.mustIngest(query)
	var want int64
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM shop.orders WHERE amount >= 90 AND customer IS NOT NULL").Scan(&want); err != nil {
		t.Fatal(err)
	}
	if _, loaded, _, batches := readTotals(report); loaded != want || batches != 1 {
		t.Errorf("query source: loaded %d in %d batches, want %d in 1", loaded, batches, want)
	}

	// Unknown columns are named with the columns the source has.
	bad := e.source(`  - name: bad
    postgres: {dsn_env: CUSTMART_TEST_ORDERS_DSN, table: shop.orders, watermark: changed_at}
    columns: {customer_id: customer, ts: created_at, amount: amount}
`)
	if _, err := e.ingest(bad); err == nil || !strings.Contains(err.Error(), `source bad: watermark column "changed_at" is not a column of shop.orders; its columns are: id, customer, amount, created_at, updated_at`) {
		t.Errorf("unknown watermark column: %v", err)
	}

	// The database goes down.
	if server.Addr != "" && os.Getenv(pgtest.EnvDSN) == "" {
		server.Stop()
		_, err := e.ingest(src)
		want := fmt.Sprintf("source orders: cannot connect to PostgreSQL at %s (connection string from CUSTMART_TEST_ORDERS_DSN)", server.Addr)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "check that the database is up and reachable") {
			t.Errorf("database down: %v\nwant %q", err, want)
		}
	}
}

func TestPostgresSourceErrorsWithoutServer(t *testing.T) {
	e := newEnv(t)
	t.Setenv("CUSTMART_TEST_NOWHERE_DSN", "postgres://custmart@127.0.0.1:1/none?connect_timeout=2")
	src := e.source(`  - name: nowhere
    postgres: {dsn_env: CUSTMART_TEST_NOWHERE_DSN, table: orders, watermark: id}
    columns: {customer_id: customer, ts: created_at, amount: amount}
`)
	_, err := e.ingest(src)
	if err == nil || !strings.Contains(err.Error(), "source nowhere: cannot connect to PostgreSQL at 127.0.0.1:1 (connection string from CUSTMART_TEST_NOWHERE_DSN)") {
		t.Errorf("got %v", err)
	}
	t.Setenv("CUSTMART_TEST_NOWHERE_DSN", "")
	if _, err := e.ingest(src); err == nil || !strings.Contains(err.Error(), "environment variable CUSTMART_TEST_NOWHERE_DSN is empty") {
		t.Errorf("got %v", err)
	}
}
