package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/custmart/custmart/jobs"
	"github.com/custmart/custmart/jobs/config"
	"github.com/custmart/custmart/warehouse"
)

// Clock is the scheduler's time source; tests inject a simulated one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// withDefaults fills in what a Scheduler or a Backfiller leaves nil: the
// wall clock, math/rand's jitter and a logger that discards.
func withDefaults(c Clock, rnd func() float64, l *slog.Logger) (Clock, func() float64, *slog.Logger) {
	if c == nil {
		c = RealClock
	}
	if rnd == nil {
		rnd = rand.Float64
	}
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return c, rnd, l
}

// RealClock is the wall clock.
var RealClock Clock = realClock{}

// Job is a configured job with its parsed schedule.
type Job struct {
	config.Job
	Schedule *Schedule
}

// Jobs compiles the jobs of a validated configuration, dependencies first.
func Jobs(c *config.Config) ([]Job, error) {
	var out []Job
	for _, name := range c.JobOrder() {
		j, _ := c.Job(name)
		loc, err := time.LoadLocation(j.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("job %s: time zone %q: %w", j.Name, j.TimeZone, err)
		}
		s, err := NewSchedule(j.Schedule, loc)
		if err != nil {
			return nil, fmt.Errorf("job %s: %w", j.Name, err)
		}
		out = append(out, Job{Job: j, Schedule: s})
	}
	return out, nil
}

// Attempt is one execution of a job for a logical date.
type Attempt struct {
	Job         string
	LogicalDate time.Time // 00:00 UTC of the date
	Number      int       // 1 for the first attempt
	Trigger     string    // jobs.Trigger*
	ScheduledAt time.Time // the tick, for scheduled and catch-up runs
}

// Date formats the logical date as YYYY-MM-DD.
func (a Attempt) Date() string { return a.LogicalDate.Format(time.DateOnly) }

// Executor runs one attempt and returns its record. A *warehouse.LockedError
// means the attempt did not start because another process is writing.
type Executor func(ctx context.Context, a Attempt) (jobs.Record, error)

// PipelineExecutor runs attempts as pipeline runs with the job's steps,
// sources and timeout.
func PipelineExecutor(p *jobs.Pipeline, js []Job) Executor {
	byName := map[string]config.Job{}
	for _, j := range js {
		byName[j.Name] = j.Job
	}
	return func(ctx context.Context, a Attempt) (jobs.Record, error) {
		j, ok := byName[a.Job]
		if !ok {
			return jobs.Record{}, fmt.Errorf("job %q is not configured", a.Job)
		}
		if j.Timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, j.Timeout.D())
			defer cancel()
		}
		out, err := p.Run(ctx, jobs.Options{
			Job: a.Job, Steps: j.Steps, AsOf: a.LogicalDate, Sources: j.Sources,
			Attempt: a.Number, Trigger: a.Trigger, ScheduledAt: a.ScheduledAt,
		})
		return out.Record, err
	}
}

// Scheduler starts the runs of its jobs when their schedules fire, one run
// at a time: every step writes the warehouse, which admits one writer.
type Scheduler struct {
	Jobs    []Job // dependencies first (Jobs does this)
	Execute Executor
	History *jobs.History
	Clock   Clock // nil: RealClock
	Logger  *slog.Logger
	// Grace is how long a running run may finish once Run's context is
	// canceled; then the run is canceled too.
	Grace time.Duration
	// Rand returns numbers in [0, 1) for retry jitter; nil: math/rand.
	Rand func() float64
	// Finished, if set, is called after every attempt (and for skipped runs);
	// retry says another attempt of the same run follows.
	Finished func(rec jobs.Record, retry bool)

	jobs      map[string]*Job
	rank      map[string]int
	pending   []*item
	next      map[string]Tick
	latest    map[runKey]string // status of the latest attempt per (job, date)
	succeeded map[runKey]bool
}

type runKey struct{ job, date string }

type item struct {
	Attempt
	due       time.Time // orders the queue
	notBefore time.Time // retries and lock waits start no earlier
	lockWaits int
}

func (it *item) key() runKey { return runKey{it.Job, it.Date()} }

// hardStop bounds the wait for a canceled run to return; past it the daemon
// exits anyway and the next start marks the run abandoned.
const hardStop = 30 * time.Second

// Run schedules until ctx is canceled, then stops starting runs, lets a
// running one finish within Grace, cancels it after that, and returns nil.
func (s *Scheduler) Run(ctx context.Context) error {
	s.Clock, s.Rand, s.Logger = withDefaults(s.Clock, s.Rand, s.Logger)
	if err := s.start(s.Clock.Now()); err != nil {
		return err
	}
	runCtx, cancelRuns := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRuns()
	for ctx.Err() == nil {
		now := s.Clock.Now()
		s.enqueueDue(now)
		if it := s.ready(now); it != nil {
			if stopped := s.execute(ctx, runCtx, cancelRuns, it); stopped {
				return nil
			}
			continue
		}
		select {
		case <-ctx.Done():
		case <-s.Clock.After(s.wake(now).Sub(now)):
		}
	}
	return nil
}

// start loads the history and plans the first ticks and the catch-up runs.
func (s *Scheduler) start(now time.Time) error {
	s.jobs, s.rank = map[string]*Job{}, map[string]int{}
	s.next, s.latest, s.succeeded = map[string]Tick{}, map[runKey]string{}, map[runKey]bool{}
	for i := range s.Jobs {
		s.jobs[s.Jobs[i].Name] = &s.Jobs[i]
		s.rank[s.Jobs[i].Name] = i
	}
	records, err := s.History.List(jobs.Filter{})
	if err != nil {
		return fmt.Errorf("scheduler: read run history: %w", err)
	}
	lastTick := map[string]jobs.Record{} // the job's latest scheduled attempt
	for _, r := range records {
		k := runKey{r.Job, r.LogicalDate}
		s.latest[k] = r.Status
		if r.Status == jobs.StatusSuccess {
			s.succeeded[k] = true
		}
		if r.ScheduledAt != nil && (r.Trigger == jobs.TriggerSchedule || r.Trigger == jobs.TriggerCatchUp) {
			if prev, ok := lastTick[r.Job]; !ok || !r.ScheduledAt.Before(*prev.ScheduledAt) {
				lastTick[r.Job] = r
			}
		}
	}
	for _, j := range s.Jobs {
		s.next[j.Name] = j.Schedule.Next(now)
		s.Logger.Info("job scheduled", "job", j.Name, "schedule", j.Job.Schedule, "timezone", j.TimeZone,
			"steps", strings.Join(j.Steps, ","), "depends_on", strings.Join(j.DependsOn, ","),
			"next_run", s.next[j.Name].At.Format(time.RFC3339), "next_logical_date", s.next[j.Name].Date())
		last, ok := lastTick[j.Name]
		if !ok {
			continue // never scheduled: start with the next tick
		}
		ticks := j.Schedule.Missed(*last.ScheduledAt, now)
		switch last.Status {
		case jobs.StatusAbandoned, jobs.StatusCanceled, jobs.StatusRunning:
			// The last scheduled run never finished: its interval is missed too.
			date, _ := time.Parse(time.DateOnly, last.LogicalDate)
			if len(ticks) == 0 || !ticks[0].LogicalDate.Equal(date) {
				ticks = append([]Tick{{At: *last.ScheduledAt, LogicalDate: date}}, ticks...)
			}
		}
		if len(ticks) == 0 {
			continue
		}
		if j.CatchUp == "latest" {
			ticks = ticks[len(ticks)-1:]
		}
		s.Logger.Info("catching up missed intervals", "job", j.Name, "policy", j.CatchUp, "runs", len(ticks),
			"first", ticks[0].Date(), "last", ticks[len(ticks)-1].Date())
		for _, t := range ticks {
			s.add(&item{Attempt: Attempt{Job: j.Name, LogicalDate: t.LogicalDate, Number: 1, Trigger: jobs.TriggerCatchUp, ScheduledAt: t.At}, due: t.At})
		}
	}
	return nil
}

// enqueueDue queues the ticks that fired by now. Ticks that fired while a
// run was busy are collapsed to one run per logical date.
func (s *Scheduler) enqueueDue(now time.Time) {
	for _, j := range s.Jobs {
		t := s.next[j.Name]
		if t.At.IsZero() || t.At.After(now) {
			continue
		}
		ticks := append([]Tick{t}, j.Schedule.Missed(t.At, now)...)
		first := t.At
		for i, tk := range ticks {
			if i+1 < len(ticks) && ticks[i+1].LogicalDate.Equal(tk.LogicalDate) {
				continue
			}
			// Due since the group's first tick, so the longest waiting runs first.
			s.add(&item{Attempt: Attempt{Job: j.Name, LogicalDate: tk.LogicalDate, Number: 1, Trigger: jobs.TriggerSchedule, ScheduledAt: tk.At}, due: first})
			if i+1 < len(ticks) {
				first = ticks[i+1].At
			}
		}
		s.next[j.Name] = j.Schedule.Next(now)
	}
}

// add queues a run; a first attempt already queued for the same job and
// date absorbs it, since both would produce the same outputs.
func (s *Scheduler) add(it *item) {
	for _, p := range s.pending {
		if p.key() == it.key() && p.Number == 1 && it.Number == 1 {
			if it.ScheduledAt.After(p.ScheduledAt) {
				p.ScheduledAt = it.ScheduledAt
			}
			return
		}
	}
	s.pending = append(s.pending, it)
}

func (s *Scheduler) queued(k runKey) bool {
	return slices.ContainsFunc(s.pending, func(p *item) bool { return p.key() == k })
}

// ready removes and returns the next run to start: the earliest due whose
// dependencies succeeded for its logical date. A dependency that has not run
// for that date is queued first; one that failed for it makes the run skipped.
func (s *Scheduler) ready(now time.Time) *item {
	for {
		slices.SortStableFunc(s.pending, func(a, b *item) int {
			if c := a.due.Compare(b.due); c != 0 {
				return c
			}
			return s.rank[a.Job] - s.rank[b.Job]
		})
		changed := false
		for i, it := range s.pending {
			if it.notBefore.After(now) {
				continue
			}
			waiting, failed := false, ""
			for _, dep := range s.jobs[it.Job].DependsOn {
				k := runKey{dep, it.Date()}
				switch {
				case s.succeeded[k]:
				case s.queued(k):
					waiting = true
				case s.latest[k] == jobs.StatusFailed || s.latest[k] == jobs.StatusSkipped:
					failed = dep
				default:
					s.add(&item{Attempt: Attempt{Job: dep, LogicalDate: it.LogicalDate, Number: 1, Trigger: jobs.TriggerDependency}, due: it.due})
					s.Logger.Info("queued upstream run", "job", dep, "logical_date", it.Date(), "for", it.Job)
					waiting, changed = true, true
				}
			}
			if changed {
				break
			}
			if failed != "" {
				s.pending = slices.Delete(s.pending, i, i+1)
				s.skip(it, failed, now)
				changed = true
				break
			}
			if !waiting {
				s.pending = slices.Delete(s.pending, i, i+1)
				return it
			}
		}
		if !changed {
			return nil
		}
	}
}

// skip records a run that cannot run because an upstream job failed for its date.
func (s *Scheduler) skip(it *item, upstream string, now time.Time) {
	rec := jobs.NewRecord(it.Job, it.Date(), now, it.ScheduledAt)
	rec.Attempt, rec.Trigger, rec.Steps, rec.Status = it.Number, it.Trigger, s.jobs[it.Job].Steps, jobs.StatusSkipped
	end := rec.StartedAt
	rec.FinishedAt = &end
	rec.Error = fmt.Sprintf("upstream job %s failed for %s; fix it, then run `custmart backfill --job %s --from %s --to %s`",
		upstream, it.Date(), it.Job, it.Date(), it.Date())
	if err := s.History.Save(rec); err != nil {
		s.Logger.Error("record skipped run", "job", it.Job, "logical_date", it.Date(), "err", err)
	}
	s.latest[it.key()] = jobs.StatusSkipped
	s.Logger.Warn("run skipped", "job", it.Job, "logical_date", it.Date(), "upstream", upstream, "err", rec.Error)
	if s.Finished != nil {
		s.Finished(rec, false)
	}
}

// wake is when the loop has something to do next.
func (s *Scheduler) wake(now time.Time) time.Time {
	at := now.Add(time.Hour)
	for _, t := range s.next {
		if !t.At.IsZero() && t.At.Before(at) {
			at = t.At
		}
	}
	for _, it := range s.pending {
		if it.notBefore.After(now) && it.notBefore.Before(at) {
			at = it.notBefore
		}
	}
	return at
}

type result struct {
	rec jobs.Record
	err error
}

// execute runs one attempt. When ctx is canceled meanwhile it waits up to
// Grace, then cancels the run, and reports that the scheduler must stop.
func (s *Scheduler) execute(ctx, runCtx context.Context, cancelRuns context.CancelFunc, it *item) (stopped bool) {
	s.Logger.Info("run started", "job", it.Job, "logical_date", it.Date(), "attempt", it.Number, "trigger", it.Trigger)
	done := make(chan result, 1)
	go func() {
		rec, err := s.Execute(runCtx, it.Attempt)
		done <- result{rec, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		stopped = true
		s.Logger.Info("stopping: no new runs; waiting for the running one", "job", it.Job, "grace", s.Grace.String())
		select {
		case r = <-done:
		case <-s.Clock.After(s.Grace):
			s.Logger.Warn("grace period over: canceling the running run; its partial work is rolled back", "job", it.Job)
			cancelRuns()
			select {
			case r = <-done:
			case <-s.Clock.After(hardStop):
				s.Logger.Error("run did not stop after cancel; exiting, the next start marks it abandoned", "job", it.Job)
				return true
			}
		}
	}
	s.finish(it, r, stopped)
	return stopped
}

// finish books an attempt's outcome and queues a retry when one is due.
func (s *Scheduler) finish(it *item, r result, stopping bool) {
	now := s.Clock.Now()
	j := s.jobs[it.Job]
	var locked *warehouse.LockedError
	if errors.As(r.err, &locked) {
		if stopping {
			return
		}
		it.lockWaits++
		it.notBefore = now.Add(Backoff(j.RetryBackoff.D(), j.RetryBackoffMax.D(), it.lockWaits, s.Rand))
		s.pending = append(s.pending, it)
		s.Logger.Warn("warehouse busy: run rescheduled", "job", it.Job, "logical_date", it.Date(),
			"retry_at", it.notBefore.Format(time.RFC3339), "holder", locked.Error())
		return
	}
	rec := r.rec
	if rec.ID == "" && r.err != nil {
		// Failed before it was recorded (e.g. the history is not writable).
		rec = jobs.Record{Job: it.Job, LogicalDate: it.Date(), Attempt: it.Number, Trigger: it.Trigger,
			Status: jobs.StatusFailed, Error: r.err.Error(), StartedAt: now.UTC()}
	}
	k := it.key()
	s.latest[k] = rec.Status
	if rec.Status == jobs.StatusSuccess {
		s.succeeded[k] = true
	}
	retry := rec.Status == jobs.StatusFailed && it.Number <= j.Retries && !stopping
	logArgs := []any{"run", rec.ID, "job", rec.Job, "logical_date", rec.LogicalDate, "attempt", rec.Attempt,
		"status", rec.Status, "duration_seconds", rec.Duration().Round(time.Millisecond).Seconds(), "rows_in", rec.RowsIn,
		"rows_out", rec.RowsOut, "rows_quarantined", rec.RowsQuarantined, "models", len(rec.Models)}
	if rec.Version != "" {
		logArgs = append(logArgs, "published_version", rec.Version)
	}
	if rec.Status == jobs.StatusSuccess {
		s.Logger.Info("run finished", logArgs...)
	} else {
		s.Logger.Error("run finished", append(logArgs, "err", rec.Error)...)
	}
	if retry {
		next := &item{Attempt: it.Attempt, due: it.due}
		next.Number++
		next.notBefore = now.Add(Backoff(j.RetryBackoff.D(), j.RetryBackoffMax.D(), it.Number, s.Rand))
		s.pending = append(s.pending, next)
		s.Logger.Info("retry scheduled", "job", it.Job, "logical_date", it.Date(), "attempt", next.Number,
			"of", j.Retries+1, "at", next.notBefore.Format(time.RFC3339))
	}
	if s.Finished != nil {
		s.Finished(rec, retry)
	}
}
