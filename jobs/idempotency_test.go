package jobs_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/custmart/custmart/fixtures"
	"github.com/custmart/custmart/jobs"
	"github.com/custmart/custmart/jobs/config"
	models "github.com/custmart/custmart/sql"
	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/engine"
	"github.com/custmart/custmart/warehouse/publish"
)

// A run for (job, logical date) run again replaces its outputs: the lake
// keeps each input row once, the marts come out identical, a new version
// is published, and the run history (job_runs) shows both runs.
func TestRerunForTheSameLogicalDateReplacesOutputs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	sum, err := fixtures.Generate(ctx, fixtures.Options{Customers: 200, Out: filepath.Join(dir, "inbox"), Seed: 1, Days: 60})
	if err != nil {
		t.Fatal(err)
	}
	l := warehouse.NewLayout(dir)
	// The backbone's SQL models and job_runs; models computed in Go are
	// registered by the CLI, not here.
	all, err := models.Load()
	if err != nil {
		t.Fatal(err)
	}
	keep := map[string]bool{"customer_daily": true, "customer_base": true, "customer_profile": true,
		"daily_customer_sales": true, "daily_sales": true, "guest_daily": true,
		"rfm": true, "segment_summary": true, "ingest_log": true, "quarantine": true, "job_runs": true}
	var ms []models.Model
	for _, m := range all {
		if keep[m.Name] {
			ms = append(ms, m)
		}
	}
	if len(ms) != len(keep) {
		t.Fatalf("found %d of the %d models the test builds", len(ms), len(keep))
	}
	p := &jobs.Pipeline{Config: config.Default(dir), Layout: l, Models: ms}
	run := func() jobs.Outcome {
		t.Helper()
		out, err := p.Run(ctx, jobs.Options{Job: "daily", Steps: config.Steps, AsOf: sum.End, Trigger: jobs.TriggerBackfill})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	first, second := run(), run()
	if first.Record.RowsOut != sum.Lines || second.Record.RowsOut != 0 {
		t.Fatalf("rows loaded: first %d (input %d), second %d (want 0: files known by checksum)", first.Record.RowsOut, sum.Lines, second.Record.RowsOut)
	}
	if first.Published.Version == second.Published.Version {
		t.Fatal("the second run did not publish a new version")
	}
	if current, _, err := publish.Current(l); err != nil || current != second.Published.Version {
		t.Fatalf("current version %s (%v), want %s", current, err, second.Published.Version)
	}

	db, err := engine.Open(ctx, "", engine.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for name, v := range map[string]string{"v1": first.Published.Version, "v2": second.Published.Version} {
		path := filepath.Join(l.Version(v), warehouse.MartsDBName)
		if _, err := db.ExecContext(ctx, "ATTACH "+warehouse.Quote(path)+" AS "+name+" (READ_ONLY)"); err != nil {
			t.Fatal(err)
		}
	}
	var rows int64
	var amount string
	if err := db.QueryRowContext(ctx, "SELECT count(*), sum(amount)::VARCHAR FROM read_parquet("+warehouse.Quote(l.TransactionsGlob())+")").Scan(&rows, &amount); err != nil {
		t.Fatal(err)
	}
	if rows != sum.Lines || amount != sum.Amount() {
		t.Fatalf("lake after two runs: %d rows, sum %s; input %d rows, sum %s", rows, amount, sum.Lines, sum.Amount())
	}
	for _, mart := range []string{"rfm", "customer_profile", "daily_sales", "segment_summary"} {
		var n1, n2, diff int64
		q := "SELECT (SELECT count(*) FROM v1." + mart + "), (SELECT count(*) FROM v2." + mart + "), " +
			"(SELECT count(*) FROM (SELECT * FROM v1." + mart + " EXCEPT ALL SELECT * FROM v2." + mart + ")) + " +
			"(SELECT count(*) FROM (SELECT * FROM v2." + mart + " EXCEPT ALL SELECT * FROM v1." + mart + "))"
		if err := db.QueryRowContext(ctx, q).Scan(&n1, &n2, &diff); err != nil {
			t.Fatal(err)
		}
		if n1 == 0 || n1 != n2 || diff != 0 {
			t.Errorf("mart %s: %d rows then %d, %d rows differ", mart, n1, n2, diff)
		}
	}
	// job_runs as published by the second run: the first run succeeded, the
	// second was running while it built the mart.
	var runs, ok, running int64
	var firstRows int64
	if err := db.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (status = 'success'), count(*) FILTER (status = 'running'),
		max(rows_out) FILTER (run_id = ?) FROM v2.job_runs WHERE job = 'daily' AND logical_date = ? AND "trigger" = 'backfill'`,
		first.Record.ID, sum.End.Format("2006-01-02")).Scan(&runs, &ok, &running, &firstRows); err != nil {
		t.Fatal(err)
	}
	if runs != 2 || ok != 1 || running != 1 || firstRows != sum.Lines {
		t.Fatalf("job_runs: %d runs, %d success, %d running, first run rows_out %d", runs, ok, running, firstRows)
	}
}
