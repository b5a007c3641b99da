// Package transform runs the models of the sql package over the lake, as of a
// logical date, in dependency order, each in its own DuckDB transaction with
// its data-quality checks, into the warehouse database.
package transform

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	models "github.com/custmart/custmart/sql"
	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/dag"
	"github.com/custmart/custmart/warehouse/lake"
)

// Env is what a Go model or a setup hook gets besides its connection.
type Env struct {
	Params Params
	AsOf   time.Time
	Layout warehouse.Layout
	Logger *slog.Logger
}

// GoModel computes a model declared with `materialized: go`. It runs inside
// the model's transaction and must create or replace the table named after
// the model.
type GoModel func(ctx context.Context, conn *sql.Conn, env Env) error

// Hook prepares a connection before the models run (e.g. registers UDFs).
type Hook func(ctx context.Context, conn *sql.Conn, env Env) error

// Runner builds the warehouse. The caller holds the writer lock; Params
// are valid (Params.Validate).
type Runner struct {
	Layout   warehouse.Layout
	Engine   warehouse.Engine
	Params   Params
	AsOf     time.Time
	Logger   *slog.Logger
	Models   []models.Model // nil: the embedded models
	GoModels map[string]GoModel
	Hooks    []Hook
	// FullRefresh rebuilds incremental models from the whole lake.
	FullRefresh bool
}

// ModelResult describes one model's build.
type ModelResult struct {
	Name         string        `json:"name"`
	Materialized string        `json:"materialized"`
	Rows         int64         `json:"rows"`
	Duration     time.Duration `json:"duration_ns"`
	// ChangedDays is the number of day partitions an incremental model rebuilt;
	// -1 for a full build.
	ChangedDays int `json:"changed_days"`
}

// Result is the outcome of a transform.
type Result struct {
	AsOf   time.Time     `json:"as_of"`
	Models []ModelResult `json:"models"`
	Marts  []string      `json:"marts"`
	// Keys are the declared keys of the marts, in whose order they are staged.
	Keys map[string][]string `json:"keys"`
	// Staging is how long finishing the staged marts took after the models
	// (copying the Go models' marts, checkpoint, rename); the SQL marts are
	// written there by their own builds.
	Staging time.Duration `json:"staging_ns"`
}

// State is what the last transform left in the warehouse; publish reads it.
type State struct {
	Status     string    `json:"status"` // ok or failed
	AsOf       string    `json:"as_of"`
	FinishedAt time.Time `json:"finished_at"`
	Marts      []string  `json:"marts"`
	// Keys are the marts' declared keys; the staged marts are in key order.
	Keys map[string][]string `json:"keys,omitempty"`
	// Staged names the directory under <data-dir>/staged/ holding this
	// transform's marts, and Rows their row counts (status ok only).
	Staged string           `json:"staged,omitempty"`
	Rows   map[string]int64 `json:"rows,omitempty"`
	Error  string           `json:"error,omitempty"`
}

// CheckError is a failed data-quality check.
type CheckError struct {
	Model   string
	Check   models.Check
	Failing int64
	Sample  []string
}

func (e *CheckError) Error() string {
	return fmt.Sprintf("check %s %s on model %s failed: %d failing row(s); sample: %s",
		e.Check.Kind, e.Check.Args, e.Model, e.Failing, strings.Join(e.Sample, " | "))
}

// Run builds every model and stages the marts for publish. On failure the
// run's marts file is discarded, the warehouse keeps the previous build of
// its incremental and Go models, the state is marked failed, and publish
// refuses, so the marts published before stay live.
func (r *Runner) Run(ctx context.Context) (Result, error) {
	res := Result{AsOf: r.AsOf}
	if err := lake.Recover(r.Layout); err != nil {
		return res, err
	}
	ms := r.Models
	if ms == nil {
		var err error
		if ms, err = models.Load(); err != nil {
			return res, err
		}
	}
	order, byName, err := plan(ms)
	if err != nil {
		return res, err
	}
	db, err := warehouse.Open(ctx, r.Layout.WarehouseDB(), r.Engine)
	if err != nil {
		return res, err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return res, err
	}
	defer conn.Close()

	state := State{Status: "ok", AsOf: r.AsOf.Format(time.DateOnly)}
	stage, runErr := openStage(ctx, conn, r.Layout)
	if runErr == nil {
		runErr = r.run(ctx, conn, order, byName, &res)
	}
	if runErr == nil {
		start := time.Now()
		state.Staged, state.Rows, runErr = stage.finish(ctx, conn, res)
		res.Staging = time.Since(start)
		if runErr == nil && r.Logger != nil {
			r.Logger.Info("marts staged", "build", state.Staged, "marts", len(res.Marts), "duration", res.Staging.Round(time.Millisecond))
		}
	}
	if runErr != nil && stage != nil {
		stage.abandon(context.WithoutCancel(ctx), conn)
	}
	state.FinishedAt, state.Marts, state.Keys = time.Now().UTC(), res.Marts, res.Keys
	if runErr != nil {
		state.Status, state.Error = "failed", runErr.Error()
	}
	if err := saveState(context.WithoutCancel(ctx), conn, state); err != nil && runErr == nil {
		runErr = err
	}
	if runErr == nil {
		runErr = pruneStaged(r.Layout, state.Staged)
	}
	return res, runErr
}

func plan(ms []models.Model) ([]string, map[string]models.Model, error) {
	byName := map[string]models.Model{}
	deps := map[string][]string{}
	for _, m := range ms {
		byName[m.Name] = m
		deps[m.Name] = m.DependsOn
	}
	order, err := dag.Sort(deps)
	if err != nil {
		return nil, nil, fmt.Errorf("models: %w", err)
	}
	return order, byName, nil
}

func (r *Runner) run(ctx context.Context, conn *sql.Conn, order []string, byName map[string]models.Model, res *Result) error {
	env := Env{Params: r.Params, AsOf: r.AsOf, Layout: r.Layout, Logger: r.Logger}
	if err := setup(ctx, conn, r.Params, r.AsOf); err != nil {
		return err
	}
	for _, h := range r.Hooks {
		if err := h(ctx, conn, env); err != nil {
			return err
		}
	}
	manifest, err := lake.LoadManifest(r.Layout)
	if err != nil {
		return err
	}
	// Models read the lake only once it is what the manifest says it is.
	if err := lake.Verify(ctx, conn, r.Layout, manifest); err != nil {
		return err
	}
	parts, err := lakePartitions(r.Layout)
	if err != nil {
		return err
	}
	if err := defineLakeSources(ctx, conn, r.Layout, manifest, parts); err != nil {
		return err
	}
	for _, name := range order {
		m := byName[name]
		start := time.Now()
		mr := ModelResult{Name: name, Materialized: m.Materialized, ChangedDays: -1}
		if err := r.build(ctx, conn, m, env, parts, &mr); err != nil {
			return fmt.Errorf("model %s (%s): %w", name, m.File, err)
		}
		mr.Duration = time.Since(start)
		res.Models = append(res.Models, mr)
		if m.Publish {
			res.Marts = append(res.Marts, name)
			if len(m.Key) > 0 {
				if res.Keys == nil {
					res.Keys = map[string][]string{}
				}
				res.Keys[name] = m.Key
			}
		}
		if r.Logger != nil {
			r.Logger.Info("model built", "model", name, "materialized", m.Materialized, "rows", mr.Rows,
				"changed_days", mr.ChangedDays, "duration", mr.Duration.Round(time.Millisecond))
		}
	}
	return nil
}

// build materializes one model inside a transaction together with its checks
// and state, so a failure leaves nothing half-built.
func (r *Runner) build(ctx context.Context, conn *sql.Conn, m models.Model, env Env, parts map[string][]string, mr *ModelResult) (err error) {
	if m.Materialized == models.View {
		_, err := conn.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TEMP VIEW %s AS %s", warehouse.Ident(m.Name), m.SQL))
		return err
	}
	if m.Materialized == models.Table {
		// Earlier releases kept table models in the warehouse; such a table
		// would hide the new build.
		if _, err := conn.ExecContext(ctx, "DROP TABLE IF EXISTS main."+warehouse.Ident(m.Name)); err != nil {
			return err
		}
	}
	if _, err := conn.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	switch m.Materialized {
	case models.Go:
		impl, ok := r.GoModels[m.Name]
		if !ok {
			return fmt.Errorf("no Go implementation is registered for model %s", m.Name)
		}
		if err := impl(ctx, conn, env); err != nil {
			return err
		}
	case models.Incremental:
		changed, err := r.buildIncremental(ctx, conn, m, parts)
		if err != nil {
			return err
		}
		mr.ChangedDays = changed
	default:
		// A published table model is written once, in key order, to the
		// staged marts that publish links into a version; an internal one
		// lives for the run as a TEMP table, which skips the compression
		// and disk writes of a persistent one.
		stmt := fmt.Sprintf("CREATE OR REPLACE TEMP TABLE %s AS %s", warehouse.Ident(m.Name), m.SQL)
		if m.Publish {
			stmt = fmt.Sprintf("CREATE OR REPLACE TABLE %s.main.%s AS SELECT * FROM (%s)%s", stagedCatalog, warehouse.Ident(m.Name), m.SQL, orderBy(m.Key))
		}
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	// ChangedDays stays -1 but for an incremental model that rebuilt only
	// some days.
	if err := runChecks(ctx, conn, m, mr.ChangedDays >= 0); err != nil {
		return err
	}
	if m.Materialized == models.Incremental {
		if _, err := conn.ExecContext(ctx, `INSERT OR REPLACE INTO _custmart_models VALUES (?, ?, now())`, m.Name, m.Hash()); err != nil {
			return err
		}
	}
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM "+warehouse.Ident(m.Name)).Scan(&mr.Rows); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, "COMMIT")
	return err
}

// buildIncremental rebuilds the day partitions whose lake files changed since
// the model last ran (new, replaced or removed batches, late data), or the
// whole table when it is new, its definition changed, or a full refresh was
// asked for. It returns the number of changed days, -1 for a full build.
func (r *Runner) buildIncremental(ctx context.Context, conn *sql.Conn, m models.Model, parts map[string][]string) (int, error) {
	name, part := warehouse.Ident(m.Name), warehouse.Ident(m.Partition)
	full := r.FullRefresh
	var builtHash string
	err := conn.QueryRowContext(ctx, `SELECT hash FROM _custmart_models WHERE name = ?`, m.Name).Scan(&builtHash)
	if errors.Is(err, sql.ErrNoRows) || builtHash != m.Hash() {
		full = true
	} else if err != nil {
		return 0, err
	}
	if !full {
		var exists bool
		if err := conn.QueryRowContext(ctx, `SELECT count(*) > 0 FROM duckdb_tables() WHERE table_name = ? AND schema_name = 'main' AND NOT temporary`, m.Name).Scan(&exists); err != nil {
			return 0, err
		}
		full = !exists
	}
	previous := map[string]string{}
	if !full {
		rows, err := conn.QueryContext(ctx, `SELECT strftime(day, '%Y-%m-%d'), fingerprint FROM _custmart_partitions WHERE model = ?`, m.Name)
		if err != nil {
			return 0, err
		}
		for rows.Next() {
			var day, fp string
			if err := rows.Scan(&day, &fp); err != nil {
				rows.Close()
				return 0, err
			}
			previous[day] = fp
		}
		rows.Close()
	}
	var changed []string
	for day, files := range parts {
		if full || previous[day] != fingerprint(files) {
			changed = append(changed, day)
		}
	}
	for day := range previous {
		if _, ok := parts[day]; !ok {
			changed = append(changed, day) // every batch of that day was replaced away
		}
	}
	sort.Strings(changed)
	if err := defineDelta(ctx, conn, parts, changed); err != nil {
		return 0, err
	}
	if full {
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TABLE %s AS %s", name, m.SQL)); err != nil {
			return 0, err
		}
		if _, err := conn.ExecContext(ctx, `DELETE FROM _custmart_partitions WHERE model = ?`, m.Name); err != nil {
			return 0, err
		}
	} else if len(changed) > 0 {
		stmts := []string{
			fmt.Sprintf("DELETE FROM %s WHERE %s IN (SELECT day FROM changed_days)", name, part),
			fmt.Sprintf("INSERT INTO %s BY NAME %s", name, m.SQL),
			"DELETE FROM _custmart_partitions WHERE model = " + warehouse.Quote(m.Name) + " AND day IN (SELECT day FROM changed_days)",
		}
		for _, s := range stmts {
			if _, err := conn.ExecContext(ctx, s); err != nil {
				return 0, err
			}
		}
	}
	state := &batchInsert{conn: conn, table: "_custmart_partitions", row: "(?, ?::DATE, ?)"}
	for _, day := range changed {
		if files, ok := parts[day]; ok {
			if err := state.add(ctx, m.Name, day, fingerprint(files)); err != nil {
				return 0, err
			}
		}
	}
	if err := state.flush(ctx); err != nil {
		return 0, err
	}
	if full {
		return -1, nil
	}
	return len(changed), nil
}

func fingerprint(files []string) string {
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = filepath.Base(f)
	}
	sort.Strings(names)
	h := sha256.Sum256([]byte(strings.Join(names, "\n")))
	return hex.EncodeToString(h[:8])
}

// lakePartitions lists the lake's transaction files by day.
func lakePartitions(l warehouse.Layout) (map[string][]string, error) {
	files, err := filepath.Glob(l.TransactionsGlob())
	if err != nil {
		return nil, err
	}
	parts := map[string][]string{}
	for _, f := range files {
		day := strings.TrimPrefix(filepath.Base(filepath.Dir(f)), "date=")
		parts[day] = append(parts[day], f)
	}
	return parts, nil
}

func saveState(ctx context.Context, conn *sql.Conn, s State) error {
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, `INSERT OR REPLACE INTO _custmart_state VALUES ('transform', ?)`, string(raw))
	return err
}

// LoadState reads what the last transform left, from an open warehouse.
func LoadState(ctx context.Context, db *sql.DB) (State, error) {
	var raw string
	err := db.QueryRowContext(ctx, `SELECT value FROM _custmart_state WHERE key = 'transform'`).Scan(&raw)
	if err != nil {
		return State{}, fmt.Errorf("no transform has run in this data directory yet (run `custmart transform` first): %w", err)
	}
	var s State
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return State{}, err
	}
	return s, nil
}

// WarehouseExists reports whether a transform has created the warehouse file.
func WarehouseExists(l warehouse.Layout) bool {
	_, err := os.Stat(l.WarehouseDB())
	return err == nil
}
