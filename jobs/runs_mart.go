package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/transform"
)

// runColumns is the schema of pipeline_runs: the JSON keys of Record with
// their DuckDB types. Keys missing from older records read as NULL.
var runColumns = [][2]string{
	{"id", "VARCHAR"},
	{"job", "VARCHAR"},
	{"logical_date", "DATE"},
	{"attempt", "INTEGER"},
	{"trigger", "VARCHAR"},
	{"scheduled_at", "TIMESTAMP"},
	{"steps", "VARCHAR[]"},
	{"status", "VARCHAR"},
	{"error", "VARCHAR"},
	{"started_at", "TIMESTAMP"},
	{"finished_at", "TIMESTAMP"},
	{"pid", "BIGINT"},
	{"rows_in", "BIGINT"},
	{"rows_out", "BIGINT"},
	{"rows_quarantined", "BIGINT"},
	{"models", "STRUCT(name VARCHAR, \"rows\" BIGINT, duration_ms BIGINT)[]"},
	{"published_version", "VARCHAR"},
}

// RunsHook is a transform hook providing the relation pipeline_runs: the run
// history (runs/*.json, timestamps in UTC) as a temp table, which the
// job_runs mart publishes. The run that is transforming shows as running.
// Pipeline.Run adds it to every transform; a transform.Runner used directly
// must list it in Hooks.
func RunsHook(ctx context.Context, conn *sql.Conn, env transform.Env) error {
	defs := make([]string, len(runColumns))
	structFields := make([]string, len(runColumns))
	for i, c := range runColumns {
		defs[i] = warehouse.Ident(c[0]) + " " + c[1]
		structFields[i] = warehouse.Quote(c[0]) + ": " + warehouse.Quote(c[1])
	}
	create := fmt.Sprintf("CREATE OR REPLACE TEMP TABLE pipeline_runs (%s)", strings.Join(defs, ", "))
	if _, err := conn.ExecContext(ctx, create); err != nil {
		return fmt.Errorf("run history: create pipeline_runs: %w", err)
	}
	glob := filepath.Join(env.Layout.Runs(), "*.json")
	if files, _ := filepath.Glob(glob); len(files) == 0 {
		return nil
	}
	load := fmt.Sprintf("INSERT INTO pipeline_runs BY NAME SELECT * FROM read_json(%s, format = 'auto', columns = {%s})",
		warehouse.Quote(glob), strings.Join(structFields, ", "))
	if _, err := conn.ExecContext(ctx, load); err != nil {
		return fmt.Errorf("run history: read %s: %w", glob, err)
	}
	return nil
}
