package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

const sourceYAML = `version: 1
sources: [{name: s, path: in, columns: {customer_id: c, ts: t, amount: a}}]
`

// The jobs block of issue 6, verbatim.
const issueJobs = `jobs:
  - name: hourly-ingest
    schedule: "@every 2s"
    steps: [ingest]
    retries: 2
    timeout: 10m
  - name: marts
    schedule: "0 2 * * *"
    steps: [transform, publish]
    depends_on: [hourly-ingest]
http:
  listen: 127.0.0.1:9464
`

func TestIssueJobsParseWithDefaults(t *testing.T) {
	c, err := Parse([]byte(sourceYAML+issueJobs), "/etc/custmart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.JobOrder(); !slices.Equal(got, []string{"hourly-ingest", "marts"}) {
		t.Fatalf("job order %v", got)
	}
	ingest, _ := c.Job("hourly-ingest")
	marts, _ := c.Job("marts")
	if ingest.Retries != 2 || ingest.Timeout.D() != 10*time.Minute || marts.Timeout.D() != time.Hour {
		t.Errorf("retries/timeouts: %+v %+v", ingest, marts)
	}
	if marts.TimeZone != "UTC" || marts.CatchUp != "latest" || marts.RetryBackoff.D() != 10*time.Second || marts.RetryBackoffMax.D() != 10*time.Minute {
		t.Errorf("defaults: %+v", marts)
	}
	if c.HTTP.Listen != "127.0.0.1:9464" || c.Scheduler.ShutdownGrace.D() != 30*time.Second || c.Alerts.Timeout.D() != 10*time.Second {
		t.Errorf("daemon settings: %+v %+v %+v", c.HTTP, c.Scheduler, c.Alerts)
	}
}

func TestExampleConfigParses(t *testing.T) {
	c, err := Parse(Example, "/etc/custmart/custmart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Jobs) == 0 || c.HTTP.Listen == "" {
		t.Fatalf("example has no jobs or listener: %+v", c.Jobs)
	}
}

func TestJobErrorsNameTheFieldAndTheFix(t *testing.T) {
	for _, tc := range []struct {
		name, jobs, field, msg string
	}{
		{"cycle", `jobs:
  - {name: a, schedule: "@daily", steps: [ingest], depends_on: [c]}
  - {name: b, schedule: "@daily", steps: [transform], depends_on: [a]}
  - {name: c, schedule: "@daily", steps: [publish], depends_on: [b]}
`, "jobs.depends_on", "job dependency cycle: a -> c -> b -> a"},
		{"self", `jobs: [{name: a, schedule: "@daily", steps: [ingest], depends_on: [a]}]`, "jobs.depends_on", "a -> a"},
		{"unknown dependency", `jobs: [{name: a, schedule: "@daily", steps: [ingest], depends_on: [nope]}]`, "jobs[0].depends_on", `job "nope" is not declared`},
		{"missing schedule", `jobs: [{name: a, steps: [ingest]}]`, "jobs[0].schedule", "missing"},
		{"bad cron", `jobs: [{name: a, schedule: "61 * * * *", steps: [ingest]}]`, "jobs[0].schedule", `"61 * * * *"`},
		{"tz prefix", `jobs: [{name: a, schedule: "CRON_TZ=Europe/Berlin 0 2 * * *", steps: [ingest]}]`, "jobs[0].schedule", "TZ= prefix"},
		{"never fires", `jobs: [{name: a, schedule: "0 0 30 2 *", steps: [ingest]}]`, "jobs[0].schedule", "never fires"},
		{"zone", `jobs: [{name: a, schedule: "@daily", timezone: Mars/Olympus, steps: [ingest]}]`, "jobs[0].timezone", "not a time zone"},
		{"catch up", `jobs: [{name: a, schedule: "@daily", catch_up: some, steps: [ingest]}]`, "jobs[0].catch_up", "not a catch-up policy"},
		{"backoff", `jobs: [{name: a, schedule: "@daily", retry_backoff: 1m, retry_backoff_max: 10s, steps: [ingest]}]`, "jobs[0].retry_backoff_max", "at least retry_backoff"},
		{"listen", "http: {listen: 9464}\n", "http.listen", "not host:port"},
		{"webhook", "alerts: {webhook: hooks.example.com}\n", "alerts.webhook", "not an http(s) URL"},
	} {
		_, err := Parse([]byte(sourceYAML+tc.jobs), "/etc/custmart.yaml")
		var ce *Error
		if !errors.As(err, &ce) || ce.Field != tc.field || !strings.Contains(ce.Error(), tc.msg) || ce.Hint == "" {
			t.Errorf("%s: got %v, want field %s with %q and a hint", tc.name, err, tc.field, tc.msg)
		}
	}
}

func TestScheduleSyntaxes(t *testing.T) {
	for _, expr := range []string{"0 2 * * *", "*/5 * * * * *", "@daily", "@hourly", "@every 2s", "@every 1h30m", "0 0 * * MON-FRI"} {
		if _, err := ParseSchedule(expr); err != nil {
			t.Errorf("%q: %v", expr, err)
		}
	}
}
