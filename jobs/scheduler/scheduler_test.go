package scheduler

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custmart/custmart/jobs"
	"github.com/custmart/custmart/jobs/config"
	"github.com/custmart/custmart/warehouse"
)

// simClock is a discrete-event clock: the scheduler loop is its only waiter,
// so After jumps straight to the deadline. Reaching stopAt cancels the run.
type simClock struct {
	mu     sync.Mutex
	now    time.Time
	stopAt time.Time
	stop   context.CancelFunc
}

func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *simClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if at := c.now.Add(d); at.Before(c.stopAt) {
		c.now = at
		ch <- at
		return ch
	}
	c.now = c.stopAt
	c.stop()
	return ch
}

// Sleep lets a simulated run take time; a busy scheduler never waits, so
// passing stopAt here stops it too.
func (c *simClock) Sleep(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	if !c.now.Before(c.stopAt) {
		c.stop()
	}
}

// started is one attempt as the executor saw it.
type started struct {
	Attempt
	At time.Time
}

// world runs a Scheduler over a real history in a temporary directory with
// an executor that records attempts the way the pipeline does.
type world struct {
	t        *testing.T
	clock    *simClock
	history  *jobs.History
	mu       sync.Mutex
	attempts []started
	finished []jobs.Record
	// outcome decides an attempt's result; nil means success.
	outcome  func(a Attempt, n int) error
	duration time.Duration
	inRun    atomic.Int32
}

func newWorld(t *testing.T, start time.Time) *world {
	return &world{t: t, clock: &simClock{now: start}, history: jobs.NewHistory(warehouse.NewLayout(t.TempDir()))}
}

func (w *world) execute(ctx context.Context, a Attempt) (jobs.Record, error) {
	if w.inRun.Add(1) != 1 {
		w.t.Errorf("two runs at once: %s for %s started while another ran", a.Job, a.Date())
	}
	defer w.inRun.Add(-1)
	w.mu.Lock()
	n := len(w.attempts)
	w.attempts = append(w.attempts, started{a, w.clock.Now()})
	w.mu.Unlock()
	var err error
	if w.outcome != nil {
		err = w.outcome(a, n)
	}
	if _, locked := err.(*warehouse.LockedError); locked {
		return jobs.Record{}, err
	}
	start := w.clock.Now().UTC()
	w.clock.Sleep(w.duration)
	end := w.clock.Now().UTC()
	rec := jobs.NewRecord(a.Job, a.Date(), start, a.ScheduledAt)
	rec.Attempt, rec.Trigger, rec.Status, rec.FinishedAt = a.Number, a.Trigger, jobs.StatusSuccess, &end
	if err != nil {
		rec.Status, rec.Error = jobs.StatusFailed, err.Error()
	}
	if serr := w.history.Save(rec); serr != nil {
		w.t.Fatal(serr)
	}
	return rec, err
}

// run schedules the jobs of a YAML jobs: block until the clock reaches until.
func (w *world) run(jobsYAML string, until time.Time) {
	w.t.Helper()
	raw := "version: 1\nsources: [{name: s, path: in, columns: {customer_id: c, ts: t, amount: a}}]\n" + jobsYAML
	cfg, err := config.Parse([]byte(raw), "/cfg/custmart.yaml")
	if err != nil {
		w.t.Fatal(err)
	}
	js, err := Jobs(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w.clock.mu.Lock()
	w.clock.stopAt, w.clock.stop = until, cancel
	w.clock.mu.Unlock()
	s := &Scheduler{Jobs: js, Execute: w.execute, History: w.history, Clock: w.clock,
		Rand: func() float64 { return 0.5 },
		Finished: func(r jobs.Record, retry bool) {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.finished = append(w.finished, r)
		}}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			w.t.Fatal(err)
		}
	case <-time.After(2 * time.Minute): // generous: a loaded machine only makes it slower
		w.t.Fatal("scheduler did not stop when the simulated clock reached its end")
	}
}

// log renders the attempts as "job date #n trigger @time" lines.
func (w *world) log() []string {
	var out []string
	for _, a := range w.attempts {
		out = append(out, fmt.Sprintf("%s %s #%d %s @%s", a.Job, a.Date(), a.Number, a.Trigger, a.At.UTC().Format("01-02T15:04:05")))
	}
	return out
}

func (w *world) expect(want ...string) {
	w.t.Helper()
	if got := w.log(); !slices.Equal(got, want) {
		w.t.Fatalf("attempts:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// seed records a finished scheduled run, as an earlier daemon would have.
func (w *world) seed(job, logicalDate, scheduledAt, status string) {
	at := utc(scheduledAt)
	rec := jobs.NewRecord(job, logicalDate, at, at)
	rec.Attempt, rec.Trigger, rec.Status, rec.FinishedAt = 1, jobs.TriggerSchedule, status, &at
	if err := w.history.Save(rec); err != nil {
		w.t.Fatal(err)
	}
}

const dailyJob = `jobs:
  - {name: daily, schedule: "0 2 * * *", steps: [transform], catch_up: %s}
`

func TestFirstStartWaitsForTheNextTick(t *testing.T) {
	w := newWorld(t, utc("2025-01-05T12:00:00Z"))
	w.run(fmt.Sprintf(dailyJob, "all"), utc("2025-01-07T03:00:00Z"))
	w.expect(
		"daily 2025-01-05 #1 schedule @01-06T02:00:00",
		"daily 2025-01-06 #1 schedule @01-07T02:00:00",
	)
}

func TestCatchUpAllRunsEveryMissedDateInOrder(t *testing.T) {
	w := newWorld(t, utc("2025-01-05T12:00:00Z"))
	w.seed("daily", "2024-12-31", "2025-01-01T02:00:00Z", jobs.StatusSuccess)
	w.run(fmt.Sprintf(dailyJob, "all"), utc("2025-01-06T03:00:00Z"))
	w.expect(
		"daily 2025-01-01 #1 catch-up @01-05T12:00:00",
		"daily 2025-01-02 #1 catch-up @01-05T12:00:00",
		"daily 2025-01-03 #1 catch-up @01-05T12:00:00",
		"daily 2025-01-04 #1 catch-up @01-05T12:00:00",
		"daily 2025-01-05 #1 schedule @01-06T02:00:00",
	)
}

func TestCatchUpLatestRunsOnlyTheMostRecentInterval(t *testing.T) {
	w := newWorld(t, utc("2025-01-05T12:00:00Z"))
	w.seed("daily", "2024-12-31", "2025-01-01T02:00:00Z", jobs.StatusSuccess)
	w.run(fmt.Sprintf(dailyJob, "latest"), utc("2025-01-06T03:00:00Z"))
	w.expect(
		"daily 2025-01-04 #1 catch-up @01-05T12:00:00",
		"daily 2025-01-05 #1 schedule @01-06T02:00:00",
	)
}

func TestAbandonedLastRunIsRunAgainAtStart(t *testing.T) {
	w := newWorld(t, utc("2025-01-05T12:00:00Z"))
	w.seed("daily", "2025-01-04", "2025-01-05T02:00:00Z", jobs.StatusAbandoned)
	w.run(fmt.Sprintf(dailyJob, "latest"), utc("2025-01-05T13:00:00Z"))
	w.expect("daily 2025-01-04 #1 catch-up @01-05T12:00:00")
	// ...and nothing is re-run when the last run finished.
	w2 := newWorld(t, utc("2025-01-05T12:00:00Z"))
	w2.seed("daily", "2025-01-04", "2025-01-05T02:00:00Z", jobs.StatusSuccess)
	w2.run(fmt.Sprintf(dailyJob, "latest"), utc("2025-01-05T13:00:00Z"))
	w2.expect()
}

func TestDependenciesRunFirstForTheSameLogicalDate(t *testing.T) {
	w := newWorld(t, utc("2025-01-05T12:00:00Z"))
	w.duration = 10 * time.Minute
	// Declared downstream first; both fire at 02:00.
	w.run(`jobs:
  - {name: marts, schedule: "0 2 * * *", steps: [transform, publish], depends_on: [ingest]}
  - {name: ingest, schedule: "0 2 * * *", steps: [ingest]}
  - {name: report, schedule: "0 3 * * *", steps: [publish], depends_on: [marts]}
`, utc("2025-01-07T04:00:00Z"))
	w.expect(
		"ingest 2025-01-05 #1 schedule @01-06T02:00:00",
		"marts 2025-01-05 #1 schedule @01-06T02:10:00",
		"report 2025-01-05 #1 schedule @01-06T03:00:00",
		"ingest 2025-01-06 #1 schedule @01-07T02:00:00",
		"marts 2025-01-06 #1 schedule @01-07T02:10:00",
		"report 2025-01-06 #1 schedule @01-07T03:00:00",
	)
}

func TestMissingUpstreamRunIsQueuedForTheDate(t *testing.T) {
	w := newWorld(t, utc("2025-01-05T12:00:00Z"))
	// Weekly ingest has no run for most dates the daily marts need.
	w.run(`jobs:
  - {name: ingest, schedule: "0 0 * * 1", steps: [ingest]}
  - {name: marts, schedule: "0 2 * * *", steps: [transform], depends_on: [ingest]}
`, utc("2025-01-06T03:00:00Z"))
	w.expect(
		"ingest 2024-12-30 #1 schedule @01-06T00:00:00", // Monday 00:00: the week from the 30th
		"ingest 2025-01-05 #1 dependency @01-06T02:00:00",
		"marts 2025-01-05 #1 schedule @01-06T02:00:00",
	)
}

func TestFailedUpstreamSkipsTheDownstreamRun(t *testing.T) {
	w := newWorld(t, utc("2025-01-05T12:00:00Z"))
	w.outcome = func(a Attempt, n int) error {
		if a.Job == "ingest" {
			return fmt.Errorf("source unreachable")
		}
		return nil
	}
	w.run(`jobs:
  - {name: ingest, schedule: "0 2 * * *", steps: [ingest], retries: 1, retry_backoff: 1m}
  - {name: marts, schedule: "0 2 * * *", steps: [transform], depends_on: [ingest]}
`, utc("2025-01-06T03:00:00Z"))
	w.expect(
		"ingest 2025-01-05 #1 schedule @01-06T02:00:00",
		"ingest 2025-01-05 #2 schedule @01-06T02:00:45", // first retry: 1m with jitter 0.5 -> 45s
	)
	skipped, err := w.history.List(jobs.Filter{Job: "marts"})
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 1 || skipped[0].Status != jobs.StatusSkipped || !strings.Contains(skipped[0].Error, "upstream job ingest failed for 2025-01-05") {
		t.Fatalf("marts history: %+v", skipped)
	}
}

func TestRetriesBackOffExponentiallyAndStop(t *testing.T) {
	w := newWorld(t, utc("2025-01-05T12:00:00Z"))
	w.outcome = func(a Attempt, n int) error { return fmt.Errorf("attempt %d failed", a.Number) }
	w.run(`jobs:
  - {name: flaky, schedule: "0 2 * * *", steps: [ingest], retries: 3, retry_backoff: 10s, retry_backoff_max: 30s}
`, utc("2025-01-06T03:00:00Z"))
	// Delays with jitter 0.5: 10s -> 7.5s, 20s -> 15s, 40s capped to 30s -> 22.5s.
	w.expect(
		"flaky 2025-01-05 #1 schedule @01-06T02:00:00",
		"flaky 2025-01-05 #2 schedule @01-06T02:00:07",
		"flaky 2025-01-05 #3 schedule @01-06T02:00:22",
		"flaky 2025-01-05 #4 schedule @01-06T02:00:45",
	)
	gaps := []time.Duration{7500 * time.Millisecond, 15 * time.Second, 22500 * time.Millisecond}
	for i, g := range gaps {
		if got := w.attempts[i+1].At.Sub(w.attempts[i].At); got != g {
			t.Errorf("gap before attempt %d: %s, want %s", i+2, got, g)
		}
	}
	if n := len(w.finished); n != 4 || w.finished[3].Status != jobs.StatusFailed {
		t.Fatalf("finished: %+v", w.finished)
	}
}

func TestLockedWarehouseReschedulesWithoutUsingAnAttempt(t *testing.T) {
	w := newWorld(t, utc("2025-01-05T12:00:00Z"))
	w.outcome = func(a Attempt, n int) error {
		if n < 2 {
			return &warehouse.LockedError{Path: "/d/custmart.lock", Holder: warehouse.Holder{PID: 4242, Command: "custmart run"}}
		}
		return nil
	}
	w.run(`jobs:
  - {name: ingest, schedule: "0 2 * * *", steps: [ingest], retries: 0, retry_backoff: 10s}
`, utc("2025-01-06T03:00:00Z"))
	w.expect(
		"ingest 2025-01-05 #1 schedule @01-06T02:00:00",
		"ingest 2025-01-05 #1 schedule @01-06T02:00:07",
		"ingest 2025-01-05 #1 schedule @01-06T02:00:22",
	)
	if len(w.finished) != 1 || w.finished[0].Status != jobs.StatusSuccess {
		t.Fatalf("finished: %+v", w.finished)
	}
}

func TestNoOverlapAndTicksDuringARunCollapse(t *testing.T) {
	w := newWorld(t, utc("2025-01-05T12:00:00Z"))
	w.duration = 5500 * time.Millisecond // longer than the schedule's period
	w.run(`jobs:
  - {name: fast, schedule: "@every 1s", steps: [ingest]}
  - {name: other, schedule: "*/2 * * * * *", steps: [transform]}
`, utc("2025-01-05T12:01:00Z"))
	if len(w.attempts) < 5 {
		t.Fatalf("only %d attempts in a simulated minute", len(w.attempts))
	}
	for i := 1; i < len(w.attempts); i++ {
		if gap := w.attempts[i].At.Sub(w.attempts[i-1].At); gap < w.duration {
			t.Fatalf("attempt %d started %s after the previous one, which takes %s: runs overlapped", i, gap, w.duration)
		}
	}
	// Ticks that fired during a run collapse into one run for the latest
	// tick, so no backlog of missed seconds builds up, and neither job starves.
	runs := map[string]int{}
	for _, a := range w.attempts {
		runs[a.Job]++
		if lag := a.At.Sub(a.ScheduledAt); lag < 0 || lag > w.duration+2*time.Second {
			t.Fatalf("%s started %s after its tick %s: a stale tick ran (%v)", a.Job, lag, a.ScheduledAt.Format(time.TimeOnly), w.log())
		}
	}
	if runs["fast"] < 4 || runs["other"] < 4 || len(w.attempts) > 11 {
		t.Fatalf("runs per job %v in 60 s of 5.5 s runs: %v", runs, w.log())
	}
}
