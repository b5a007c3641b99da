package scoring_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/custmart/custmart/jobs"
	"github.com/custmart/custmart/jobs/config"
	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/scoring"
	"github.com/custmart/custmart/warehouse/transform"
	"github.com/custmart/custmart/warehouse/transform/transformtest"
)

// pipeline is a data directory with its configuration: ingest once, then
// transform as of any date.
type pipeline struct {
	layout warehouse.Layout
	cfg    *config.Config
}

// newPipeline parses the configuration text (relative paths resolve in
// dir) and ingests every source as of ingestAsOf.
func newPipeline(t testing.TB, dir, yaml string, ingestAsOf time.Time) *pipeline {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), filepath.Join(dir, "custmart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p := &pipeline{layout: warehouse.NewLayout(filepath.Join(dir, "data")), cfg: cfg}
	if _, err := p.run(context.Background(), "ingest", ingestAsOf); err != nil {
		t.Fatal(err)
	}
	return p
}

// run runs steps of the production pipeline (the scoring Go models and
// hooks wired in, as the CLI does) as of asOf.
func (p *pipeline) run(ctx context.Context, step string, asOf time.Time) (jobs.Outcome, error) {
	pl := &jobs.Pipeline{Config: p.cfg, Layout: p.layout, GoModels: scoring.GoModels(), Hooks: scoring.Hooks()}
	return pl.Run(ctx, jobs.Options{Steps: []string{step}, AsOf: asOf})
}

// transform builds every model as of asOf.
func (p *pipeline) transform(t testing.TB, asOf time.Time) transform.Result {
	t.Helper()
	out, err := p.run(context.Background(), "transform", asOf)
	if err != nil {
		t.Fatalf("transform as of %s: %v", asOf.Format(time.DateOnly), err)
	}
	return out.Transform
}

// db opens what the last transform built, read-only.
func (p *pipeline) db(t testing.TB) *sql.DB {
	t.Helper()
	db, err := transformtest.OpenBuilt(context.Background(), p.layout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// params reads one model's rows of clv_model as parameter -> value.
func params(t testing.TB, db *sql.DB, model string) map[string]float64 {
	t.Helper()
	rows, err := db.Query(`SELECT parameter, value FROM clv_model WHERE model = ?`, model)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]float64{}
	for rows.Next() {
		var name string
		var v float64
		if err := rows.Scan(&name, &v); err != nil {
			t.Fatal(err)
		}
		out[name] = v
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func day(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d
}

func writeFile(t testing.TB, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
