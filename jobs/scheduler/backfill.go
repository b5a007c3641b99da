package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/custmart/custmart/jobs"
	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/dag"
)

// BackfillRun is one run of a backfill plan.
type BackfillRun struct {
	Job         string
	LogicalDate time.Time
	// Done is the id of an earlier successful run for this job and date;
	// empty when the run is still to do.
	Done string
}

// Date formats the logical date as YYYY-MM-DD.
func (r BackfillRun) Date() string { return r.LogicalDate.Format(time.DateOnly) }

// PlanBackfill lists the runs of a backfill of job over the logical dates
// from..to: date by date, the job's upstream jobs first, in dependency order.
// Runs that already succeeded for their date are marked done, so running the
// same backfill again resumes where a failure stopped it.
func PlanBackfill(js []Job, job string, from, to time.Time, h *jobs.History) ([]BackfillRun, error) {
	deps := map[string][]string{}
	known := false
	for _, j := range js {
		deps[j.Name] = j.DependsOn
		known = known || j.Name == job
	}
	if !known {
		names := make([]string, len(js))
		for i, j := range js {
			names[i] = j.Name
		}
		return nil, fmt.Errorf("backfill: job %q is not configured (jobs: %v)", job, names)
	}
	if to.Before(from) {
		return nil, fmt.Errorf("backfill: --to %s is before --from %s", to.Format(time.DateOnly), from.Format(time.DateOnly))
	}
	order, err := dag.Sort(deps)
	if err != nil {
		return nil, fmt.Errorf("backfill: %w", err)
	}
	upstream := dag.Upstream(deps, job)
	records, err := h.List(jobs.Filter{Status: jobs.StatusSuccess})
	if err != nil {
		return nil, fmt.Errorf("backfill: read run history: %w", err)
	}
	done := map[runKey]string{}
	for _, r := range records {
		done[runKey{r.Job, r.LogicalDate}] = r.ID
	}
	var plan []BackfillRun
	for d := civil(from); !d.After(to); d = d.AddDate(0, 0, 1) {
		for _, name := range order {
			if upstream[name] {
				plan = append(plan, BackfillRun{Job: name, LogicalDate: d, Done: done[runKey{name, d.Format(time.DateOnly)}]})
			}
		}
	}
	return plan, nil
}

// Backfiller runs backfill plans.
type Backfiller struct {
	Jobs    []Job
	Execute Executor
	Clock   Clock // nil: RealClock
	Logger  *slog.Logger
	Rand    func() float64 // nil: math/rand
	// Finished, if set, is called after every attempt.
	Finished func(rec jobs.Record, retry bool)
}

// Run runs the plan's open runs in order, each with its job's retries, and
// waits whenever another process holds the writer lock. It stops at the
// first run that fails for good and returns how many runs succeeded.
func (b *Backfiller) Run(ctx context.Context, plan []BackfillRun) (int, error) {
	b.Clock, b.Rand, b.Logger = withDefaults(b.Clock, b.Rand, b.Logger)
	succeeded := 0
	for _, r := range plan {
		if r.Done != "" {
			continue
		}
		i := slices.IndexFunc(b.Jobs, func(j Job) bool { return j.Name == r.Job })
		if i < 0 {
			return succeeded, fmt.Errorf("backfill: job %q is not configured", r.Job)
		}
		if err := b.runOne(ctx, b.Jobs[i], r); err != nil {
			return succeeded, err
		}
		succeeded++
	}
	return succeeded, nil
}

func (b *Backfiller) runOne(ctx context.Context, j Job, r BackfillRun) error {
	a := Attempt{Job: j.Name, LogicalDate: r.LogicalDate, Number: 1, Trigger: jobs.TriggerBackfill}
	lockWaits := 0
	for {
		b.Logger.Info("run started", "job", a.Job, "logical_date", a.Date(), "attempt", a.Number, "trigger", a.Trigger)
		rec, err := b.Execute(ctx, a)
		var delay time.Duration
		var locked *warehouse.LockedError
		switch {
		case errors.As(err, &locked):
			lockWaits++
			delay = Backoff(j.RetryBackoff.D(), j.RetryBackoffMax.D(), lockWaits, b.Rand)
			b.Logger.Warn("warehouse busy: waiting", "job", a.Job, "logical_date", a.Date(), "retry_in", delay.Round(time.Millisecond).String(), "holder", locked.Error())
		default:
			retry := err != nil && ctx.Err() == nil && a.Number <= j.Retries
			logArgs := []any{"run", rec.ID, "job", a.Job, "logical_date", a.Date(), "attempt", a.Number, "status", rec.Status,
				"duration_seconds", rec.Duration().Round(time.Millisecond).Seconds(), "rows_in", rec.RowsIn, "rows_out", rec.RowsOut,
				"rows_quarantined", rec.RowsQuarantined}
			if err == nil {
				b.Logger.Info("run finished", logArgs...)
			} else {
				b.Logger.Error("run finished", append(logArgs, "err", err)...)
			}
			if b.Finished != nil && rec.ID != "" {
				b.Finished(rec, retry)
			}
			if err == nil {
				return nil
			}
			if !retry {
				return fmt.Errorf("backfill stopped at job %s for %s (attempt %d): %w; fix the cause and run the same backfill again: dates that succeeded are skipped",
					a.Job, a.Date(), a.Number, err)
			}
			delay = Backoff(j.RetryBackoff.D(), j.RetryBackoffMax.D(), a.Number, b.Rand)
			a.Number++
			b.Logger.Info("retry scheduled", "job", a.Job, "logical_date", a.Date(), "attempt", a.Number, "in", delay.Round(time.Millisecond).String())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("backfill interrupted at job %s for %s: %w", a.Job, a.Date(), ctx.Err())
		case <-b.Clock.After(delay):
		}
	}
}
