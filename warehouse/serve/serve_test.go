package serve

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/jackc/pgx/v5"

	"github.com/custmart/custmart/warehouse"
)

const (
	testUser     = "analyst"
	testPassword = "s3cret pass"
)

// publishVersion writes a marts version the way the publisher does:
// <dataDir>/marts/<version>/marts.duckdb plus one Parquet file per table,
// and the marts' keys in _version.json.
// seed makes versions differ in size and values.
func publishVersion(t testing.TB, dataDir, version string, customers, seed int) string {
	t.Helper()
	dir := filepath.Join(dataDir, "marts", version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "marts.duckdb")
	db, err := sql.Open("duckdb", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stmts := []string{
		fmt.Sprintf(`CREATE TABLE customer_value AS
			SELECT 'C' || lpad(i::VARCHAR, 7, '0') AS customer_id,
				['champions', 'loyal', 'at_risk', 'hibernating', 'new'][1 + (i * 7 + %[2]d) %% 5] AS segment,
				((i * 13 + %[2]d) %% 365)::INTEGER AS recency_days,
				(1 + (i * 3 + %[2]d) %% 40)::BIGINT AS frequency,
				((i * 37 + %[2]d * 11) %% 100000 / 100)::DECIMAL(18,2) AS monetary,
				((i * 17 + %[2]d) %% 5000) / 7.0 AS clv,
				DATE '2020-01-01' + ((i + %[2]d) %% 1500)::INTEGER AS first_order,
				TIMESTAMP '2024-01-01 00:00:00' + to_microseconds(((i * 7919 + %[2]d) %% 31536000000)::BIGINT * 1000) AS last_order,
				(i + %[2]d) %% 4 = 0 AS churned
			FROM range(%[1]d) r(i)`, customers, seed),
		`CREATE TABLE rfm AS
			SELECT customer_id, (1 + recency_days % 5)::SMALLINT AS r_score, (1 + frequency % 5)::SMALLINT AS f_score,
				(1 + monetary::BIGINT % 5)::SMALLINT AS m_score, segment AS rfm_segment
			FROM customer_value`,
		`CREATE TABLE segment_summary AS
			SELECT segment, count(*) AS customers, sum(monetary) AS revenue, avg(clv) AS avg_clv,
				DATE '2025-06-30' AS as_of
			FROM customer_value GROUP BY segment`,
	}
	for _, table := range []string{"customer_value", "rfm", "segment_summary"} {
		stmts = append(stmts, fmt.Sprintf("COPY %s TO '%s' (FORMAT parquet)", table, filepath.Join(dir, table+".parquet")))
	}
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("publish %s: %v\n%s", version, err, q)
		}
	}
	byCustomer := []string{"customer_id"}
	declareKeys(t, dir, map[string][]string{"customer_value": byCustomer, "rfm": byCustomer, "segment_summary": {"segment"}})
	return path
}

// publisher is the resolver a test controls: what Current returns.
type publisher struct {
	mu      sync.Mutex
	version string
	path    string
}

func (p *publisher) set(version, path string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.version, p.path = version, path
}

func (p *publisher) current() (string, string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.path == "" {
		return "", "", errors.New("nothing published")
	}
	return p.version, p.path, nil
}

// testServer is a running server over a published version.
type testServer struct {
	srv     *Server
	addr    string
	dataDir string
	pub     *publisher
	stop    func()
}

type serverOption func(*Options)

// startServer publishes version v1 with 1000 customers and serves it on a
// random loopback port until the test ends.
func startServer(t testing.TB, options ...serverOption) *testServer {
	t.Helper()
	dataDir := t.TempDir()
	pub := &publisher{}
	pub.set("v1", publishVersion(t, dataDir, "v1", 1000, 1))
	opts := Options{
		Users:   []User{{Name: testUser, Password: testPassword}},
		Current: pub.current,
		Logger:  slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	for _, o := range options {
		o(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	ts := &testServer{srv: srv, addr: ln.Addr().String(), dataDir: dataDir, pub: pub}
	var once sync.Once
	ts.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Serve: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("Serve did not return after its context ended")
			}
		})
	}
	t.Cleanup(ts.stop)
	return ts
}

// testWriter sends server logs to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

func (ts *testServer) host() (string, string) {
	host, port, _ := net.SplitHostPort(ts.addr)
	return host, port
}

// url is a connection string for libpq-style clients; settings in extra
// override the defaults.
func (ts *testServer) url(extra string) string {
	host, port := ts.host()
	return fmt.Sprintf("host=%s port=%s user=%s password='%s' dbname=custmart sslmode=disable %s", host, port, testUser, testPassword, extra)
}

func (ts *testServer) connect(t testing.TB) *pgx.Conn {
	t.Helper()
	return connectWith(t, ts.url(""))
}

func connectWith(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// duckQuery reads the marts file directly, as the source of truth.
func duckQuery(t testing.TB, path, query string, args ...any) [][]any {
	t.Helper()
	db, err := sql.Open("duckdb", path+"?access_mode=read_only")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]any
	for rows.Next() {
		vals, err := warehouse.ScanValues(rows, len(cols))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestNewChecksOptions(t *testing.T) {
	t.Parallel()
	current := func() (string, string, error) { return "v1", "/nonexistent/marts.duckdb", nil }
	user := []User{{Name: testUser, Password: testPassword}}
	cases := []struct {
		name string
		opts Options
		want string
	}{
		{"no resolver", Options{Users: user}, "Options.Current is required"},
		{"no users", Options{Current: current}, "no users configured"},
		{"user without secret", Options{Current: current, Users: []User{{Name: "x"}}}, `user "x" has no password`},
		{"user with both", Options{Current: current, Users: []User{{Name: "x", Password: "p", SCRAMVerifier: "v"}}}, "both a password and a SCRAM verifier"},
		{"bad verifier", Options{Current: current, Users: []User{{Name: "x", SCRAMVerifier: "md5abc"}}}, "not a SCRAM-SHA-256 verifier"},
		{"duplicate user", Options{Current: current, Users: append(user, user...)}, "configured twice"},
		{"bad memory limit", Options{Current: current, Users: user, MemoryLimit: "lots"}, `MemoryLimit "lots" is not a size`},
		{"require TLS without cert", Options{Current: current, Users: user, RequireTLS: true}, "RequireTLS needs TLSCertFile"},
		{"missing cert", Options{Current: current, Users: user, TLSCertFile: "/nonexistent.crt", TLSKeyFile: "/nonexistent.key"}, "load TLS certificate"},
	}
	for _, c := range cases {
		_, err := New(c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to mention %q", c.name, err, c.want)
		}
	}
	if _, err := New(Options{Current: current, Users: user, MemoryLimit: "512MiB"}); err != nil {
		t.Errorf("valid options: %v", err)
	}
}

// TestUnpublishedMartsRefuseConnections starts a server before anything is
// published: clients are told why, and connect once a version exists.
func TestUnpublishedMartsRefuseConnections(t *testing.T) {
	t.Parallel()
	var published atomic.Bool
	ts := startServer(t, func(o *Options) {
		current := o.Current
		o.Current = func() (string, string, error) {
			if !published.Load() {
				return "", "", errors.New("nothing published")
			}
			return current()
		}
	})
	_, err := pgx.Connect(context.Background(), ts.url(""))
	assertCode(t, err, codeCannotConnectNow)
	published.Store(true)
	conn := ts.connect(t)
	var n int64
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM customer_value").Scan(&n); err != nil || n != 1000 {
		t.Errorf("after publishing: %d, %v", n, err)
	}
}
