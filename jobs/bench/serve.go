package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"gopkg.in/yaml.v3"

	"github.com/custmart/custmart/fixtures/pgserver"
	"github.com/custmart/custmart/jobs/config"
	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/engine"
	"github.com/custmart/custmart/warehouse/publish"
)

// Queries of the serve benchmark: what a BI tool sends for one customer's
// card and for a dashboard tile.
const (
	lookupSQL    = "SELECT * FROM customer_value WHERE customer_id = $1"
	aggregateSQL = "SELECT rfm_segment, count(*), sum(revenue) FROM customer_value GROUP BY 1"
)

// Bounds of each measurement, so the benchmark takes minutes at a million
// customers whatever the servers' speed.
const (
	lookupWarmup, lookupCount       = 200, 2000
	aggregateWarmup, aggregateCount = 10, 200
	latencyBudget                   = 20 * time.Second // per server and query, one client
	throughputClients               = 8
	throughputDuration              = 5 * time.Second
	sampleIDs                       = 10_000
)

// pgBinDir holds Debian's PostgreSQL 15 server binaries (package postgresql-15).
const pgBinDir = "/usr/lib/postgresql/15/bin"

// Names of the benchmark's logins and of the password's environment variable
// of the custmart serve child.
const (
	serveUser        = "bench"
	servePasswordEnv = "CUSTMART_BENCH_SERVE_PASSWORD"
	pgUser           = "bench"
)

// MeasureServe is the ServeBenchmark of `custmart bench --serve`: it starts
// `custmart serve` over t.DataDir and a throwaway PostgreSQL 15 cluster
// holding the same customer_value table (with a primary key and fresh
// statistics), then measures a one-customer lookup and a GROUP BY segment
// aggregate against both over loopback: p50 and p99 with one client, and
// throughput with eight. Both servers are stopped before it returns.
func MeasureServe(ctx context.Context, t ServeTarget) ([]ServeResult, error) {
	if t.Log == nil {
		t.Log = io.Discard
	}
	logf := func(format string, args ...any) { fmt.Fprintf(t.Log, "bench: serve: "+format+"\n", args...) }
	if err := os.MkdirAll(t.Work, 0o755); err != nil {
		return nil, fmt.Errorf("serve bench: %w", err)
	}
	_, martsPath, err := publish.Current(warehouse.NewLayout(t.DataDir))
	if err != nil {
		return nil, fmt.Errorf("serve bench: marts of %s: %w", t.DataDir, err)
	}
	csvPath := filepath.Join(t.Work, "customer_value.csv")
	defer os.Remove(csvPath)
	table, err := exportCustomerValue(ctx, martsPath, csvPath)
	if err != nil {
		return nil, err
	}
	logf("exported %d customers from %s", table.rows, martsPath)

	cm, err := startCustmartServe(ctx, t)
	if err != nil {
		return nil, err
	}
	defer cm.stop()
	logf("custmart serve listening on %s", cm.addr)

	pg, err := startPostgres(ctx, t.Work, logf)
	if err != nil {
		return nil, err
	}
	defer pg.Stop()
	if err := pg.load(ctx, table); err != nil {
		return nil, err
	}
	logf("postgres on %s holds %d customers, primary key and statistics", pg.Addr, table.rows)
	// Lookups are measured in the steady state: once the server has built
	// customer_value's row index, which it does in the background.
	if err := cm.waitForLog(ctx, lookupIndexReady, 5*time.Minute); err != nil {
		return nil, err
	}
	logf("custmart serve's row index of customer_value is ready")

	servers := []struct {
		name string
		dsn  string
	}{{"custmart", cm.dsn}, {"postgres", pg.DSN}}
	queries := []benchQuery{
		{name: "lookup", sql: lookupSQL, warmup: lookupWarmup, count: lookupCount, check: func(rows int64) error {
			if rows != 1 {
				return fmt.Errorf("want 1 row, got %d", rows)
			}
			return nil
		}},
		{name: "segment aggregate", sql: aggregateSQL, warmup: aggregateWarmup, count: aggregateCount, check: func(customers int64) error {
			if customers != table.rows {
				return fmt.Errorf("the segments count %d customers, want %d", customers, table.rows)
			}
			return nil
		}},
	}
	var results []ServeResult
	for _, q := range queries {
		for _, s := range servers {
			r, err := measureLatency(ctx, s.dsn, q, table.ids)
			if err != nil {
				return results, fmt.Errorf("serve bench: %s on %s: %w", q.name, s.name, err)
			}
			r.Server = s.name
			results = append(results, r)
			logf("%s on %s, 1 client: p50 %.3f ms, p99 %.3f ms", q.name, s.name, r.P50MS, r.P99MS)
			r, err = measureThroughput(ctx, s.dsn, q, table.ids)
			if err != nil {
				return results, fmt.Errorf("serve bench: %s on %s: %w", q.name, s.name, err)
			}
			r.Server = s.name
			results = append(results, r)
			logf("%s on %s, %d clients: %.0f queries/s", q.name, s.name, throughputClients, r.QPS)
		}
	}
	if err := cm.stop(); err != nil {
		return results, err
	}
	return results, pg.Stop()
}

// exportedTable is customer_value as a CSV file plus what PostgreSQL needs
// to hold it, and a sample of its customer ids to look up.
type exportedTable struct {
	csv     string
	columns []pgColumn
	rows    int64
	ids     []string
}

type pgColumn struct{ name, typ string }

// exportCustomerValue writes customer_value of the marts file to csvPath
// with DuckDB, opening the file read-only.
func exportCustomerValue(ctx context.Context, martsPath, csvPath string) (exportedTable, error) {
	t := exportedTable{csv: csvPath}
	fail := func(err error) (exportedTable, error) {
		return t, fmt.Errorf("serve bench: export customer_value of %s: %w", martsPath, err)
	}
	db, err := engine.Open(ctx, "", engine.Settings{})
	if err != nil {
		return fail(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // the attachment lives on one connection
	if _, err := db.ExecContext(ctx, fmt.Sprintf("ATTACH %s AS marts (READ_ONLY)", warehouse.Quote(martsPath))); err != nil {
		return fail(err)
	}
	rows, err := db.QueryContext(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_catalog = 'marts' AND table_name = 'customer_value' ORDER BY ordinal_position`)
	if err != nil {
		return fail(err)
	}
	for rows.Next() {
		var name, duck string
		if err := rows.Scan(&name, &duck); err != nil {
			rows.Close()
			return fail(err)
		}
		typ, err := postgresType(duck)
		if err != nil {
			rows.Close()
			return fail(fmt.Errorf("column %s: %w", name, err))
		}
		t.columns = append(t.columns, pgColumn{name: name, typ: typ})
	}
	if err := rows.Close(); err != nil {
		return fail(err)
	}
	if len(t.columns) == 0 {
		return fail(errors.New("no customer_value table: publish marts with customer_value first"))
	}
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM marts.customer_value").Scan(&t.rows); err != nil {
		return fail(err)
	}
	if t.rows == 0 {
		return fail(errors.New("customer_value is empty"))
	}
	copySQL := fmt.Sprintf("COPY marts.customer_value TO %s (FORMAT csv, HEADER)", warehouse.Quote(csvPath))
	if _, err := db.ExecContext(ctx, copySQL); err != nil {
		return fail(err)
	}
	ids, err := db.QueryContext(ctx, fmt.Sprintf("SELECT customer_id FROM marts.customer_value USING SAMPLE reservoir(%d ROWS) REPEATABLE (1)", sampleIDs))
	if err != nil {
		return fail(err)
	}
	defer ids.Close()
	for ids.Next() {
		var id string
		if err := ids.Scan(&id); err != nil {
			return fail(err)
		}
		t.ids = append(t.ids, id)
	}
	if err := ids.Err(); err != nil {
		return fail(err)
	}
	return t, nil
}

var decimalType = regexp.MustCompile(`^DECIMAL\((\d+),\s*(\d+)\)$`)

// postgresType maps a DuckDB column type of the marts to PostgreSQL's.
func postgresType(duck string) (string, error) {
	if m := decimalType.FindStringSubmatch(duck); m != nil {
		return "numeric(" + m[1] + "," + m[2] + ")", nil
	}
	switch duck {
	case "VARCHAR":
		return "text", nil
	case "BOOLEAN":
		return "boolean", nil
	case "SMALLINT", "TINYINT", "UTINYINT":
		return "smallint", nil
	case "INTEGER", "USMALLINT":
		return "integer", nil
	case "BIGINT", "UINTEGER":
		return "bigint", nil
	case "HUGEINT", "UBIGINT":
		return "numeric", nil
	case "FLOAT":
		return "real", nil
	case "DOUBLE":
		return "double precision", nil
	case "DATE":
		return "date", nil
	case "TIMESTAMP":
		return "timestamp", nil
	case "TIMESTAMP WITH TIME ZONE":
		return "timestamptz", nil
	}
	return "", fmt.Errorf("type %s has no PostgreSQL counterpart in the serve benchmark", duck)
}

// freeAddr returns a loopback address no one listens on right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("serve bench: find a free loopback port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// custmartServe is a running `custmart serve` child.
type custmartServe struct {
	addr, dsn, config string
	logPath           string
	cmd               *exec.Cmd
	exited            chan struct{} // closed when the child has exited
	waitErr           error
	once              sync.Once
	stopErr           error
}

// startCustmartServe starts `custmart serve` over t.DataDir on a free port,
// with t.Config plus a serve section whose one user reads a random password
// from the child's environment, and waits until it accepts logins.
func startCustmartServe(ctx context.Context, t ServeTarget) (*custmartServe, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	password, err := randomPassword()
	if err != nil {
		return nil, err
	}
	config, err := writeServeConfig(t, addr)
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(t.Work, "custmart-serve.log")
	log, err := os.Create(logPath)
	if err != nil {
		os.Remove(config)
		return nil, fmt.Errorf("serve bench: %w", err)
	}
	defer log.Close() // the child holds its own descriptor
	cmd := exec.Command(t.Binary, "serve", "--config", config, "--data-dir", t.DataDir)
	cmd.Env = append(os.Environ(), servePasswordEnv+"="+password)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		os.Remove(config)
		return nil, fmt.Errorf("serve bench: start %s serve: %w", t.Binary, err)
	}
	s := &custmartServe{addr: addr, config: config, logPath: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	host, port, _ := net.SplitHostPort(addr)
	s.dsn = fmt.Sprintf("host=%s port=%s user=%s password=%s dbname=custmart sslmode=disable", host, port, serveUser, password)
	if err := waitReady(ctx, s.dsn, s.exited); err != nil {
		s.stop()
		return nil, fmt.Errorf("serve bench: custmart serve on %s: %w; the end of its log %s:\n%s", addr, err, logPath, tail(logPath, 20))
	}
	return s, nil
}

// lookupIndexReady is what `custmart serve` logs when customer_value's row
// index is ready.
const lookupIndexReady = `msg="lookup index ready"`

// waitForLog waits until the child's log has a line about customer_value
// that contains line, or fails when the child exits or timeout passes.
func (s *custmartServe) waitForLog(ctx context.Context, line string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		raw, err := os.ReadFile(s.logPath)
		if err != nil {
			return fmt.Errorf("serve bench: read %s: %w", s.logPath, err)
		}
		for _, l := range strings.Split(string(raw), "\n") {
			if strings.Contains(l, line) && strings.Contains(l, "mart=customer_value ") {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.exited:
			return fmt.Errorf("serve bench: custmart serve exited: %v; the end of its log %s:\n%s", s.waitErr, s.logPath, tail(s.logPath, 20))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("serve bench: custmart serve built no row index of customer_value within %s; the end of its log %s:\n%s", timeout, s.logPath, tail(s.logPath, 20))
		}
	}
}

// stop ends the child with SIGTERM (its graceful shutdown), killing it if it
// lingers, and removes its configuration. Safe to call more than once.
func (s *custmartServe) stop() error {
	s.once.Do(func() {
		defer os.Remove(s.config)
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(15 * time.Second):
			s.cmd.Process.Kill()
			<-s.exited
			s.stopErr = errors.New("serve bench: custmart serve did not stop within 15 s of SIGTERM; killed it")
			return
		}
		var exit *exec.ExitError
		if errors.As(s.waitErr, &exit) && !exit.Exited() { // ended by a signal, not an exit code
			return
		}
		if s.waitErr != nil {
			s.stopErr = fmt.Errorf("serve bench: custmart serve: %w", s.waitErr)
		}
	})
	return s.stopErr
}

// writeServeConfig writes t.Config (or the built-in configuration) with its
// serve section's listen address and users replaced, next to t.Config so
// relative paths keep their meaning.
func writeServeConfig(t ServeTarget, addr string) (string, error) {
	// Without a file, custmart runs on the built-in sample source: write it.
	src := config.SampleSource(t.DataDir)
	doc := map[string]any{
		"version": config.CurrentVersion,
		"sources": []map[string]any{{"name": src.Name, "path": src.Path, "format": src.Format,
			"columns": src.Columns, "cancellation_pattern": src.CancellationPattern}},
	}
	dir := t.Work
	if t.Config != "" {
		doc = map[string]any{}
		raw, err := os.ReadFile(t.Config)
		if err != nil {
			return "", fmt.Errorf("serve bench: read config: %w", err)
		}
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			return "", fmt.Errorf("serve bench: config %s: %w", t.Config, err)
		}
		dir = filepath.Dir(t.Config)
	}
	section, _ := doc["serve"].(map[string]any)
	if section == nil {
		section = map[string]any{}
	}
	section["listen"] = addr
	section["users"] = []map[string]any{{"name": serveUser, "password_env": servePasswordEnv}}
	doc["serve"] = section
	raw, err := yaml.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("serve bench: config: %w", err)
	}
	f, err := os.CreateTemp(dir, ".bench-serve-*.yaml")
	if err != nil {
		return "", fmt.Errorf("serve bench: %w", err)
	}
	if _, err := f.Write(raw); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", fmt.Errorf("serve bench: write %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("serve bench: write %s: %w", f.Name(), err)
	}
	return f.Name(), nil
}

func randomPassword() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("serve bench: password: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// waitReady tries to log in until it works, the server process exits, or a
// minute passes.
func waitReady(ctx context.Context, dsn string, exited <-chan struct{}) error {
	deadline := time.Now().Add(time.Minute)
	for {
		conn, err := pgx.Connect(ctx, dsn)
		if err == nil {
			return conn.Close(ctx)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no login within a minute: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return errors.New("the server exited")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// postgresCluster is the benchmark's throwaway PostgreSQL 15 server.
type postgresCluster struct{ *pgserver.Server }

// startPostgres starts a server in a fresh directory under work (or under
// the system temp directory when work is out of the postgres user's reach)
// on a free loopback port.
func startPostgres(ctx context.Context, work string, logf func(string, ...any)) (*postgresCluster, error) {
	if _, err := os.Stat(filepath.Join(pgBinDir, "postgres")); err != nil {
		return nil, fmt.Errorf("serve bench: no PostgreSQL 15 server in %s: install Debian's postgresql-15 (apt-get install postgresql-15)", pgBinDir)
	}
	parent := work
	if os.Geteuid() == 0 && !reachableByPostgres(ctx, work) {
		parent = os.TempDir()
		logf("the postgres user cannot reach %s; the cluster goes under %s", work, parent)
	}
	// Settings a DBA gives a dedicated read-mostly server: the table in
	// shared buffers, no JIT compile time added to short dashboard queries.
	s, err := pgserver.Start(ctx, pgserver.Options{BinDir: pgBinDir, Parent: parent, User: pgUser,
		Settings: []string{"shared_buffers=" + sharedBuffers(), "effective_cache_size=" + effectiveCache(), "jit=off"}})
	if err != nil {
		return nil, fmt.Errorf("serve bench: %w", err)
	}
	return &postgresCluster{s}, nil
}

// load creates customer_value as a DBA would (primary key on customer_id,
// statistics, visibility map), filled from the exported CSV.
func (pg *postgresCluster) load(ctx context.Context, t exportedTable) error {
	conn, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		return fmt.Errorf("serve bench: connect to postgres on %s: %w", pg.Addr, err)
	}
	defer conn.Close(ctx)
	cols := make([]string, len(t.columns))
	for i, c := range t.columns {
		cols[i] = pgx.Identifier{c.name}.Sanitize() + " " + c.typ
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE customer_value ("+strings.Join(cols, ", ")+")"); err != nil {
		return fmt.Errorf("serve bench: postgres: create customer_value: %w", err)
	}
	f, err := os.Open(t.csv)
	if err != nil {
		return fmt.Errorf("serve bench: %w", err)
	}
	defer f.Close()
	tag, err := conn.PgConn().CopyFrom(ctx, f, "COPY customer_value FROM STDIN (FORMAT csv, HEADER true)")
	if err != nil {
		return fmt.Errorf("serve bench: postgres: load %s: %w", t.csv, err)
	}
	if tag.RowsAffected() != t.rows {
		return fmt.Errorf("serve bench: postgres: loaded %d rows of %s, want %d", tag.RowsAffected(), t.csv, t.rows)
	}
	for _, stmt := range []string{
		"ALTER TABLE customer_value ADD PRIMARY KEY (customer_id)",
		"VACUUM (ANALYZE) customer_value",
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("serve bench: postgres: %s: %w", stmt, err)
		}
	}
	return nil
}

// reachableByPostgres says whether the postgres user can enter dir, which
// a root-owned cache directory under /root usually forbids.
func reachableByPostgres(ctx context.Context, dir string) bool {
	return exec.CommandContext(ctx, "runuser", "-u", "postgres", "--", "test", "-x", dir).Run() == nil
}

// sharedBuffers is a quarter of RAM up to 4GB, PostgreSQL's usual advice.
func sharedBuffers() string {
	mb := memTotal() / 4 >> 20
	if mb <= 0 {
		return "128MB"
	}
	return fmt.Sprintf("%dMB", min(mb, 4096))
}

// effectiveCache is three quarters of RAM: the page cache holds the rest.
func effectiveCache() string {
	mb := memTotal() * 3 / 4 >> 20
	if mb <= 0 {
		return "4GB"
	}
	return fmt.Sprintf("%dMB", mb)
}

// benchQuery is one query shape: lookups take a customer id parameter.
type benchQuery struct {
	name          string
	sql           string
	warmup, count int
	// check validates a result: the row count of a lookup, the sum of the
	// counts of an aggregate.
	check func(n int64) error
}

func (q benchQuery) lookup() bool { return strings.Contains(q.sql, "$1") }

// run sends the query once and reads the whole result.
func (q benchQuery) run(ctx context.Context, conn *pgx.Conn, ids []string, r *mrand.Rand) error {
	var args []any
	if q.lookup() {
		args = []any{ids[r.IntN(len(ids))]}
	}
	rows, err := conn.Query(ctx, q.sql, args...)
	if err != nil {
		return err
	}
	var n int64
	for rows.Next() {
		if q.lookup() {
			n++
			continue
		}
		vals, err := rows.Values()
		if err != nil {
			rows.Close()
			return err
		}
		count, ok := vals[1].(int64)
		if !ok {
			rows.Close()
			return fmt.Errorf("count(*) came back as %T, want int64", vals[1])
		}
		n += count
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return q.check(n)
}

// measureLatency runs the query from one client: warm-up, then up to count
// times or latencyBudget, whichever ends first.
func measureLatency(ctx context.Context, dsn string, q benchQuery, ids []string) (ServeResult, error) {
	res := ServeResult{Query: q.name, Clients: 1}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return res, err
	}
	defer conn.Close(context.Background())
	r := mrand.New(mrand.NewPCG(1, 1))
	for range q.warmup {
		if err := q.run(ctx, conn, ids, r); err != nil {
			return res, err
		}
	}
	var took []time.Duration
	start := time.Now()
	for len(took) < q.count && time.Since(start) < latencyBudget {
		t := time.Now()
		if err := q.run(ctx, conn, ids, r); err != nil {
			return res, err
		}
		took = append(took, time.Since(t))
	}
	return summarize(res, took, time.Since(start)), nil
}

// measureThroughput runs the query from throughputClients connections for
// throughputDuration, after a warm-up of each connection.
func measureThroughput(ctx context.Context, dsn string, q benchQuery, ids []string) (ServeResult, error) {
	res := ServeResult{Query: q.name, Clients: throughputClients}
	conns := make([]*pgx.Conn, throughputClients)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close(context.Background())
			}
		}
	}()
	for i := range conns {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return res, err
		}
		conns[i] = c
		if err := q.run(ctx, c, ids, mrand.New(mrand.NewPCG(uint64(i), 2))); err != nil {
			return res, err
		}
	}
	var (
		mu   sync.Mutex
		took []time.Duration
		wg   sync.WaitGroup
	)
	errs := make(chan error, len(conns))
	start := time.Now()
	deadline := start.Add(throughputDuration)
	for i, c := range conns {
		wg.Go(func() {
			r := mrand.New(mrand.NewPCG(uint64(i), 3))
			var mine []time.Duration
			for time.Now().Before(deadline) {
				t := time.Now()
				if err := q.run(ctx, c, ids, r); err != nil {
					errs <- err
					return
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			took = append(took, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return res, err
	}
	return summarize(res, took, elapsed), nil
}

// summarize fills the count, p50, p99 and rate of the measured queries.
func summarize(res ServeResult, took []time.Duration, elapsed time.Duration) ServeResult {
	res.Queries = int64(len(took))
	if len(took) == 0 {
		return res
	}
	slices.Sort(took)
	pct := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(took)))) - 1
		return float64(took[max(i, 0)]) / float64(time.Millisecond)
	}
	res.P50MS, res.P99MS = pct(0.50), pct(0.99)
	res.QPS = float64(len(took)) / elapsed.Seconds()
	return res
}
