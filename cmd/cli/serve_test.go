package cli

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custmart/custmart/fixtures"
	"github.com/custmart/custmart/warehouse/clv"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServeAnswersPostgresClients runs the pipeline, starts `custmart serve`
// from a config with an environment-variable password and a hashed one, and
// queries the marts with pgx as both users.
func TestServeAnswersPostgresClients(t *testing.T) {
	if testing.Short() {
		t.Skip("serves psql, a client program; make test runs it")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if _, err := fixtures.Generate(context.Background(), fixtures.Options{Customers: 100, Seed: 3, Out: filepath.Join(data, "inbox"), Days: 60}); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "run", "--data-dir", data, "--as-of", "2024-02-29")

	var hashOut, errOut bytes.Buffer
	if code := DoContext(context.Background(), []string{"serve", "hash-password"}, strings.NewReader("s3cret\n"), &hashOut, &errOut); code != 0 {
		t.Fatalf("hash-password exit %d: %s", code, errOut.String())
	}
	verifier := strings.TrimSpace(hashOut.String())
	if !strings.HasPrefix(verifier, "SCRAM-SHA-256$") || strings.Contains(verifier, "s3cret") {
		t.Fatalf("hash-password printed %q", verifier)
	}
	addr := freeAddr(t)
	t.Setenv("CUSTMART_TEST_ANALYST_PASSWORD", "analyst-pw")
	// The built-in sample source reads <data-dir>/inbox; the config says the same.
	cfg := writeConfig(t, fmt.Sprintf(`version: 1
sources:
  - name: sample
    path: %s
    columns: {customer_id: customer_id, ts: ts, amount: amount}
serve:
  listen: %s
  users:
    - name: analyst
      password_env: CUSTMART_TEST_ANALYST_PASSWORD
    - name: dashboard
      scram: "%s"
`, filepath.Join(data, "inbox"), addr, verifier))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var serveErr bytes.Buffer
	go func() {
		done <- DoContext(ctx, []string{"serve", "--config", cfg, "--data-dir", data}, strings.NewReader(""), &bytes.Buffer{}, &serveErr)
	}()
	for _, login := range []struct{ user, password string }{{"analyst", "analyst-pw"}, {"dashboard", "s3cret"}} {
		url := fmt.Sprintf("postgres://%s:%s@%s/custmart?sslmode=disable", login.user, login.password, addr)
		var conn *pgx.Conn
		var err error
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if conn, err = pgx.Connect(context.Background(), url); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("connect as %s: %v\nserver stderr: %s", login.user, err, serveErr.String())
		}
		var customers int64
		if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM rfm WHERE segment IS NOT NULL").Scan(&customers); err != nil {
			t.Fatal(err)
		}
		if customers != 100 {
			t.Fatalf("%s sees %d customers in rfm, want 100", login.user, customers)
		}
		if _, err := conn.Exec(context.Background(), "DROP TABLE rfm"); err == nil {
			t.Fatal("DROP TABLE over the server succeeded; it must be read-only")
		}
		conn.Close(context.Background())
	}
	assertLookupIndexes(t, data, fmt.Sprintf("postgres://analyst:analyst-pw@%s/custmart?sslmode=disable", addr))
	assertCLVFunctions(t, fmt.Sprintf("postgres://analyst:analyst-pw@%s/custmart?sslmode=disable", addr))
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exit %d after shutdown: %s", code, serveErr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after its context was cancelled")
	}
}

func TestServeNeedsUsersAndTheirPasswords(t *testing.T) {
	t.Parallel()
	noUsers := writeConfig(t, "version: 1\nsources:\n  - {name: s, path: /tmp, columns: {customer_id: c, ts: t, amount: a}}\n")
	if code, _, errOut := custmart(t, "serve", "--config", noUsers); code != ExitUsage || !strings.Contains(errOut, "no users") {
		t.Fatalf("exit %d, %s", code, errOut)
	}
	unsetEnv := writeConfig(t, "version: 1\nsources:\n  - {name: s, path: /tmp, columns: {customer_id: c, ts: t, amount: a}}\nserve:\n  users:\n    - {name: a, password_env: CUSTMART_TEST_UNSET_PW}\n")
	if code, _, errOut := custmart(t, "serve", "--config", unsetEnv); code != ExitUsage || !strings.Contains(errOut, "CUSTMART_TEST_UNSET_PW") {
		t.Fatalf("exit %d, %s", code, errOut)
	}
	plaintext := writeConfig(t, "version: 1\nsources:\n  - {name: s, path: /tmp, columns: {customer_id: c, ts: t, amount: a}}\nserve:\n  users:\n    - {name: a, scram: hunter2}\n")
	if code, _, errOut := custmart(t, "serve", "--config", plaintext); code != ExitUsage || !strings.Contains(errOut, "never a plaintext password") {
		t.Fatalf("exit %d, %s", code, errOut)
	}
}

// assertLookupIndexes waits for the row indexes serve builds for the customer
// marts of the current version, then checks that a point lookup answered
// from one equals the same lookup answered by DuckDB.
func assertLookupIndexes(t *testing.T, data, url string) {
	t.Helper()
	current, err := os.ReadFile(filepath.Join(data, "marts", "CURRENT"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(data, "serve", "lookup", strings.TrimSpace(string(current)))
	for _, mart := range []string{"customer_value", "customer_profile", "rfm"} {
		path := filepath.Join(dir, mart+".rows")
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if _, err := os.Stat(path); err == nil {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("no row index of %s: %v", mart, err)
			}
		}
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var id string
	if err := conn.QueryRow(ctx, "SELECT max(customer_id) FROM customer_profile").Scan(&id); err != nil {
		t.Fatal(err)
	}
	row := func(query string) []any {
		rows, err := conn.Query(ctx, query, id)
		if err != nil {
			t.Fatal(err)
		}
		var got []any
		for rows.Next() {
			if got, err = rows.Values(); err != nil {
				t.Fatal(err)
			}
		}
		if rows.Err() != nil {
			t.Fatal(rows.Err())
		}
		return got
	}
	lookup := "SELECT * FROM customer_profile WHERE customer_id = $1"
	indexed, plain := row(lookup), row(lookup+" AND true")
	if len(indexed) == 0 || fmt.Sprint(indexed) != fmt.Sprint(plain) {
		t.Errorf("lookup of %s:\nindexed %v\n DuckDB %v", id, indexed, plain)
	}
}

// assertCLVFunctions calls the CLV formulas over the server, as an analyst
// in a BI tool would, and compares them with the Go functions.
func assertCLVFunctions(t *testing.T, url string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var pAlive, expected float64
	m := clv.BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426}
	if err := conn.QueryRow(ctx, "SELECT bgnbd_p_alive(2, 30.43, 38.86, $1, $2, $3, $4), bgnbd_expected_purchases(39, 2, 30.43, 38.86, $1, $2, $3, $4)",
		m.R, m.Alpha, m.A, m.B).Scan(&pAlive, &expected); err != nil {
		t.Fatalf("CLV functions over the server: %v", err)
	}
	if pAlive != m.PAlive(2, 30.43, 38.86) || expected != m.ExpectedPurchases(39, 2, 30.43, 38.86) {
		t.Errorf("over the server: p_alive %v, expected purchases %v; Go: %v, %v", pAlive, expected, m.PAlive(2, 30.43, 38.86), m.ExpectedPurchases(39, 2, 30.43, 38.86))
	}
}
