package serve

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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

// TestNpgsqlTypeLoading: Npgsql's type-loading batch, sent as one Query as
// Npgsql sends it, classifies each array type as an array ('a') of its
// element type, through pg_type.typreceive and pg_proc's array_recv, and
// lists arrays after the base types, as PostgreSQL answers it.
func TestNpgsqlTypeLoading(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	conn := ts.connect(t)
	var batch string
	for _, q := range loadClientQueries(t) {
		if q.tool == "npgsql" && q.name == "type loading batch" {
			batch = q.sql
		}
	}
	if batch == "" {
		t.Fatal("no Npgsql type loading batch in testdata/clients/npgsql.sql")
	}
	res, err := conn.PgConn().Exec(context.Background(), batch).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 4 {
		t.Fatalf("%d results, want 4", len(res))
	}
	// nspname, oid, typname, typtype, typnotnull, elemtypoid
	types := map[string][]string{}
	var order []string
	for _, r := range res[1].Rows {
		types[string(r[2])] = []string{string(r[0]), string(r[1]), string(r[3]), string(r[5])}
		order = append(order, string(r[3]))
	}
	for name, want := range map[string][]string{
		"int4":     {"pg_catalog", "23", "b", ""},
		"_int4":    {"pg_catalog", "1007", "a", "23"},
		"text":     {"pg_catalog", "25", "b", ""},
		"_text":    {"pg_catalog", "1009", "a", "25"},
		"_int8":    {"pg_catalog", "1016", "a", "20"},
		"_varchar": {"pg_catalog", "1015", "a", "1043"},
		"numeric":  {"pg_catalog", "1700", "b", ""},
	} {
		if got := types[name]; strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
	arrays := 0
	for name, ty := range types {
		if strings.HasPrefix(name, "_") != (ty[2] == "a") {
			t.Errorf("%s has typtype %s", name, ty[2])
		}
		if ty[2] == "a" {
			arrays++
		}
	}
	if arrays != len(pgTypes) || len(types) != 2*len(pgTypes) {
		t.Errorf("%d types, %d of them arrays; want %d and %d", len(types), arrays, 2*len(pgTypes), len(pgTypes))
	}
	if first := slices.Index(order, "a"); first < 0 || slices.Contains(order[first:], "b") {
		t.Errorf("arrays do not come after the base types: %v", order)
	}
}

// TestTypeIOFunctions: pg_type's I/O columns are OIDs of pg_proc rows with
// PostgreSQL's names, and ::regproc casts look them up both ways.
func TestTypeIOFunctions(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	conn := ts.connect(t)
	for _, c := range []struct{ sql, want string }{
		{`SELECT t.typinput, t.typoutput, t.typreceive, t.typsend, t.typreceive::regproc::text FROM pg_catalog.pg_type t WHERE t.typname = '_int4'`,
			"750|751|2400|2401|array_recv"},
		{`SELECT p.proname, p.pronargs, p.proargtypes, p.prorettype FROM pg_catalog.pg_type t
			JOIN pg_catalog.pg_proc p ON p.oid = t.typreceive WHERE t.oid = 1700`, "numeric_recv|3|2281 26 23|1700"},
		{`SELECT string_agg(p.proname, ',' ORDER BY p.oid) FROM pg_catalog.pg_type t
			JOIN pg_catalog.pg_proc p ON p.oid IN (t.typinput, t.typoutput, t.typreceive, t.typsend) WHERE t.typname = 'json'`,
			"json_in,json_out,json_recv,json_send"},
		{`SELECT typname FROM pg_type WHERE typreceive = 'pg_catalog.date_recv'::regproc`, "date"},
		{`SELECT 'int8send'::regproc::text, typmodin::regproc::text FROM pg_type WHERE oid = 20`, "int8send|-"},
		{`SELECT count(*) FROM pg_type t LEFT JOIN pg_proc p ON p.oid = t.typsend WHERE p.oid IS NULL`, "0"},
	} {
		for _, proto := range []string{"simple", "extended"} {
			var rows [][][]byte
			if proto == "simple" {
				res, err := conn.PgConn().Exec(context.Background(), c.sql).ReadAll()
				if err != nil {
					t.Fatalf("%s: %v", c.sql, err)
				}
				rows = res[0].Rows
			} else {
				res := conn.PgConn().ExecParams(context.Background(), c.sql, nil, nil, nil, nil).Read()
				if res.Err != nil {
					t.Fatalf("%s: %v", c.sql, res.Err)
				}
				rows = res.Rows
			}
			var got []string
			for _, r := range rows {
				for _, v := range r {
					got = append(got, string(v))
				}
			}
			if len(rows) != 1 || strings.Join(got, "|") != c.want {
				t.Errorf("%s %s: got %q, want %s", proto, c.sql, rows, c.want)
			}
		}
	}
}
