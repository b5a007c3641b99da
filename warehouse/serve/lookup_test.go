package serve

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/custmart/custmart/warehouse/publish"
)

func TestRowIndexValuesRoundTrip(t *testing.T) {
	values := []driver.Value{
		nil, true, false, int8(-7), int16(300), int32(-70000), int64(1) << 60,
		uint8(200), uint16(60000), uint32(4000000000), uint64(1) << 63,
		float32(1.5), 3.141592653589793, -0.0, "", "Ünïcode, 'quoted'", []byte{0, 1, 255},
		time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC), time.Date(2024, 2, 29, 23, 59, 59, 123456000, time.UTC),
		duckdb.Decimal{Width: 18, Scale: 2, Value: big.NewInt(-123456)},
		duckdb.Decimal{Width: 38, Scale: 10, Value: new(big.Int).Lsh(big.NewInt(1), 100)},
		duckdb.Decimal{Width: 4, Scale: 1, Value: big.NewInt(0)},
		[]any{}, []any{"web", nil, "store"}, []any{[]any{int32(1)}, time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC)},
	}
	var buf []byte
	for _, v := range values {
		var err error
		if buf, err = appendIndexValue(buf, v); err != nil {
			t.Fatalf("encode %#v: %v", v, err)
		}
	}
	rest := buf
	for i, want := range values {
		got, r, err := decodeIndexValue(rest)
		if err != nil {
			t.Fatalf("decode value %d: %v", i, err)
		}
		if d, ok := want.(duckdb.Decimal); ok {
			g := got.(duckdb.Decimal)
			if g.Width != d.Width || g.Scale != d.Scale || g.Value.Cmp(d.Value) != 0 {
				t.Errorf("value %d: got %v, want %v", i, g, d)
			}
		} else if !reflect.DeepEqual(got, want) {
			t.Errorf("value %d: got %#v (%T), want %#v (%T)", i, got, got, want, want)
		}
		rest = r
	}
	if len(rest) != 0 {
		t.Errorf("%d bytes left over", len(rest))
	}
	for _, v := range []driver.Value{[]any{1}, map[string]any{"a": int32(1)}, time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), duckdb.Interval{Days: 1}} {
		if _, err := appendIndexValue(nil, v); err == nil {
			t.Errorf("%#v: encoded, want errUnsupportedValue", v)
		}
	}
}

func TestMatchLookup(t *testing.T) {
	cases := []struct {
		sql  string
		want *lookupPlan
	}{
		{"SELECT * FROM customer_value WHERE customer_id = $1", &lookupPlan{mart: "customer_value", key: "customer_id", param: 1}},
		{"select customer_id, \"rfm_segment\" from custmart.main.Customer_Value where Customer_ID='C''1'",
			&lookupPlan{mart: "customer_value", columns: []string{"customer_id", "rfm_segment"}, key: "customer_id", literal: "C'1"}},
		{"SELECT * FROM main.rfm WHERE customer_id = $2", &lookupPlan{mart: "rfm", key: "customer_id", param: 2}},
		{"SELECT * FROM customer_value WHERE customer_id = $1 AND true", nil},
		{"SELECT * FROM customer_value WHERE customer_id = 42", nil},
		{"SELECT * FROM customer_value WHERE customer_id <> $1", nil},
		{"SELECT count(*) FROM customer_value WHERE customer_id = $1", nil},
		{"SELECT DISTINCT customer_id FROM customer_value WHERE customer_id = $1", nil},
		{"SELECT customer_id AS id FROM customer_value WHERE customer_id = $1", nil},
		{"SELECT * FROM customer_value, rfm WHERE customer_id = $1", nil},
		{"SELECT * FROM pg_catalog.pg_class WHERE relname = $1", nil},
		{"SELECT * FROM customer_value WHERE customer_id = $1 LIMIT 1", nil},
		{"SELECT * FROM customer_value", nil},
		{"EXPLAIN SELECT * FROM customer_value WHERE customer_id = $1", nil},
	}
	for _, c := range cases {
		got := matchLookup(splitStatements(c.sql)[0])
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.sql, got, c.want)
		}
	}
}

// publishKeyed publishes a version whose _version.json declares the keys
// publish records: customer_value, rfm and customer_lists (with LIST
// columns) keyed by customer_id, and customer_structs, with a STRUCT column,
// which row indexes do not store.
func publishKeyed(t *testing.T, dataDir, version string, customers, seed int) string {
	t.Helper()
	path := publishVersion(t, dataDir, version, customers, seed)
	db, err := sql.Open("duckdb", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		// Keys that sort differently by collation than by byte order.
		`INSERT INTO customer_value SELECT k, NULL, NULL, NULL, -12.5, NULL, NULL, NULL, NULL FROM (VALUES ('Zed'), ('abc'), ('Ärger'), ('ß'), ('c 1')) v(k)`,
		`CREATE TABLE customer_lists AS SELECT customer_id, [frequency, recency_days] AS numbers,
			CASE WHEN churned THEN NULL WHEN frequency % 3 = 0 THEN [] ELSE ['store', NULL, segment] END AS channels
			FROM customer_value`,
		"CREATE TABLE customer_structs AS SELECT customer_id, {'f': frequency, 's': segment} AS facts FROM customer_value",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	byCustomer := []string{"customer_id"}
	declareKeys(t, filepath.Dir(path), map[string][]string{"customer_value": byCustomer, "rfm": byCustomer,
		"customer_lists": byCustomer, "customer_structs": byCustomer, "segment_summary": {"segment", "as_of"}})
	return path
}

// declareKeys writes the version's _version.json with the marts' keys, as
// publish does.
func declareKeys(t testing.TB, versionDir string, keys map[string][]string) {
	t.Helper()
	raw, err := json.Marshal(publish.Info{Version: filepath.Base(versionDir), Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(versionDir, "_version.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitForIndexes waits until the current engine has row indexes of marts.
func waitForIndexes(t testing.TB, ts *testServer, marts ...string) *engine {
	t.Helper()
	deadline := time.Now().Add(waitPatience)
	for {
		ts.srv.engines.mu.Lock()
		eng := ts.srv.engines.current
		ts.srv.engines.mu.Unlock()
		ready := eng != nil
		for _, m := range marts {
			ready = ready && eng.lookups.get(m) != nil
		}
		if ready {
			return eng
		}
		if time.Now().After(deadline) {
			t.Fatalf("row indexes of %v not ready after %s", marts, waitPatience)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wireResult is what a client receives, byte for byte.
type wireResult struct {
	fields []pgconn.FieldDescription
	rows   [][][]byte
}

func execParams(t *testing.T, pc *pgconn.PgConn, query string, params [][]byte, resultFormat int16) wireResult {
	t.Helper()
	res := pc.ExecParams(context.Background(), query, params, nil, nil, []int16{resultFormat}).Read()
	if res.Err != nil {
		t.Fatalf("%s: %v", query, res.Err)
	}
	return wireResult{fields: res.FieldDescriptions, rows: res.Rows}
}

func sameWire(a, b wireResult) bool {
	if len(a.fields) != len(b.fields) || len(a.rows) != len(b.rows) {
		return false
	}
	for i := range a.fields {
		fa, fb := a.fields[i], b.fields[i]
		if fa.Name != fb.Name || fa.DataTypeOID != fb.DataTypeOID || fa.TypeModifier != fb.TypeModifier || fa.DataTypeSize != fb.DataTypeSize || fa.Format != fb.Format {
			return false
		}
	}
	for r := range a.rows {
		for c := range a.rows[r] {
			if !bytes.Equal(a.rows[r][c], b.rows[r][c]) || (a.rows[r][c] == nil) != (b.rows[r][c] == nil) {
				return false
			}
		}
	}
	return true
}

// TestPointLookupsFromRowIndex checks that lookups answered from row
// indexes send exactly the bytes DuckDB's answer sends, over both
// protocols and both result formats, and follow a new version.
func TestPointLookupsFromRowIndex(t *testing.T) {
	lookupDir := filepath.Join(t.TempDir(), "lookup")
	ts := startServer(t, func(o *Options) { o.LookupDir = lookupDir })
	ts.pub.set("v2", publishKeyed(t, ts.dataDir, "v2", 3000, 2))
	conn := ts.connect(t)
	pc := conn.PgConn()
	if _, err := pc.Exec(context.Background(), "SELECT 1").ReadAll(); err != nil {
		t.Fatal(err)
	}
	eng := waitForIndexes(t, ts, "customer_value", "rfm", "customer_lists")
	if x := eng.lookups.get("customer_structs"); x != nil {
		t.Errorf("customer_structs has a STRUCT column but got a row index")
	}
	if _, err := os.Stat(filepath.Join(lookupDir, "v2", "customer_value.rows")); err != nil {
		t.Errorf("row index file: %v", err)
	}

	keys := []string{"C0000000", "C0001234", "C0002999", "C0003000", "Zed", "abc", "Ärger", "ß", "c 1", "", "C000123"}
	queries := []string{
		"SELECT * FROM customer_value WHERE customer_id = $1",
		"SELECT customer_id, monetary, first_order, last_order, churned FROM custmart.main.customer_value WHERE customer_id = $1",
		"SELECT * FROM rfm WHERE customer_id = $1",
		"SELECT * FROM customer_lists WHERE customer_id = $1",
		"SELECT * FROM customer_structs WHERE customer_id = $1",
	}
	before := eng.lookups.served.Load()
	fast := 0
	for _, q := range queries {
		for _, key := range keys {
			for _, format := range []int16{0, 1} {
				got := execParams(t, pc, q, [][]byte{[]byte(key)}, format)
				want := execParams(t, pc, q+" AND true", [][]byte{[]byte(key)}, format)
				if !sameWire(got, want) {
					t.Errorf("%s with %q, format %d:\n index: %v %q\nDuckDB: %v %q", q, key, format, got.fields, got.rows, want.fields, want.rows)
				}
				if q != queries[4] {
					fast++
				}
			}
			lit := quoteString(key)
			simple := func(sql string) []*pgconn.Result {
				res, err := pc.Exec(context.Background(), sql).ReadAll()
				if err != nil {
					t.Fatalf("%s: %v", sql, err)
				}
				return res
			}
			sq := bytes.Replace([]byte(q), []byte("$1"), []byte(lit), 1)
			got, want := simple(string(sq)), simple(string(sq)+" AND true")
			if !sameWire(wireResult{got[0].FieldDescriptions, got[0].Rows}, wireResult{want[0].FieldDescriptions, want[0].Rows}) {
				t.Errorf("simple %s: index %q, DuckDB %q", sq, got[0].Rows, want[0].Rows)
			}
			if q != queries[4] {
				fast++
			}
		}
	}
	if served := eng.lookups.served.Load() - before; served != int64(fast) {
		t.Errorf("%d lookups answered from row indexes, want %d", served, fast)
	}

	// A NULL key matches nothing, as in SQL.
	if got := execParams(t, pc, queries[0], [][]byte{nil}, 0); len(got.rows) != 0 {
		t.Errorf("NULL key: %d rows", len(got.rows))
	}

	// A new version is served from its own index; the old one is removed.
	ts.pub.set("v3", publishKeyed(t, ts.dataDir, "v3", 500, 3))
	execParams(t, pc, "SELECT 1", nil, 0)
	eng3 := waitForIndexes(t, ts, "customer_value")
	if eng3.version != "v3" {
		t.Fatalf("serving %s, want v3", eng3.version)
	}
	if got := execParams(t, pc, queries[0], [][]byte{[]byte("C0001234")}, 0); len(got.rows) != 0 {
		t.Errorf("v3 has 500 customers, yet C0001234 was found: %q", got.rows)
	}
	if _, err := os.Stat(filepath.Join(lookupDir, "v2")); !os.IsNotExist(err) {
		t.Errorf("the row indexes of retired v2 are still there: %v", err)
	}
}

// TestDamagedRowIndexIsRebuilt: a truncated index file (a crash of another
// server while it wrote, or a disk fault) is not trusted but rebuilt.
func TestDamagedRowIndexIsRebuilt(t *testing.T) {
	lookupDir := filepath.Join(t.TempDir(), "lookup")
	dataDir := t.TempDir()
	// v2: the server starts on its own v1 and must switch to this one.
	path := publishKeyed(t, dataDir, "v2", 200, 1)
	if err := os.MkdirAll(filepath.Join(lookupDir, "v2"), 0o755); err != nil {
		t.Fatal(err)
	}
	damaged := append(append([]byte{}, rowIndexMagic...), make([]byte, 100)...)
	if err := os.WriteFile(filepath.Join(lookupDir, "v2", "customer_value.rows"), damaged, 0o644); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, func(o *Options) { o.LookupDir = lookupDir })
	ts.pub.set("v2", path)
	conn := ts.connect(t)
	execParams(t, conn.PgConn(), "SELECT 1", nil, 0)
	eng := waitForIndexes(t, ts, "customer_value")
	if x := eng.lookups.get("customer_value"); x.rows != 205 {
		t.Errorf("rebuilt index has %d rows, want 205", x.rows)
	}
	got := execParams(t, conn.PgConn(), "SELECT customer_id, monetary FROM customer_value WHERE customer_id = $1", [][]byte{[]byte("abc")}, 0)
	if len(got.rows) != 1 || string(got.rows[0][1]) != "-12.50" {
		t.Errorf("lookup after rebuild: %q", got.rows)
	}
}

// TestLookupsDuringPublishes: while versions are published, point lookups
// (from row indexes as they become ready, else DuckDB) inside a transaction
// read the same version as the transaction's other queries.
func TestLookupsDuringPublishes(t *testing.T) {
	lookupDir := filepath.Join(t.TempDir(), "lookup")
	ts := startServer(t, func(o *Options) { o.LookupDir = lookupDir })
	const versions = 6
	const customer = "C0000010"
	// customers (which tell the versions apart) -> the customer's monetary.
	var mu sync.Mutex
	wantAt := map[int64]float64{}
	publish := func(v int) {
		name := fmt.Sprintf("k%d", v)
		path := publishKeyed(t, ts.dataDir, name, 1000+v*37, v)
		row := duckQuery(t, path, "SELECT count(*), (SELECT monetary::DOUBLE FROM customer_value WHERE customer_id = ?) FROM customer_value", customer)[0]
		mu.Lock()
		wantAt[row[0].(int64)] = row[1].(float64)
		mu.Unlock()
		ts.pub.set(name, path)
	}
	read := func(n int64) (float64, bool) {
		mu.Lock()
		defer mu.Unlock()
		m, ok := wantAt[n]
		return m, ok
	}
	publish(1)
	stop := make(chan struct{})
	errs := make(chan error, 2)
	var wg sync.WaitGroup
	var lookups atomic.Int64
	for c := range 2 {
		conn := ts.connect(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for {
				select {
				case <-stop:
					return
				default:
				}
				tx, err := conn.Begin(ctx)
				if err != nil {
					errs <- err
					return
				}
				var n int64
				var id string
				var monetary float64
				err = tx.QueryRow(ctx, "SELECT count(*) FROM customer_value").Scan(&n)
				if err == nil {
					err = tx.QueryRow(ctx, "SELECT customer_id, monetary FROM customer_value WHERE customer_id = $1", customer).Scan(&id, &monetary)
				}
				if cerr := tx.Commit(ctx); err != nil || cerr != nil {
					errs <- fmt.Errorf("client %d: %v %v", c, err, cerr)
					return
				}
				lookups.Add(1)
				if m, ok := read(n); !ok || m != monetary {
					errs <- fmt.Errorf("client %d: a version with %d customers has monetary %v for %s, the lookup gave %v", c, n, m, customer, monetary)
					return
				}
			}
		}()
	}
	// Each version is published once the clients have looked up in the one
	// before: three lookups after a publish include one that began after it.
	progressed := func() {
		t.Helper()
		want := lookups.Load() + 3
		waitFor(t, func() bool { return lookups.Load() >= want || len(errs) > 0 })
	}
	for v := 2; v <= versions; v++ {
		progressed()
		publish(v)
	}
	progressed()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d lookups during %d publishes", lookups.Load(), versions)
	if lookups.Load() < versions {
		t.Errorf("only %d lookups ran during %d publishes", lookups.Load(), versions)
	}
	eng := waitForIndexes(t, ts, "customer_value")
	conn := ts.connect(t)
	var monetary float64
	var id string
	if err := conn.QueryRow(context.Background(), "SELECT customer_id, monetary FROM customer_value WHERE customer_id = $1", customer).Scan(&id, &monetary); err != nil {
		t.Fatal(err)
	}
	if eng.lookups.served.Load() == 0 {
		t.Error("the latest version answered no lookup from its row index")
	}
}
