package serve

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestClientsCannotWriteReadFilesOrChangeTheEngine(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	conn := ts.connect(t)
	ctx := context.Background()
	outside := filepath.Join(t.TempDir(), "stolen.csv")
	secret := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(secret, []byte("a,b\n1,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, query, code string
	}{
		{"create table", "CREATE TABLE x (a INTEGER)", codeReadOnlyTransaction},
		{"create temp table", "CREATE TEMP TABLE x AS SELECT 1", codeReadOnlyTransaction},
		{"create table as", "CREATE TABLE memory.main.x AS SELECT * FROM customer_value", codeReadOnlyTransaction},
		{"create macro", "CREATE MACRO f(a) AS a", codeReadOnlyTransaction},
		{"drop", "DROP TABLE customer_value", codeReadOnlyTransaction},
		{"alter", "ALTER TABLE customer_value ADD COLUMN x INTEGER", codeReadOnlyTransaction},
		{"insert", "INSERT INTO customer_value (customer_id) VALUES ('x')", codeReadOnlyTransaction},
		{"update", "UPDATE customer_value SET frequency = 0", codeReadOnlyTransaction},
		{"delete", "DELETE FROM customer_value", codeReadOnlyTransaction},
		{"truncate", "TRUNCATE customer_value", codeReadOnlyTransaction},
		{"copy to file", "COPY customer_value TO '" + outside + "'", codeInsufficientPrivilege},
		{"copy query to file", "COPY (SELECT * FROM customer_value) TO '" + outside + "' (FORMAT csv)", codeInsufficientPrivilege},
		{"copy to program", "COPY customer_value TO PROGRAM 'cat > " + outside + "'", codeInsufficientPrivilege},
		{"copy from", "COPY customer_value FROM '" + secret + "'", codeReadOnlyTransaction},
		{"export database", "EXPORT DATABASE '" + filepath.Dir(outside) + "'", codeInsufficientPrivilege},
		{"attach", "ATTACH '" + filepath.Join(filepath.Dir(outside), "x.duckdb") + "' AS x", codeInsufficientPrivilege},
		{"detach", "DETACH custmart", codeInsufficientPrivilege},
		{"use", "USE memory", codeInsufficientPrivilege},
		{"install", "INSTALL httpfs", codeInsufficientPrivilege},
		{"load", "LOAD httpfs", codeInsufficientPrivilege},
		{"pragma", "PRAGMA memory_limit = '1TB'", codeInsufficientPrivilege},
		{"call", "CALL pragma_version()", codeInsufficientPrivilege},
		{"checkpoint", "CHECKPOINT", codeInsufficientPrivilege},
		{"set memory_limit", "SET memory_limit = '100GB'", codeInsufficientPrivilege},
		{"set threads", "SET threads TO 64", codeInsufficientPrivilege},
		{"set external access", "SET enable_external_access = true", codeInsufficientPrivilege},
		{"set lock", "SET lock_configuration = false", codeInsufficientPrivilege},
		{"set global", "SET GLOBAL memory_limit = '1GB'", codeInsufficientPrivilege},
		{"set variable", "SET VARIABLE x = 1", codeInsufficientPrivilege},
		{"reset engine setting", "RESET memory_limit", codeInsufficientPrivilege},
		{"explain analyze of a write", "EXPLAIN ANALYZE CREATE TABLE x AS SELECT 1", codeInsufficientPrivilege},
		{"read_csv", "SELECT * FROM read_csv('/etc/passwd')", codeInsufficientPrivilege},
		{"read_csv of a file made for it", "SELECT * FROM read_csv('" + secret + "')", codeInsufficientPrivilege},
		{"read_text", "SELECT * FROM read_text('/etc/passwd')", codeInsufficientPrivilege},
		{"read_blob", "SELECT * FROM read_blob('/etc/passwd')", codeInsufficientPrivilege},
		{"glob", "SELECT * FROM glob('/etc/*')", codeInsufficientPrivilege},
		{"read_parquet", "SELECT * FROM read_parquet('" + filepath.Join(ts.dataDir, "marts", "v1", "rfm.parquet") + "')", codeInsufficientPrivilege},
		// With file access off, a path in FROM is just a missing table.
		{"replacement scan", "SELECT * FROM '" + secret + "'", codeUndefinedTable},
		{"query function", "SELECT * FROM query('CREATE TABLE x AS SELECT 1')", codeSyntaxError},
	}
	for _, proto := range protocols {
		for _, c := range cases {
			t.Run(proto.name+"/"+c.name, func(t *testing.T) {
				assertCode(t, proto.exec(ctx, conn, c.query), c.code)
				var n int64
				if err := conn.QueryRow(ctx, "SELECT count(*) FROM customer_value").Scan(&n); err != nil || n != 1000 {
					t.Fatalf("after %q: count = %d, %v; want the marts intact and the connection usable", c.query, n, err)
				}
			})
		}
	}
	if _, err := os.Stat(outside); !os.IsNotExist(err) {
		t.Errorf("a refused COPY TO created %s", outside)
	}
	// The engine's settings did not move.
	var limit string
	if err := conn.QueryRow(ctx, "SELECT value FROM duckdb_settings() WHERE name = 'enable_external_access'").Scan(&limit); err != nil || limit != "false" {
		t.Errorf("enable_external_access = %q, %v; want false", limit, err)
	}
}

func TestSecondStatementOfAQueryStringCannotWrite(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	conn := ts.connect(t)
	ctx := context.Background()
	// The simple protocol runs statements in turn and stops at the refusal.
	results, err := conn.PgConn().Exec(ctx, "SELECT count(*) FROM customer_value; DROP TABLE customer_value; SELECT 1").ReadAll()
	if len(results) == 0 || results[0].Err != nil || len(results[0].Rows) != 1 || string(results[0].Rows[0][0]) != "1000" {
		t.Fatalf("first statement: %+v", results)
	}
	assertCode(t, err, codeReadOnlyTransaction)
	// The extended protocol does not take several statements at all.
	assertCode(t, execExtended(ctx, conn, "SELECT 1; DROP TABLE customer_value"), codeSyntaxError)
	// A semicolon inside a literal or comment does not split.
	var s string
	if err := conn.QueryRow(ctx, "SELECT 'a; DROP TABLE customer_value' -- ; DROP TABLE rfm", pgx.QueryExecModeSimpleProtocol).Scan(&s); err != nil || !strings.HasPrefix(s, "a;") {
		t.Errorf("literal with a semicolon = %q, %v", s, err)
	}
	var n int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM rfm").Scan(&n); err != nil || n != 1000 {
		t.Errorf("rfm count = %d, %v", n, err)
	}
}

// TestEngineIsLockedDownOnItsOwn proves the engine refuses writes, file
// access and setting changes even for SQL that reached it directly, without
// the server's statement checks.
func TestEngineIsLockedDownOnItsOwn(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	path := publishVersion(t, dataDir, "v1", 10, 1)
	ctx := context.Background()
	eng, err := openEngine(ctx, "v1", path, engineConfig{memoryLimit: "256MB", users: []string{testUser}})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.db.Close()
	for _, q := range []string{
		"CREATE TABLE custmart.main.x (a INTEGER)",
		"INSERT INTO customer_value (customer_id) VALUES ('x')",
		"SET enable_external_access = true",
		"SET lock_configuration = false",
		"SET memory_limit = '100GB'",
		"SELECT * FROM read_csv('/etc/passwd')",
		"SELECT * FROM read_text('/etc/passwd')",
		"COPY customer_value TO '" + filepath.Join(dataDir, "out.csv") + "'",
		"ATTACH '" + filepath.Join(dataDir, "other.duckdb") + "' AS other",
		"INSTALL httpfs",
	} {
		if _, err := eng.db.ExecContext(ctx, q); err == nil {
			t.Errorf("the engine ran %q", q)
		}
	}
	var limit string
	if err := eng.db.QueryRowContext(ctx, "SELECT value FROM duckdb_settings() WHERE name = 'memory_limit'").Scan(&limit); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(limit, "MiB") {
		t.Errorf("memory_limit = %q, want the configured 256MB", limit)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "out.csv")); !os.IsNotExist(err) {
		t.Error("COPY TO wrote a file")
	}
}

// TestOddStatementsKeepTheConnectionUsable sends incomplete and unusual
// statements: each gets an answer and the session carries on.
func TestOddStatementsKeepTheConnectionUsable(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	conn := ts.connect(t)
	ctx := context.Background()
	for _, q := range []string{"COPY", "COPY (", "COPY t TO", "SET", "SET x", "RESET", "SHOW", "DEALLOCATE nope",
		"SAVEPOINT a", "ROLLBACK TO a", "RELEASE a", "EXPLAIN", "COMMIT", "ROLLBACK", ";", "", "SELECT $1", "'", "/*",
		"SHOW TABLES", "DESCRIBE customer_value", "SUMMARIZE rfm", "SELECT * FROM duckdb_settings() LIMIT 1",
		"DISCARD ALL", "UNLISTEN *", "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"} {
		for _, proto := range protocols {
			proto.exec(ctx, conn, q)
			var n int
			// DISCARD ALL drops pgx's cached statements, as PostgreSQL does.
			if err := conn.QueryRow(ctx, "SELECT 1", pgx.QueryExecModeSimpleProtocol).Scan(&n); err != nil || n != 1 {
				t.Fatalf("after %s %q: %d, %v", proto.name, q, n, err)
			}
		}
	}
}
