package serve

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestClientsSeeNoServerPaths: the engine's introspection, however
// qualified, and error texts show neither the data directory nor the
// server's home directory.
func TestClientsSeeNoServerPaths(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	conn := ts.connect(t)
	ctx := context.Background()
	home, _ := os.UserHomeDir()
	leaks := func(what, text string) {
		t.Helper()
		if strings.Contains(text, ts.dataDir) || len(home) > 1 && strings.Contains(text, home+"/") {
			t.Errorf("%s shows a server path: %s", what, text)
		}
	}
	for _, q := range []string{
		"SELECT * FROM duckdb_databases()",
		"SELECT * FROM system.main.duckdb_databases()",
		"SELECT * FROM main.duckdb_databases",
		`SELECT * FROM "duckdb_databases"()`,
		"SELECT * FROM pragma_database_list",
		"SELECT name, value FROM duckdb_settings()",
		"SELECT name, value FROM pg_catalog.duckdb_settings",
	} {
		rows, err := conn.Query(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		n := 0
		for rows.Next() {
			values, err := rows.Values()
			if err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			leaks(q, fmt.Sprint(values...))
			n++
		}
		if err := rows.Err(); err != nil || n == 0 {
			t.Fatalf("%s: %d rows, %v", q, n, err)
		}
	}
	// The marts are still attached, and settings still readable.
	var marts, limit string
	if err := conn.QueryRow(ctx, "SELECT database_name FROM duckdb_databases() WHERE NOT internal AND readonly").Scan(&marts); err != nil || marts != catalogName {
		t.Errorf("attached read-only database %q, %v; want %s", marts, err, catalogName)
	}
	if err := conn.QueryRow(ctx, "SELECT value FROM duckdb_settings() WHERE name = 'enable_external_access'").Scan(&limit); err != nil || limit != "false" {
		t.Errorf("enable_external_access = %q, %v; want false", limit, err)
	}
	// Engine functions that reach for the secret and extension directories
	// under the home directory fail without naming it.
	for _, q := range []string{"SELECT * FROM duckdb_extensions()", "SELECT * FROM duckdb_secrets()"} {
		var pe *pgconn.PgError
		if _, err := conn.Exec(ctx, q); errors.As(err, &pe) {
			leaks(q, pe.Message+" "+pe.Detail)
		}
	}
}

// TestUnservableMartsDetailHidesPaths: when no version can be served,
// clients learn why by file name, not by its place on the server.
func TestUnservableMartsDetailHidesPaths(t *testing.T) {
	t.Parallel()
	pointer := filepath.Join(t.TempDir(), "marts", "CURRENT")
	ts := startServer(t, func(o *Options) {
		o.Current = func() (string, string, error) {
			_, err := os.ReadFile(pointer)
			return "", "", err
		}
	})
	_, err := pgx.Connect(context.Background(), ts.url(""))
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != codeCannotConnectNow {
		t.Fatalf("connect with nothing published: %v", err)
	}
	if strings.Contains(pe.Detail, filepath.Dir(pointer)) || !strings.Contains(pe.Detail, "CURRENT") {
		t.Errorf("detail %q: want the file named without its directory", pe.Detail)
	}
}
