package scheduler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/custmart/custmart/jobs"
	"github.com/custmart/custmart/jobs/config"
	"github.com/custmart/custmart/warehouse"
)

func backfillJobs(t *testing.T) []Job {
	t.Helper()
	cfg, err := config.Parse([]byte(`version: 1
sources: [{name: s, path: in, columns: {customer_id: c, ts: t, amount: a}}]
jobs:
  - {name: report, schedule: "0 3 * * *", steps: [publish], depends_on: [marts]}
  - {name: marts, schedule: "0 2 * * *", steps: [transform], depends_on: [ingest]}
  - {name: ingest, schedule: "@hourly", steps: [ingest], retries: 1, retry_backoff: 1s}
  - {name: unrelated, schedule: "@daily", steps: [ingest]}
`), "/cfg/custmart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	js, err := Jobs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func planLines(plan []BackfillRun) []string {
	var out []string
	for _, r := range plan {
		line := r.Date() + " " + r.Job
		if r.Done != "" {
			line += " done"
		}
		out = append(out, line)
	}
	return out
}

func TestBackfillRunsDatesInOrderUpstreamFirstAndResumes(t *testing.T) {
	js := backfillJobs(t)
	w := newWorld(t, utc("2025-02-01T00:00:00Z"))
	w.clock.stopAt, w.clock.stop = utc("2030-01-01T00:00:00Z"), func() {}
	// marts fails for good on the 2nd: both of its attempts.
	w.outcome = func(a Attempt, n int) error {
		if a.Job == "ingest" && a.Date() == "2025-01-02" && a.Number == 1 {
			return errors.New("flaky source")
		}
		if a.Job == "marts" && a.Date() == "2025-01-02" {
			return errors.New("check failed")
		}
		return nil
	}
	b := &Backfiller{Jobs: js, Execute: w.execute, Clock: w.clock, Rand: func() float64 { return 0 }}
	plan, err := PlanBackfill(js, "marts", date("2025-01-01"), date("2025-01-03"), w.history)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"2025-01-01 ingest", "2025-01-01 marts", "2025-01-02 ingest", "2025-01-02 marts", "2025-01-03 ingest", "2025-01-03 marts"}
	if got := planLines(plan); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("plan %v, want %v", got, want)
	}
	n, err := b.Run(context.Background(), plan)
	if err == nil || !strings.Contains(err.Error(), "backfill stopped at job marts for 2025-01-02") || n != 3 {
		t.Fatalf("ran %d, err %v", n, err)
	}
	w.expect(
		"ingest 2025-01-01 #1 backfill @02-01T00:00:00",
		"marts 2025-01-01 #1 backfill @02-01T00:00:00",
		"ingest 2025-01-02 #1 backfill @02-01T00:00:00",
		"ingest 2025-01-02 #2 backfill @02-01T00:00:00", // retried after 0.5 s (jitter 0 of 1 s)
		"marts 2025-01-02 #1 backfill @02-01T00:00:00",
	)

	// Fixed: the same backfill resumes at the failed run.
	w.outcome, w.attempts = nil, nil
	plan, err = PlanBackfill(js, "marts", date("2025-01-01"), date("2025-01-03"), w.history)
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"2025-01-01 ingest done", "2025-01-01 marts done", "2025-01-02 ingest done", "2025-01-02 marts", "2025-01-03 ingest", "2025-01-03 marts"}
	if got := planLines(plan); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("resumed plan %v, want %v", got, want)
	}
	if n, err := b.Run(context.Background(), plan); err != nil || n != 3 {
		t.Fatalf("ran %d, err %v", n, err)
	}
	w.expect(
		"marts 2025-01-02 #1 backfill @02-01T00:00:00",
		"ingest 2025-01-03 #1 backfill @02-01T00:00:00",
		"marts 2025-01-03 #1 backfill @02-01T00:00:00",
	)
	records, _ := w.history.List(jobs.Filter{Status: jobs.StatusSuccess})
	perKey := map[string]int{}
	for _, r := range records {
		perKey[r.Job+" "+r.LogicalDate]++
	}
	for k, n := range perKey {
		if n != 1 {
			t.Errorf("%s succeeded %d times; a resumed backfill re-ran it", k, n)
		}
	}
}

func TestBackfillPlanRejectsUnknownJobAndReversedRange(t *testing.T) {
	js := backfillJobs(t)
	h := jobs.NewHistory(warehouse.NewLayout(t.TempDir()))
	if _, err := PlanBackfill(js, "nope", date("2025-01-01"), date("2025-01-02"), h); err == nil || !strings.Contains(err.Error(), `job "nope" is not configured`) {
		t.Fatalf("unknown job: %v", err)
	}
	if _, err := PlanBackfill(js, "marts", date("2025-01-02"), date("2025-01-01"), h); err == nil {
		t.Fatal("a reversed range was accepted")
	}
	plan, err := PlanBackfill(js, "report", date("2025-01-01"), date("2025-01-01"), h)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(planLines(plan)); got != "[2025-01-01 ingest 2025-01-01 marts 2025-01-01 report]" {
		t.Fatalf("plan %s", got)
	}
}
