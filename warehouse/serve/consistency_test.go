package serve

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// versionQuery reads two tables; within one version segment_summary's
// customers add up to customer_value's rows.
const versionQuery = `SELECT (SELECT count(*) FROM customer_value) AS customers,
	(SELECT sum(monetary) FROM customer_value)::VARCHAR AS revenue,
	(SELECT sum(customers) FROM segment_summary)::BIGINT AS summarized`

type versionResult struct {
	customers  int64
	revenue    string
	summarized int64
}

// fingerprints maps each published version's expected result, computed from
// the version's file directly.
type fingerprints struct {
	mu    sync.Mutex
	byRes map[versionResult]int
}

func (f *fingerprints) add(t *testing.T, path string, index int) {
	row := duckQuery(t, path, versionQuery)[0]
	res := versionResult{customers: row[0].(int64), revenue: row[1].(string), summarized: row[2].(int64)}
	if res.customers != res.summarized {
		t.Fatalf("fixture of version %d is inconsistent: %+v", index, res)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, dup := f.byRes[res]; dup {
		t.Fatalf("versions must differ; version %d repeats %+v", index, res)
	}
	f.byRes[res] = index
}

func (f *fingerprints) version(res versionResult) (int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.byRes[res]
	return v, ok
}

// TestPublishesDuringQueriesBreakNothing has clients query in a loop, over
// the simple and the extended protocol and in transactions, while new
// versions are published and old ones deleted. Every result must be exactly
// one published version, a client never goes back to an older version,
// a transaction reads one version throughout, and old engines close.
func TestPublishesDuringQueriesBreakNothing(t *testing.T) {
	ts := startServer(t)
	fp := &fingerprints{byRes: map[versionResult]int{}}
	fp.add(t, ts.pub.path, 1)
	const versions = 8
	const clients = 4

	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, clients*4)
	seen := make([]map[int]int, clients)
	var results atomic.Int64 // results the clients have checked
	for c := range clients {
		seen[c] = map[int]int{}
		conn := ts.connect(t)
		mode := []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement,
			pgx.QueryExecModeExec, pgx.QueryExecModeDescribeExec}[c%4]
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			last := 0
			check := func(res versionResult) (int, error) {
				v, ok := fp.version(res)
				if !ok {
					return 0, fmt.Errorf("client %d: result %+v is no published version", c, res)
				}
				if v < last {
					return 0, fmt.Errorf("client %d: saw version %d after version %d", c, v, last)
				}
				last = v
				seen[c][v]++
				results.Add(1)
				return v, nil
			}
			query := func(q pgx.Tx) (versionResult, error) {
				var res versionResult
				var err error
				if q != nil {
					err = q.QueryRow(ctx, versionQuery, mode).Scan(&res.customers, &res.revenue, &res.summarized)
				} else {
					err = conn.QueryRow(ctx, versionQuery, mode).Scan(&res.customers, &res.revenue, &res.summarized)
				}
				return res, err
			}
			for i := 0; ; i++ {
				select {
				case <-stop:
					// One more query after the last publish must see it.
					res, err := query(nil)
					if err != nil {
						errs <- fmt.Errorf("client %d: %w", c, err)
						return
					}
					if v, err := check(res); err != nil || v != versions {
						errs <- fmt.Errorf("client %d: final query saw version %d (%v), want %d", c, v, err, versions)
					}
					return
				default:
				}
				if i%3 == 2 {
					// A transaction reads one version, even across a publish.
					tx, err := conn.Begin(ctx)
					if err != nil {
						errs <- fmt.Errorf("client %d: begin: %w", c, err)
						return
					}
					first, err1 := query(tx)
					time.Sleep(5 * time.Millisecond)
					second, err2 := query(tx)
					if err := tx.Commit(ctx); err1 != nil || err2 != nil || err != nil {
						errs <- fmt.Errorf("client %d: transaction: %v %v %v", c, err1, err2, err)
						return
					}
					if first != second {
						errs <- fmt.Errorf("client %d: one transaction read two versions: %+v then %+v", c, first, second)
						return
					}
					if _, err := check(first); err != nil {
						errs <- err
						return
					}
					continue
				}
				res, err := query(nil)
				if err != nil {
					errs <- fmt.Errorf("client %d: %w", c, err)
					return
				}
				if _, err := check(res); err != nil {
					errs <- err
					return
				}
			}
		}()
	}

	// Each version is published once the clients have read the one before:
	// clients+1 results after a publish include one from a query that started
	// after it.
	progressed := func() {
		t.Helper()
		want := results.Load() + clients + 1
		waitFor(t, func() bool { return results.Load() >= want || len(errs) > 0 })
	}
	for v := 2; v <= versions; v++ {
		progressed()
		name := fmt.Sprintf("v%d", v)
		path := publishVersion(t, ts.dataDir, name, 1000+v*37, v)
		fp.add(t, path, v)
		ts.pub.set(name, path)
		// Old versions are deleted a while later; engines still reading
		// them keep their open file.
		if v > 3 {
			if err := os.RemoveAll(filepath.Join(ts.dataDir, "marts", fmt.Sprintf("v%d", v-2))); err != nil {
				t.Fatal(err)
			}
		}
	}
	progressed()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	total := 0
	versionsSeen := map[int]bool{}
	for _, s := range seen {
		for v, n := range s {
			total += n
			versionsSeen[v] = true
		}
	}
	t.Logf("%d results from %d versions", total, len(versionsSeen))
	if len(versionsSeen) < 3 {
		t.Errorf("clients saw only versions %v; the test did not exercise publishes during queries", versionsSeen)
	}
	if n := ts.srv.engines.openCount(); n != 1 {
		t.Errorf("%d engines open after all queries ended, want only the latest", n)
	}
}

// TestRunningQueryFinishesOnItsVersion publishes a new version and deletes
// the old one while a long query reads the old one.
func TestRunningQueryFinishesOnItsVersion(t *testing.T) {
	ts := startServer(t)
	oldPath := ts.pub.path
	const longQuery = "SELECT count(*), sum(c.monetary)::VARCHAR FROM customer_value c, range(400000) r WHERE r.range % 2 = 0"
	want := duckQuery(t, oldPath, longQuery)[0]
	conn := ts.connect(t)
	type result struct {
		n   int64
		sum string
		err error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		r.err = conn.QueryRow(context.Background(), longQuery).Scan(&r.n, &r.sum)
		done <- r
	}()
	// Wait until the query holds the v1 engine, then publish v2 and delete v1.
	waitFor(t, func() bool {
		m := ts.srv.engines
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.current != nil && m.current.refs > 0
	})
	newPath := publishVersion(t, ts.dataDir, "v2", 500, 2)
	ts.pub.set("v2", newPath)
	other := ts.connect(t)
	var n int64
	if err := other.QueryRow(context.Background(), "SELECT count(*) FROM customer_value").Scan(&n); err != nil || n != 500 {
		t.Fatalf("a new query during the long one: %d, %v; want version v2 (500 customers)", n, err)
	}
	if err := os.RemoveAll(filepath.Dir(oldPath)); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.n != want[0].(int64) || r.sum != want[1].(string) {
		t.Errorf("long query = %d %s, want v1's %v %v", r.n, r.sum, want[0], want[1])
	}
	if open := ts.srv.engines.openCount(); open != 1 {
		t.Errorf("%d engines open after the long query ended, want 1", open)
	}
}

// waitPatience bounds waits on a condition: generous, so that a loaded
// machine only makes the tests slower, not fail.
const waitPatience = 2 * time.Minute

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitPatience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not reached in %s", waitPatience)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestShutdownEndsSessions stops the server with a client connected: the
// client learns why, and Serve returns.
func TestShutdownEndsSessions(t *testing.T) {
	ts := startServer(t)
	conn := ts.connect(t)
	ctx := context.Background()
	var n int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&n); err != nil {
		t.Fatal(err)
	}
	ts.stop()
	err := conn.QueryRow(ctx, "SELECT 1").Scan(&n)
	assertCode(t, err, codeAdminShutdown)
	if ts.srv.openConnections() != 0 {
		t.Errorf("%d connections still registered after Serve returned", ts.srv.openConnections())
	}
	if open := ts.srv.engines.openCount(); open != 0 {
		t.Errorf("%d engines open after Serve returned", open)
	}
}

// TestBrokenVersionKeepsThePreviousOne publishes a file DuckDB cannot open:
// clients keep getting the last good version.
func TestBrokenVersionKeepsThePreviousOne(t *testing.T) {
	ts := startServer(t)
	conn := ts.connect(t)
	ctx := context.Background()
	broken := filepath.Join(ts.dataDir, "marts", "v2", "marts.duckdb")
	if err := os.MkdirAll(filepath.Dir(broken), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(broken, []byte("not a database"), 0o644); err != nil {
		t.Fatal(err)
	}
	ts.pub.set("v2", broken)
	var n int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM customer_value").Scan(&n); err != nil || n != 1000 {
		t.Errorf("with a broken v2 published: %d, %v; want v1's 1000 customers", n, err)
	}
	ts.pub.set("v3", publishVersion(t, ts.dataDir, "v3", 300, 3))
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM customer_value").Scan(&n); err != nil || n != 300 {
		t.Errorf("after v3: %d, %v; want 300", n, err)
	}
}
