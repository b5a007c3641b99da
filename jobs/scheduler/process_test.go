package scheduler_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/custmart/custmart/fixtures"
	"github.com/custmart/custmart/jobs"
	"github.com/custmart/custmart/jobs/alert"
	"github.com/custmart/custmart/warehouse"
)

var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
	os.Exit(code)
}

// custmart builds the binary once for every process test.
func custmart(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the custmart binary")
	}
	binary.once.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			binary.err = err
			return
		}
		if binary.dir, binary.err = os.MkdirTemp("", "custmart-bin-"); binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, "custmart")
		// With the Makefile's tags: the engine reads large results as Arrow.
		build := exec.Command("go", "build", "-tags", "duckdb_arrow", "-o", binary.path, "./cmd/custmart")
		build.Dir = filepath.Dir(strings.TrimSpace(string(out)))
		if msg, err := build.CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, msg)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// site is a data directory with fixture data and a configuration.
type site struct {
	t       *testing.T
	bin     string
	dir     string // data directory
	config  string
	lines   int64  // input rows
	amount  string // exact input sum of amount
	history *jobs.History
}

func newSite(t *testing.T, jobsYAML string) *site {
	t.Helper()
	s := &site{t: t, bin: custmart(t), dir: t.TempDir()}
	sum, err := fixtures.Generate(context.Background(), fixtures.Options{Customers: 200, Out: filepath.Join(s.dir, "inbox"), Seed: 1, Days: 60})
	if err != nil {
		t.Fatal(err)
	}
	s.lines, s.amount = sum.Lines, sum.Amount()
	s.history = jobs.NewHistory(warehouse.NewLayout(s.dir))
	s.config = filepath.Join(t.TempDir(), "custmart.yaml")
	s.writeConfig(jobsYAML)
	return s
}

func (s *site) writeConfig(jobsYAML string) {
	cfg := fmt.Sprintf(`version: 1
sources:
  - name: sample
    path: %s
    columns: {transaction_id: transaction_id, order_id: order_id, customer_id: customer_id, ts: ts, amount: amount,
              quantity: quantity, unit_price: unit_price, currency: currency, channel: channel, store_id: store_id, product_id: product_id}
    cancellation_pattern: "^R"
%s`, filepath.Join(s.dir, "inbox"), jobsYAML)
	if err := os.WriteFile(s.config, []byte(cfg), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// cli runs a custmart command to completion.
func (s *site) cli(args ...string) (string, error) {
	cmd := exec.Command(s.bin, append(args, "--config", s.config, "--data-dir", s.dir)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		return "", err
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return out.String(), fmt.Errorf("custmart %s: %v: %s", strings.Join(args, " "), err, errOut.String())
		}
		return out.String(), nil
	case <-ctx.Done():
		cmd.Process.Kill()
		return "", fmt.Errorf("custmart %s did not finish in a minute", strings.Join(args, " "))
	}
}

// daemon is a running `custmart schedule`.
type daemon struct {
	cmd  *exec.Cmd
	log  string // stderr, JSON lines
	done chan error
	err  error
}

func (s *site) start() *daemon {
	s.t.Helper()
	d := &daemon{log: filepath.Join(s.t.TempDir(), "schedule.log"), done: make(chan error, 1)}
	f, err := os.Create(d.log)
	if err != nil {
		s.t.Fatal(err)
	}
	defer f.Close()
	d.cmd = exec.Command(s.bin, "schedule", "--config", s.config, "--data-dir", s.dir, "--log-format", "json")
	d.cmd.Stderr = f
	if err := d.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	s.t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			d.cmd.Process.Kill()
			<-d.done
		}
	})
	return d
}

// stop sends sig and waits for the exit; it returns the exit code.
func (d *daemon) stop(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
	case <-time.After(patience):
		d.cmd.Process.Kill()
		t.Fatalf("custmart schedule did not exit within %s of %s", patience, sig)
	}
	return d.cmd.ProcessState.ExitCode()
}

// logged returns the JSON log records with the given message.
func (d *daemon) logged(t *testing.T, msg string) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(d.log)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// patience bounds every wait on the daemon (an event, its exit): generous,
// so that a loaded machine makes these tests slower, not fail.
const patience = 5 * time.Minute

// waitFor polls cond every 10 ms until it holds, failing after patience.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s", patience, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *site) runs(f jobs.Filter) []jobs.Record {
	s.t.Helper()
	rs, err := s.history.List(f)
	if err != nil {
		s.t.Fatal(err)
	}
	return rs
}

// running returns a run in progress, if any.
func (s *site) running() (jobs.Record, bool) {
	rs, _ := s.history.List(jobs.Filter{Status: jobs.StatusRunning})
	if len(rs) == 0 {
		return jobs.Record{}, false
	}
	return rs[0], true
}

// succeededSince reports whether job has a successful run started after t.
func (s *site) succeededSince(job string, t time.Time) bool {
	rs, _ := s.history.List(jobs.Filter{Job: job, Status: jobs.StatusSuccess, Since: t})
	return len(rs) > 0
}

// assertLakeMatchesInput checks that the lake holds every input row exactly
// once: row count and exact sum of amount.
func (s *site) assertLakeMatchesInput() {
	s.t.Helper()
	out, err := s.cli("query", "--format", "csv", "SELECT count(*), sum(amount)::VARCHAR FROM lake_transactions")
	if err != nil {
		s.t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != 2 {
		s.t.Fatalf("query output %q: %v", out, err)
	}
	if rows[1][0] != strconv.FormatInt(s.lines, 10) || rows[1][1] != s.amount {
		s.t.Fatalf("lake holds %s rows summing to %s; the input has %d rows summing to %s", rows[1][0], rows[1][1], s.lines, s.amount)
	}
	if staged, _ := os.ReadDir(filepath.Join(s.dir, "lake", "_staging")); len(staged) > 0 {
		s.t.Fatalf("staged batches left behind: %v", staged)
	}
}

// webhook records the alerts posted to it over loopback.
type webhook struct {
	srv    *httptest.Server
	mu     sync.Mutex
	events []alert.Event
}

func newWebhook(t *testing.T) *webhook {
	w := &webhook{}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var ev alert.Event
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("webhook got %s with content type %q", r.Method, r.Header.Get("Content-Type"))
		}
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		w.mu.Lock()
		w.events = append(w.events, ev)
		w.mu.Unlock()
	}))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *webhook) all() []alert.Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]alert.Event(nil), w.events...)
}

func (w *webhook) kinds() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, e := range w.events {
		out = append(out, e.Kind+":"+e.Job)
	}
	return out
}

func (w *webhook) count(kind string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, e := range w.events {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// metric returns the value of the sample whose name and labels match, e.g.
// metric(body, `custmart_runs_total{job="ingest",status="success"}`).
func metric(body, sample string) (float64, bool) {
	name, labels, _ := strings.Cut(strings.TrimSuffix(sample, "}"), "{")
	for line := range strings.SplitSeq(body, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		match := true
		for l := range strings.SplitSeq(labels, ",") {
			if l != "" && !strings.Contains(series, l) {
				match = false
			}
		}
		if match {
			v, err := strconv.ParseFloat(value, 64)
			return v, err == nil
		}
	}
	return 0, false
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

const everySecond = `jobs:
  - name: ingest
    schedule: "@every 1s"
    steps: [ingest]
    retries: 1
    retry_backoff: 200ms
    retry_backoff_max: 1s
    timeout: 1m
  - name: marts
    schedule: "* * * * * *"
    steps: [transform, publish]
    depends_on: [ingest]
`

func TestDaemonServesMetricsAlertsAndStopsCleanlyOnSIGTERM(t *testing.T) {
	hook := newWebhook(t)
	// The grace period is generous (a run under load may take minutes) and
	// below patience, so that stop sees the exit.
	s := newSite(t, everySecond+fmt.Sprintf(`scheduler: {shutdown_grace: 4m, check_every: 1s}
http: {listen: "127.0.0.1:0"}
alerts: {webhook: %q}
`, hook.srv.URL))
	begin := time.Now()
	d := s.start()
	waitFor(t, "a marts run to publish", func() bool { return s.succeededSince("marts", begin) })

	// The first ingest loaded every input row.
	ingests := s.runs(jobs.Filter{Job: "ingest", Status: jobs.StatusSuccess})
	if ingests[0].RowsOut != s.lines || ingests[0].Trigger != jobs.TriggerSchedule || ingests[0].ScheduledAt == nil {
		t.Fatalf("first ingest: %+v; want %d rows out, a schedule trigger and its tick", ingests[0], s.lines)
	}

	// HTTP on loopback: the port is in the log.
	listening := d.logged(t, "http listening")
	if len(listening) != 1 {
		t.Fatal("no `http listening` log line")
	}
	base := "http://" + listening[0]["addr"].(string)
	if code, body := get(t, base+"/healthz"); code != 200 || !strings.Contains(body, `"ok"`) {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	// The daemon counts a run in /metrics just after writing its record,
	// so the metrics may lag the history the wait above read.
	var code int
	var body string
	waitFor(t, "/metrics to count the marts run", func() bool {
		code, body = get(t, base+"/metrics")
		v, ok := metric(body, `custmart_runs_total{job="marts",status="success"}`)
		return code != 200 || ok && v >= 1
	})
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for sample, check := range map[string]func(float64) bool{
		`custmart_runs_total{job="ingest",status="success"}`:           func(v float64) bool { return v >= 1 },
		`custmart_runs_total{job="marts",status="success"}`:            func(v float64) bool { return v >= 1 },
		`custmart_rows_ingested_total{job="ingest"}`:                   func(v float64) bool { return v == float64(s.lines) },
		`custmart_rows_quarantined_total{job="ingest"}`:                func(v float64) bool { return v == 0 },
		`custmart_run_duration_seconds_count{job="marts"}`:             func(v float64) bool { return v >= 1 },
		`custmart_last_success_timestamp_seconds{job="marts"}`:         func(v float64) bool { return v >= float64(begin.Unix()) },
		`custmart_mart_age_seconds{mart="rfm"}`:                        func(v float64) bool { return v >= 0 && v < 3600 },
		`custmart_mart_age_seconds{mart="job_runs"}`:                   func(v float64) bool { return v >= 0 },
		`custmart_run_duration_seconds_bucket{job="ingest",le="+Inf"}`: func(v float64) bool { return v >= 1 },
	} {
		v, ok := metric(body, sample)
		if !ok || !check(v) {
			t.Errorf("/metrics %s = %v (found %v)", sample, v, ok)
		}
	}
	code, body = get(t, base+"/runs?job=marts&limit=1")
	var listed []jobs.Record
	if err := json.Unmarshal([]byte(body), &listed); code != 200 || err != nil || len(listed) != 1 || listed[0].Job != "marts" {
		t.Fatalf("/runs: %d %s (%v)", code, body, err)
	}

	// The current version's report, and a named one's.
	if code, body := get(t, base+"/report"); code != 200 || !strings.Contains(body, `id="version">`) {
		t.Fatalf("/report: %d %.200s", code, body)
	}
	if code, _ := get(t, base+"/report/nope"); code != 404 {
		t.Fatalf("/report/nope: %d, want 404", code)
	}

	// The history reads without the daemon's locks while it runs.
	out, err := s.cli("runs", "--job", "ingest", "--status", "success", "--limit", "0")
	if err != nil || !strings.Contains(out, ingests[0].ID) || !strings.Contains(out, "schedule") {
		t.Fatalf("custmart runs: %v\n%s", err, out)
	}
	out, err = s.cli("runs", "show", ingests[0].ID)
	if err != nil || !regexp.MustCompile(`rows out:\s+`+strconv.FormatInt(s.lines, 10)).MatchString(out) {
		t.Fatalf("custmart runs show: %v\n%s", err, out)
	}

	// A broken drop fails ingest (after its retry): one failure alert for the
	// streak; removing it recovers.
	broken := filepath.Join(s.dir, "inbox", "broken.csv")
	header := "transaction_id,order_id,customer_id,ts,product_id,quantity,unit_price,amount,currency,channel,store_id\n"
	if err := os.WriteFile(broken, []byte(header+"X1,O1,C1,2024-01-05 10:00:00,P1,1,2.00,not-a-number,EUR,web,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a failure alert", func() bool { return hook.count(alert.KindFailure) > 0 })
	failed := s.runs(jobs.Filter{Job: "ingest", Status: jobs.StatusFailed})
	if len(failed) < 2 || failed[1].Attempt != 2 || !strings.Contains(failed[1].Error, "broken.csv") {
		t.Fatalf("failed ingests: %+v", failed)
	}
	waitFor(t, "a second failing run", func() bool {
		return len(s.runs(jobs.Filter{Job: "ingest", Status: jobs.StatusFailed})) >= 4
	})
	if err := os.Remove(broken); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a recovery alert", func() bool { return hook.count(alert.KindRecovery) > 0 })
	if got := strings.Join(hook.kinds(), " "); got != "failure:ingest recovery:ingest" {
		t.Fatalf("alerts %q, want one failure and one recovery of ingest", got)
	}

	// SIGTERM mid-run: the run finishes within the grace period, exit 0.
	var inFlight jobs.Record
	waitFor(t, "a run in progress", func() bool {
		var ok bool
		inFlight, ok = s.running()
		return ok
	})
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	if len(d.logged(t, "scheduler stopped")) != 1 {
		t.Fatal("no `scheduler stopped` log line")
	}
	if _, still := s.running(); still {
		t.Fatal("a run is still marked running after a clean stop")
	}
	after, err := s.history.Get(inFlight.ID)
	if err != nil || after.Status != jobs.StatusSuccess || after.FinishedAt == nil {
		t.Fatalf("the run in flight at SIGTERM: %+v (%v)", after, err)
	}
	s.assertLakeMatchesInput()
}

func TestKill9MidRunIsMarkedAbandonedAndTheNextRunLosesNothing(t *testing.T) {
	hook := newWebhook(t)
	s := newSite(t, everySecond+fmt.Sprintf("alerts: {webhook: %q}\n", hook.srv.URL))
	var killed jobs.Record
	for round := 1; killed.ID == ""; round++ {
		if round > 5 {
			t.Fatal("no kill landed mid-run in 5 rounds")
		}
		d := s.start()
		var inFlight jobs.Record
		waitFor(t, "a run in progress", func() bool {
			var ok bool
			inFlight, ok = s.running()
			return ok
		})
		d.stop(t, syscall.SIGKILL)
		if r, _ := s.history.Get(inFlight.ID); r.Status == jobs.StatusRunning {
			killed = r
		}
	}
	t.Logf("killed %s run %s (pid %d)", killed.Job, killed.ID, killed.PID)

	restart := time.Now()
	d := s.start()
	waitFor(t, "ingest and marts to succeed after the restart", func() bool {
		return s.succeededSince("ingest", restart) && s.succeededSince("marts", restart)
	})
	marked, err := s.history.Get(killed.ID)
	if err != nil || marked.Status != jobs.StatusAbandoned || marked.FinishedAt == nil ||
		!strings.Contains(marked.Error, fmt.Sprintf("process %d stopped", killed.PID)) {
		t.Fatalf("killed run after restart: %+v (%v)", marked, err)
	}
	if found := d.logged(t, "found abandoned run"); len(found) != 1 || found[0]["run"] != killed.ID {
		t.Fatalf("abandoned runs logged at start: %v", found)
	}
	waitFor(t, "the abandoned run's alert", func() bool { return hook.count(alert.KindFailure) == 1 })
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	s.assertLakeMatchesInput()
	// Every input file was loaded once: the manifest has no file twice.
	out, err := s.cli("query", "--format", "csv", "SELECT count(*) = count(DISTINCT file) FROM ingest_log WHERE status = 'loaded'")
	if err != nil || !strings.Contains(out, "true") {
		t.Fatalf("files loaded twice: %v %s", err, out)
	}
}

func TestCanceledAfterGraceIsRolledBackAndRecorded(t *testing.T) {
	s := newSite(t, everySecond+"scheduler: {shutdown_grace: 1ms}\n")
	d := s.start()
	var inFlight jobs.Record
	waitFor(t, "the first run in progress", func() bool {
		var ok bool
		inFlight, ok = s.running()
		return ok
	})
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	r, err := s.history.Get(inFlight.ID)
	if err != nil || r.Status == jobs.StatusRunning || r.FinishedAt == nil {
		t.Fatalf("run in flight: %+v (%v)", r, err)
	}
	if r.Status == jobs.StatusCanceled && len(d.logged(t, "grace period over: canceling the running run; its partial work is rolled back")) != 1 {
		t.Fatal("canceled without the grace log line")
	}
	t.Logf("run %s ended %s: %s", r.ID, r.Status, r.Error)
	// Whatever the cancel interrupted, the next start completes the work exactly.
	restart := time.Now()
	d = s.start()
	waitFor(t, "marts to succeed after the restart", func() bool { return s.succeededSince("marts", restart) })
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	s.assertLakeMatchesInput()
}

func TestStaleMartsAlertOncePerStalePeriod(t *testing.T) {
	hook := newWebhook(t)
	s := newSite(t, "")
	if _, err := s.cli("run"); err != nil {
		t.Fatal(err)
	}
	// Jobs that will not fire during the test; marts go stale after 1 s.
	s.writeConfig(fmt.Sprintf(`jobs:
  - {name: yearly, schedule: "0 0 1 1 *", steps: [transform, publish]}
publish: {freshness: 1s}
scheduler: {check_every: 100ms}
alerts: {webhook: %q}
`, hook.srv.URL))
	d := s.start()
	waitFor(t, "a stale alert", func() bool { return hook.count(alert.KindStale) > 0 })
	first := hook.all()[0]
	if first.Version == "" || first.FreshnessSeconds != 1 || first.AgeSeconds <= 1 || len(first.Marts) == 0 {
		t.Fatalf("stale alert: %+v", first)
	}
	// Checks go on every 100 ms; the same stale version is not reported again...
	time.Sleep(time.Second)
	if n := hook.count(alert.KindStale); n != 1 {
		t.Fatalf("%d stale alerts for one stale version", n)
	}
	// ...until a new version is published and goes stale in turn.
	if _, err := s.cli("publish"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a stale alert for the new version", func() bool { return hook.count(alert.KindStale) == 2 })
	if second := hook.all()[1]; second.Version == first.Version {
		t.Fatalf("second stale alert names the old version %s", first.Version)
	}
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

func TestBackfillCLIRunsUpstreamFirstWaitsForTheLockAndResumes(t *testing.T) {
	s := newSite(t, `jobs:
  - {name: marts, schedule: "0 2 * * *", timezone: Europe/Berlin, steps: [transform, publish], depends_on: [ingest]}
  - {name: ingest, schedule: "@hourly", steps: [ingest], retry_backoff: 100ms, retry_backoff_max: 200ms}
`)
	args := []string{"backfill", "--job", "marts", "--from", "2024-02-28", "--to", "2024-02-29"}
	out, err := s.cli(append(args, "--dry-run")...)
	if err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`(?s)2024-02-28\s+ingest\s+run\n2024-02-28\s+marts\s+run\n2024-02-29\s+ingest\s+run\n2024-02-29\s+marts\s+run\n.*4 runs to do, 0 already succeeded`)
	if !want.MatchString(out) || len(s.runs(jobs.Filter{})) != 0 {
		t.Fatalf("dry run printed:\n%s", out)
	}

	// Another writer holds the lock: the backfill waits, naming it.
	lock, err := warehouse.AcquireWriter(warehouse.NewLayout(s.dir), "test-holder")
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "backfill.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(s.bin, append(args, "--config", s.config, "--data-dir", s.dir)...)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	holder := fmt.Sprintf(`warehouse is locked by pid %d`, os.Getpid())
	waitFor(t, "the backfill to report the lock holder", func() bool {
		raw, _ := os.ReadFile(logPath)
		return strings.Contains(string(raw), "warehouse busy: waiting") && strings.Contains(string(raw), holder) &&
			strings.Contains(string(raw), "test-holder")
	})
	lock.Release()
	select {
	case err := <-done:
		if err != nil {
			raw, _ := os.ReadFile(logPath)
			t.Fatalf("backfill: %v\n%s", err, raw)
		}
	case <-time.After(patience):
		cmd.Process.Kill()
		t.Fatalf("backfill did not finish within %s of the lock's release", patience)
	}
	var order []string
	for _, r := range s.runs(jobs.Filter{}) {
		if r.Status != jobs.StatusSuccess || r.Trigger != jobs.TriggerBackfill {
			t.Errorf("run %s: %s by %s", r.ID, r.Status, r.Trigger)
		}
		order = append(order, r.LogicalDate+" "+r.Job)
	}
	if got := strings.Join(order, ", "); got != "2024-02-28 ingest, 2024-02-28 marts, 2024-02-29 ingest, 2024-02-29 marts" {
		t.Fatalf("runs in order: %s", got)
	}
	if !strings.Contains(stdout.String(), "4 of 4 runs done now") {
		t.Fatalf("backfill printed %q", stdout.String())
	}
	// The marts are published as of the last logical date.
	out, err = s.cli("query", "--format", "csv", "SELECT max(logical_date)::VARCHAR, count(*) FROM job_runs WHERE job = 'marts'")
	if err != nil || !strings.Contains(out, "2024-02-29,2") {
		t.Fatalf("job_runs mart: %v %q", err, out)
	}

	// Run again: everything succeeded already, nothing runs.
	out, err = s.cli(args...)
	if err != nil || !strings.Contains(out, "0 of 0 runs done now, 4 had already succeeded") || len(s.runs(jobs.Filter{})) != 4 {
		t.Fatalf("second backfill: %v %q", err, out)
	}
}
