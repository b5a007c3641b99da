package serve

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// clientQuery is one statement a BI tool sends, kept as the tool sends it in
// testdata/clients/<tool>.sql.
type clientQuery struct {
	tool, name, sql string
	batch           bool // several statements in one Query message
}

// loadClientQueries reads the golden files: a header comment, then entries
// that each start with "-- name: <what the tool does>".
func loadClientQueries(t *testing.T) []clientQuery {
	t.Helper()
	files, err := filepath.Glob("testdata/clients/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden client queries: %v", err)
	}
	var out []clientQuery
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tool := strings.TrimSuffix(filepath.Base(f), ".sql")
		entries := strings.Split(string(data), "\n-- name: ")
		for _, e := range entries[1:] {
			name, body, _ := strings.Cut(e, "\n")
			q := clientQuery{tool: tool, name: name}
			if rest, ok := strings.CutPrefix(body, "-- batch: true\n"); ok {
				body, q.batch = rest, true
			}
			q.sql = strings.TrimSpace(body)
			out = append(out, q)
		}
	}
	return out
}

// TestBIClientGoldenQueries runs every recorded client statement over both
// protocols: each must succeed and describe its columns, as PostgreSQL would.
func TestBIClientGoldenQueries(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	conn := ts.connect(t)
	ctx := context.Background()
	queries := loadClientQueries(t)
	if len(queries) < 40 {
		t.Fatalf("only %d golden client queries", len(queries))
	}
	for _, q := range queries {
		t.Run(q.tool+"/"+q.name+"/simple", func(t *testing.T) {
			mrr := conn.PgConn().Exec(ctx, q.sql)
			var columns []int
			for mrr.NextResult() {
				rr := mrr.ResultReader()
				columns = append(columns, len(rr.FieldDescriptions()))
				if _, err := rr.Close(); err != nil {
					mrr.Close()
					t.Fatalf("%v\n%s", err, q.sql)
				}
			}
			if err := mrr.Close(); err != nil {
				t.Fatalf("%v\n%s", err, q.sql)
			}
			want := 1
			if q.batch {
				want = strings.Count(q.sql, ";\n") + 1
			}
			if len(columns) != want {
				t.Fatalf("%d results, want %d", len(columns), want)
			}
			for i, n := range columns {
				if n == 0 {
					t.Errorf("result %d describes no columns", i)
				}
			}
		})
		if q.batch {
			continue
		}
		t.Run(q.tool+"/"+q.name+"/extended", func(t *testing.T) {
			rr := conn.PgConn().ExecParams(ctx, q.sql, nil, nil, nil, nil)
			n := len(rr.FieldDescriptions())
			if _, err := rr.Close(); err != nil {
				t.Fatalf("%v\n%s", err, q.sql)
			}
			if n == 0 {
				t.Error("describes no columns")
			}
		})
	}
}

// TestUnknownCatalogObjects: what the catalog lacks fails as PostgreSQL
// fails, with a SQLSTATE and no hint naming the engine's internals.
func TestUnknownCatalogObjects(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	conn := ts.connect(t)
	for _, c := range []struct{ sql, code string }{
		{"SELECT * FROM pg_catalog.pg_stat_statements", codeUndefinedTable},
		{"SELECT pg_catalog.pg_get_functiondef(1)", codeUndefinedFunction},
		{"SELECT pg_get_userbyid_x(10)", codeUndefinedFunction},
	} {
		_, err := conn.PgConn().Exec(context.Background(), c.sql).ReadAll()
		var pe *pgconn.PgError
		if !errors.As(err, &pe) {
			t.Fatalf("%s: %v, want a PostgreSQL error", c.sql, err)
		}
		if pe.Code != c.code || pe.Hint != "" || strings.Contains(pe.Message, "pgcompat") || strings.Contains(pe.Message, "Did you mean") {
			t.Errorf("%s: %s %q hint %q", c.sql, pe.Code, pe.Message, pe.Hint)
		}
	}
}

// TestStatActivityShowsSessions: pg_stat_activity lists the connected
// sessions with their pids, and the caller's own statement as active.
func TestStatActivityShowsSessions(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	a, b := ts.connect(t), ts.connect(t)
	res, err := a.PgConn().Exec(context.Background(),
		"SELECT pid, usename, state, query FROM pg_catalog.pg_stat_activity ORDER BY pid").ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, r := range res[0].Rows {
		got[string(r[0])] = []string{string(r[1]), string(r[2]), string(r[3])}
	}
	own, other := got[fmt.Sprint(a.PgConn().PID())], got[fmt.Sprint(b.PgConn().PID())]
	if len(got) != 2 || own == nil || other == nil {
		t.Fatalf("sessions %v, want pids %d and %d", got, a.PgConn().PID(), b.PgConn().PID())
	}
	if own[0] != testUser || own[1] != "active" || !strings.Contains(own[2], "pg_stat_activity") || other[1] != "idle" {
		t.Errorf("own session %v, other %v", own, other)
	}
}

// TestShowStatementTimeout: SHOW reports the limit the server enforces, in
// PostgreSQL's units: the server's, or the client's when it is lower.
func TestShowStatementTimeout(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(o *Options) { o.StatementTimeout = 5 * time.Minute })
	conn := ts.connect(t)
	ctx := context.Background()
	show := func() string {
		t.Helper()
		var v, setting string
		if err := conn.QueryRow(ctx, "SHOW statement_timeout").Scan(&v); err != nil {
			t.Fatal(err)
		}
		// Simple protocol: a statement prepared before SET keeps the value
		// current_setting() had then (the rewriter inlines it).
		if err := conn.QueryRow(ctx, "SELECT current_setting('statement_timeout')", pgx.QueryExecModeSimpleProtocol).Scan(&setting); err != nil {
			t.Fatal(err)
		}
		if setting != v {
			t.Errorf("current_setting %q, SHOW %q", setting, v)
		}
		return v
	}
	for _, c := range []struct{ set, want string }{
		{"", "5min"},
		{"SET statement_timeout = 1000", "1s"},
		{"SET statement_timeout = '1500ms'", "1500ms"},
		{"SET statement_timeout = '2h'", "5min"},
		{"SET statement_timeout = 0", "5min"},
		{"RESET statement_timeout", "5min"},
	} {
		if c.set != "" {
			if _, err := conn.Exec(ctx, c.set); err != nil {
				t.Fatal(err)
			}
		}
		if got := show(); got != c.want {
			t.Errorf("after %q: SHOW statement_timeout = %q, want %q", c.set, got, c.want)
		}
	}
}
