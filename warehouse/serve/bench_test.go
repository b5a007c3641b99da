package serve

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

const benchCustomers = 1_000_000

const (
	lookupQuery    = "SELECT * FROM customer_value WHERE customer_id = $1"
	dashboardQuery = "SELECT segment, count(*) AS customers, sum(monetary) AS revenue, avg(clv) AS avg_clv FROM customer_value GROUP BY segment ORDER BY segment"
)

// BenchmarkServe measures queries over loopback against 1M customers: a
// one-customer lookup and a dashboard aggregate, each from one client (with
// p50 and p99 latency) and from 8 concurrent clients (throughput).
func BenchmarkServe(b *testing.B) {
	ts := startServer(b, func(o *Options) { o.LookupDir = b.TempDir() })
	path := publishVersion(b, ts.dataDir, "bench", benchCustomers, 7)
	ts.pub.set("bench", path)
	ctx := context.Background()
	conns := make([]*pgx.Conn, 8)
	for i := range conns {
		conns[i] = ts.connect(b)
		// Warm up: the first query opens the version.
		if _, err := conns[i].Exec(ctx, dashboardQuery); err != nil {
			b.Fatal(err)
		}
	}
	lookup := func(conn *pgx.Conn, r *rand.Rand) error {
		id := fmt.Sprintf("C%07d", r.IntN(benchCustomers))
		rows, err := conn.Query(ctx, lookupQuery, id)
		if err != nil {
			return err
		}
		n := 0
		for rows.Next() {
			n++
		}
		if rows.Err() == nil && n != 1 {
			return fmt.Errorf("lookup of %s returned %d rows", id, n)
		}
		return rows.Err()
	}
	dashboard := func(conn *pgx.Conn, _ *rand.Rand) error {
		rows, err := conn.Query(ctx, dashboardQuery)
		if err != nil {
			return err
		}
		n := 0
		for rows.Next() {
			n++
		}
		if rows.Err() == nil && n != 5 {
			return fmt.Errorf("dashboard returned %d segments, want 5", n)
		}
		return rows.Err()
	}
	for _, q := range []struct {
		name string
		run  func(*pgx.Conn, *rand.Rand) error
	}{{"lookup", lookup}, {"dashboard", dashboard}} {
		b.Run(q.name+"/1-client", func(b *testing.B) { measureLatency(b, conns[0], q.run) })
		b.Run(q.name+"/8-clients", func(b *testing.B) { measureThroughput(b, conns, q.run) })
	}
	// Exporting the whole table, as a BI extract or \copy does.
	b.Run("export-all/1-client", func(b *testing.B) {
		for b.Loop() {
			tag, err := conns[0].PgConn().CopyTo(ctx, io.Discard, "COPY customer_value TO STDOUT (FORMAT csv)")
			if err != nil {
				b.Fatal(err)
			}
			if tag.RowsAffected() != benchCustomers {
				b.Fatalf("exported %d rows, want %d", tag.RowsAffected(), benchCustomers)
			}
		}
		b.ReportMetric(float64(b.N*benchCustomers)/b.Elapsed().Seconds(), "rows/s")
	})
	// A publisher that indexes customer_id turns lookups into index scans.
	indexed := publishVersion(b, ts.dataDir, "bench-indexed", benchCustomers, 7)
	db, err := sql.Open("duckdb", indexed)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec("CREATE UNIQUE INDEX customer_value_id ON customer_value (customer_id)"); err != nil {
		b.Fatal(err)
	}
	db.Close()
	ts.pub.set("bench-indexed", indexed)
	b.Run("lookup-indexed/1-client", func(b *testing.B) { measureLatency(b, conns[0], lookup) })

	// The key publish declares makes the server build a row index, from
	// which it answers lookups once the index is ready.
	keyed := publishVersion(b, ts.dataDir, "bench-keyed", benchCustomers, 7)
	declareKeys(b, filepath.Dir(keyed), map[string][]string{"customer_value": {"customer_id"}})
	ts.pub.set("bench-keyed", keyed)
	if err := lookup(conns[0], rand.New(rand.NewPCG(0, 0))); err != nil {
		b.Fatal(err)
	}
	waitForIndexes(b, ts, "customer_value")
	b.Run("lookup-row-index/1-client", func(b *testing.B) { measureLatency(b, conns[0], lookup) })
	b.Run("lookup-row-index/8-clients", func(b *testing.B) { measureThroughput(b, conns, lookup) })
}

// measureThroughput runs query b.N times spread over conns, each in its own
// goroutine, and reports queries per second.
func measureThroughput(b *testing.B, conns []*pgx.Conn, query func(*pgx.Conn, *rand.Rand) error) {
	var next sync.Mutex
	remaining := b.N
	var wg sync.WaitGroup
	errs := make(chan error, len(conns))
	start := time.Now()
	for i, conn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 3))
			for {
				next.Lock()
				if remaining == 0 {
					next.Unlock()
					return
				}
				remaining--
				next.Unlock()
				if err := query(conn, r); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "queries/s")
}

// measureLatency runs query b.N times on one connection and reports the
// p50 and p99 latency.
func measureLatency(b *testing.B, conn *pgx.Conn, query func(*pgx.Conn, *rand.Rand) error) {
	r := rand.New(rand.NewPCG(1, 2))
	latencies := make([]time.Duration, 0, b.N)
	for b.Loop() {
		start := time.Now()
		if err := query(conn, r); err != nil {
			b.Fatal(err)
		}
		latencies = append(latencies, time.Since(start))
	}
	reportLatencies(b, latencies)
}

func reportLatencies(b *testing.B, latencies []time.Duration) {
	if len(latencies) == 0 {
		return
	}
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// BenchmarkServeResults measures reading whole results through pgx over
// loopback: all 100k rows of customer_value (rows/s) and a 100-row page
// (latency), the sizes a BI extract and a dashboard table fetch.
func BenchmarkServeResults(b *testing.B) {
	const customers = 100_000
	ts := startServer(b)
	ts.pub.set("results", publishVersion(b, ts.dataDir, "results", customers, 7))
	conn := ts.connect(b)
	ctx := context.Background()
	readAll := func(query string, want int) func(*pgx.Conn, *rand.Rand) error {
		return func(conn *pgx.Conn, _ *rand.Rand) error {
			rows, err := conn.Query(ctx, query)
			if err != nil {
				return err
			}
			n := 0
			for rows.Next() {
				if _, err := rows.Values(); err != nil {
					return err
				}
				n++
			}
			if rows.Err() == nil && n != want {
				return fmt.Errorf("%s: %d rows, want %d", query, n, want)
			}
			return rows.Err()
		}
	}
	all := readAll("SELECT * FROM customer_value", customers)
	if err := all(conn, nil); err != nil { // opens the version
		b.Fatal(err)
	}
	b.Run("all-rows", func(b *testing.B) {
		for b.Loop() {
			if err := all(conn, nil); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*customers)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("100-rows", func(b *testing.B) {
		measureLatency(b, conn, readAll("SELECT * FROM customer_value LIMIT 100", 100))
	})
}
