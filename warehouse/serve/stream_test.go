package serve

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// childServerEnv, when set to a marts.duckdb path, makes the test binary a
// server over that file instead of running tests: the large-result test
// measures the memory of a server process of its own.
const childServerEnv = "CUSTMART_SERVE_CHILD"

func TestMain(m *testing.M) {
	if path := os.Getenv(childServerEnv); path != "" {
		os.Exit(serveChild(path))
	}
	os.Exit(m.Run())
}

// childMemoryLimit is the child server's DuckDB memory_limit.
const childMemoryLimit = "256MiB"

// serveChild serves path on a loopback port, prints the address, and stops
// when its standard input closes (when the test ends, however it ends).
func serveChild(path string) int {
	srv, err := New(Options{
		Users:       []User{{Name: testUser, Password: testPassword}},
		Current:     func() (string, string, error) { return "v1", path, nil },
		MemoryLimit: childMemoryLimit,
		Threads:     2,
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		bufio.NewReader(os.Stdin).ReadString('\n')
		cancel()
	}()
	fmt.Println(ln.Addr().String())
	if err := srv.Serve(ctx, ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startChildServer runs this test binary as a server over a small published
// version and returns its address and process id.
func startChildServer(t *testing.T) (addr string, pid int) {
	t.Helper()
	dataDir := t.TempDir()
	path := publishVersion(t, dataDir, "v1", 1000, 1)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childServerEnv+"="+path)
	cmd.Stderr = testWriter{t}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("child server: %v", err)
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Error("child server did not stop after its input closed")
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("child server printed no address: %v", err)
	}
	return strings.TrimSpace(line), cmd.Process.Pid
}

// procStatusKB reads a memory figure (VmRSS, VmHWM) of a process, in KiB.
func procStatusKB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("/proc/%d/status %s: %v", pid, line, err)
			}
			return kb
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, field)
	return 0
}

// TestLargeResultsStreamInBoundedMemory has three clients read, at once, a
// result of 300k rows of about 1 KB each (900 MB in all, beyond the server's
// 256 MiB memory_limit), pausing after the first rows as a slow client does.
// The server must send rows as the engine produces them and stop producing
// while a client's socket is full, so that its resident memory grows by a
// few buffers per client, not by the results; every row arrives, in order.
// (Without streaming the server's peak was 1 GB above its start.)
func TestLargeResultsStreamInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("child-process, large-data test")
	}
	const (
		clients   = 3
		largeRows = 300_000
		rowBytes  = 1000
		// perClientMB bounds how much a streaming client may add to the
		// server's resident memory: the engine's streaming buffer, the
		// chunk of rows being sent, the session's output buffer, and what
		// the engine's allocator keeps of freed chunks (about 50 MiB per
		// client measured, the same for 300 MB and 1 GB results).
		perClientMB = 64
	)
	addr, pid := startChildServer(t)
	host, port, _ := net.SplitHostPort(addr)
	url := fmt.Sprintf("host=%s port=%s user=%s password='%s' dbname=custmart sslmode=disable", host, port, testUser, testPassword)
	query := fmt.Sprintf("SELECT i, repeat('x', %d) || i::VARCHAR AS payload FROM range(%d) r(i)", rowBytes, largeRows)
	conns := make([]*pgx.Conn, clients)
	for c := range conns {
		// Connecting opens the engine.
		conns[c] = connectWith(t, url)
	}
	startKB := procStatusKB(t, pid, "VmRSS")

	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c, conn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rows, err := conn.Query(ctx, query)
			if err != nil {
				errs <- fmt.Errorf("client %d: %w", c, err)
				return
			}
			defer rows.Close()
			var want int64
			for rows.Next() {
				var i int64
				var payload string
				if err := rows.Scan(&i, &payload); err != nil {
					errs <- fmt.Errorf("client %d row %d: %w", c, want, err)
					return
				}
				if i != want || len(payload) != rowBytes+len(strconv.FormatInt(i, 10)) {
					errs <- fmt.Errorf("client %d row %d: got i = %d with %d payload bytes", c, want, i, len(payload))
					return
				}
				if want == 1000 {
					// A slow client: the server must wait for it, not
					// buffer the rest of the result.
					time.Sleep(2 * time.Second)
				}
				want++
			}
			if err := rows.Err(); err != nil {
				errs <- fmt.Errorf("client %d after %d rows: %w", c, want, err)
				return
			}
			if want != largeRows {
				errs <- fmt.Errorf("client %d: %d rows, want %d", c, want, largeRows)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	peakKB := procStatusKB(t, pid, "VmHWM")
	t.Logf("server resident memory: %d MiB at start, peak %d MiB, for %d clients reading %d MB each",
		startKB>>10, peakKB>>10, clients, largeRows*rowBytes/1_000_000)
	if grownMB := (peakKB - startKB) >> 10; grownMB > clients*perClientMB {
		t.Errorf("server resident memory grew by %d MiB while streaming, want at most %d MiB (%d per client)", grownMB, clients*perClientMB, perClientMB)
	}
}

// TestStreamingDriverVersion fails when go.mod moves to another duckdb-go:
// stream.go relies on the driver's internals, which a new version may
// change; check it against the new version's source, then update
// streamedDriverVersion.
func TestStreamingDriverVersion(t *testing.T) {
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mod), "\n") {
		if fields := strings.Fields(line); len(fields) >= 2 && fields[0] == "github.com/duckdb/duckdb-go/v2" {
			if fields[1] != streamedDriverVersion {
				t.Errorf("go.mod requires duckdb-go %s; stream.go was checked against %s", fields[1], streamedDriverVersion)
			}
			return
		}
	}
	t.Error("go.mod does not require github.com/duckdb/duckdb-go/v2")
}

// TestErrorAfterStreamedRows: rows stream as the engine produces them, so an
// error in a later row reaches the client after the rows before it, as an
// ErrorResponse ending the result (as in PostgreSQL), and the connection
// goes on. One engine thread: with two, DuckDB 1.5.6 sometimes (2 runs in
// 30) reports an error raised by its other thread to the fetch as
// "Interrupted!" instead of its own message.
func TestErrorAfterStreamedRows(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(o *Options) { o.Threads = 1 })
	conn := ts.connect(t)
	ctx := context.Background()
	rows, err := conn.Query(ctx, "SELECT i, CASE WHEN i = 100000 THEN error('row 100000 is bad') ELSE 'ok' END AS v FROM range(200000) r(i)")
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for rows.Next() {
		var i int64
		var v string
		if err := rows.Scan(&i, &v); err != nil {
			t.Fatal(err)
		}
		if i != n {
			t.Fatalf("row %d: i = %d", n, i)
		}
		n++
	}
	err = rows.Err()
	assertCode(t, err, codeInvalidParameterValue)
	if !strings.Contains(err.Error(), "row 100000 is bad") {
		t.Errorf("error %v does not carry the engine's message", err)
	}
	if n == 0 || n >= 100000 {
		t.Errorf("%d rows arrived before the error, want the streamed rows before row 100000", n)
	}
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Errorf("after the error: %d, %v", one, err)
	}
}

// TestStatementTimeoutInterruptsStreamingQuery: a query whose rows the
// engine is still looking for when the limit passes (here, never finds) is
// interrupted while it is being fetched from, not only while it executes.
func TestStatementTimeoutInterruptsStreamingQuery(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	conn := ts.connect(t)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, "SET statement_timeout = '300ms'"); err != nil {
		t.Fatal(err)
	}
	// Without the interrupt this scans 10^15 rows.
	_, err := conn.Exec(ctx, "SELECT i FROM range(1000000000000000) r(i) WHERE i % 7 = 9")
	assertCode(t, err, codeQueryCanceled)
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Errorf("after the timeout: %d, %v", one, err)
	}
}

// TestOpenCursorsPerConnectionAreBounded: each open cursor holds a running
// query, so one connection may keep at most maxOpenCursors open; closing one
// makes room.
func TestOpenCursorsPerConnectionAreBounded(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	conn := ts.connect(t)
	ctx := context.Background()
	exec := func(sql string) error {
		_, err := conn.Exec(ctx, sql)
		return err
	}
	if err := exec("BEGIN"); err != nil {
		t.Fatal(err)
	}
	for i := range maxOpenCursors {
		if err := exec(fmt.Sprintf("DECLARE c%d CURSOR FOR SELECT * FROM range(10000000)", i)); err != nil {
			t.Fatalf("cursor %d: %v", i, err)
		}
	}
	assertCode(t, exec("DECLARE one_more CURSOR FOR SELECT 1"), codeProgramLimitExceeded)
	if err := exec("ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if err := exec("BEGIN"); err != nil {
		t.Fatal(err)
	}
	for i := range maxOpenCursors {
		if err := exec(fmt.Sprintf("DECLARE c%d CURSOR FOR SELECT * FROM range(10000000)", i)); err != nil {
			t.Fatalf("after rollback, cursor %d: %v", i, err)
		}
	}
	if err := exec("CLOSE c0"); err != nil {
		t.Fatal(err)
	}
	if err := exec("DECLARE one_more CURSOR FOR SELECT 1"); err != nil {
		t.Errorf("after CLOSE: %v", err)
	}
	var n int64
	if err := conn.QueryRow(ctx, "FETCH 1 FROM c31", pgx.QueryExecModeSimpleProtocol).Scan(&n); err != nil || n != 0 {
		t.Errorf("FETCH from the last cursor: %d, %v", n, err)
	}
}
