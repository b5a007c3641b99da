package serve

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
