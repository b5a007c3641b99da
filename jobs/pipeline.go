// Package jobs runs custmart's work: the pipeline of ingest, transform and
// publish for a logical date, its run history, and the scheduler that runs
// configured jobs by themselves.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/custmart/custmart/jobs/config"
	models "github.com/custmart/custmart/sql"
	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/lake"
	"github.com/custmart/custmart/warehouse/publish"
	"github.com/custmart/custmart/warehouse/transform"
)

// Pipeline runs steps against one data directory.
type Pipeline struct {
	Config   *config.Config
	Layout   warehouse.Layout
	Logger   *slog.Logger
	GoModels map[string]transform.GoModel
	Hooks    []transform.Hook
	// Models the transform builds; nil means the embedded models.
	Models []models.Model
}

// Options of one pipeline run.
type Options struct {
	Job         string    // job name for the history; "cli" for commands
	Steps       []string  // subset of config.Steps, run in pipeline order
	AsOf        time.Time // logical date
	Sources     []string  // ingest only these sources; empty: all
	Attempt     int
	Trigger     string    // what started the run; empty: cli
	ScheduledAt time.Time // the schedule tick the run is for; zero when not scheduled
	DryRun      bool      // ingest: count and validate, write nothing
	Repair      bool      // ingest: make the lake match its manifest, reading affected source files again
	Verify      bool      // ingest: hash every input file, trusting no file identity
	FullRefresh bool      // transform: rebuild incremental models
}

// Outcome is what a run produced, for summaries.
type Outcome struct {
	Record    Record
	Ingest    lake.Report
	Transform transform.Result
	Published publish.Info
}

// Run takes the writer lock, records the run in the history and runs the
// steps in order, stopping at the first failure.
func (p *Pipeline) Run(ctx context.Context, opts Options) (Outcome, error) {
	var out Outcome
	lock, err := warehouse.AcquireWriter(p.Layout, warehouse.CommandLine())
	if err != nil {
		return out, err
	}
	defer lock.Release()
	history := NewHistory(p.Layout)
	if abandoned, err := history.MarkAbandoned(); err != nil {
		return out, err
	} else if len(abandoned) > 0 && p.Logger != nil {
		for _, r := range abandoned {
			p.Logger.Warn("found abandoned run", "run", r.ID, "job", r.Job, "logical_date", r.LogicalDate)
		}
	}
	if opts.Job == "" {
		opts.Job = "cli"
	}
	if opts.Attempt == 0 {
		opts.Attempt = 1
	}
	if opts.Trigger == "" {
		opts.Trigger = TriggerCLI
	}
	rec := NewRecord(opts.Job, opts.AsOf.Format(time.DateOnly), time.Now(), opts.ScheduledAt)
	rec.Attempt, rec.Trigger, rec.Steps, rec.Status = opts.Attempt, opts.Trigger, ordered(opts.Steps), StatusRunning
	rec.PID, rec.Instance = os.Getpid(), instance
	if !opts.DryRun {
		if err := history.Save(rec); err != nil {
			return out, err
		}
	}
	runErr := p.steps(ctx, opts, &rec, &out)
	now := time.Now().UTC()
	rec.FinishedAt = &now
	switch {
	case runErr == nil:
		rec.Status = StatusSuccess
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		// A timeout is a failure (retried, alerted); the steps rolled back.
		runErr = fmt.Errorf("run timed out, its partial work was rolled back: %w", runErr)
		rec.Status, rec.Error = StatusFailed, runErr.Error()
	case ctx.Err() != nil || errors.Is(runErr, context.Canceled):
		rec.Status, rec.Error = StatusCanceled, runErr.Error()
	default:
		rec.Status, rec.Error = StatusFailed, runErr.Error()
	}
	out.Record = rec
	if !opts.DryRun {
		if err := history.Save(rec); err != nil && runErr == nil {
			runErr = err
		}
		if _, err := history.Prune(p.Config.Scheduler.KeepRuns); err != nil && p.Logger != nil {
			p.Logger.Warn("prune run history", "err", err)
		}
	}
	return out, runErr
}

func ordered(steps []string) []string {
	var out []string
	for _, s := range config.Steps {
		if slices.Contains(steps, s) {
			out = append(out, s)
		}
	}
	return out
}

func (p *Pipeline) steps(ctx context.Context, opts Options, rec *Record, out *Outcome) error {
	engine := p.Config.Warehouse.Engine()
	for _, step := range rec.Steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch step {
		case "ingest":
			sources, err := p.Config.LakeSources(opts.Sources...)
			if err != nil {
				return err
			}
			in := &lake.Ingester{Layout: p.Layout, Engine: engine, AsOf: opts.AsOf, DryRun: opts.DryRun, Verify: opts.Verify, Logger: p.Logger}
			ingest := in.Ingest
			if opts.Repair {
				ingest = in.Repair
			}
			report, err := ingest(ctx, sources)
			out.Ingest = report
			rec.RowsIn, rec.RowsOut, rec.RowsQuarantined, _ = report.Totals()
			if err != nil {
				return err
			}
		case "transform":
			hooks := append(slices.Clip(p.Hooks), RunsHook)
			r := &transform.Runner{Layout: p.Layout, Engine: engine, Params: p.Config.Model.Params(), AsOf: opts.AsOf, Logger: p.Logger,
				Models: p.Models, GoModels: p.GoModels, Hooks: hooks, FullRefresh: opts.FullRefresh}
			res, err := r.Run(ctx)
			out.Transform = res
			for _, m := range res.Models {
				rec.Models = append(rec.Models, ModelTiming{Name: m.Name, Rows: m.Rows, DurationMS: m.Duration.Milliseconds()})
			}
			rec.StagingMS = res.Staging.Milliseconds()
			if err != nil {
				return err
			}
		case "publish":
			pub := &publish.Publisher{Layout: p.Layout, Engine: engine, Keep: p.Config.Publish.KeepVersions}
			info, err := pub.Publish(ctx)
			out.Published = info
			rec.Version = info.Version
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("unknown step %q", step)
		}
	}
	return nil
}
