package jobs

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/custmart/custmart/warehouse"
)

// Run statuses.
const (
	StatusRunning   = "running"
	StatusSuccess   = "success"
	StatusFailed    = "failed"
	StatusCanceled  = "canceled"
	StatusAbandoned = "abandoned" // the process died mid-run (kill -9, power loss)
	StatusSkipped   = "skipped"   // not run: an upstream job failed for the same logical date
)

// Triggers say what started a run.
const (
	TriggerCLI        = "cli"        // a command such as `custmart run`
	TriggerSchedule   = "schedule"   // the daemon, at a tick of the job's schedule
	TriggerCatchUp    = "catch-up"   // the daemon, for an interval missed during downtime
	TriggerDependency = "dependency" // the daemon, because a downstream job needs this date
	TriggerBackfill   = "backfill"   // `custmart backfill`
)

// ModelTiming is one model's build inside a run.
type ModelTiming struct {
	Name       string `json:"name"`
	Rows       int64  `json:"rows"`
	DurationMS int64  `json:"duration_ms"`
}

// Record is one run of a job (or of a CLI command) for a logical date.
type Record struct {
	ID              string        `json:"id"`
	Job             string        `json:"job"`
	LogicalDate     string        `json:"logical_date"`
	Attempt         int           `json:"attempt"`
	Trigger         string        `json:"trigger,omitempty"`
	ScheduledAt     *time.Time    `json:"scheduled_at,omitempty"`
	Steps           []string      `json:"steps"`
	Status          string        `json:"status"`
	Error           string        `json:"error,omitempty"`
	StartedAt       time.Time     `json:"started_at"`
	FinishedAt      *time.Time    `json:"finished_at,omitempty"`
	PID             int           `json:"pid"`
	Instance        string        `json:"instance,omitempty"`
	RowsIn          int64         `json:"rows_in"`
	RowsOut         int64         `json:"rows_out"`
	RowsQuarantined int64         `json:"rows_quarantined"`
	Models          []ModelTiming `json:"models,omitempty"`
	StagingMS       int64         `json:"staging_ms,omitempty"` // transform's finishing of the staged marts
	Version         string        `json:"published_version,omitempty"`
}

// Duration is the run's wall time so far or in total.
func (r Record) Duration() time.Duration {
	end := time.Now()
	if r.FinishedAt != nil {
		end = *r.FinishedAt
	}
	return end.Sub(r.StartedAt)
}

// History stores run records as one JSON file per run under <data-dir>/runs,
// written atomically, so readers (`custmart runs`, dashboards) never contend
// with a running job for a database lock.
type History struct {
	dir string
}

// NewHistory returns the run history of a data directory.
func NewHistory(l warehouse.Layout) *History { return &History{dir: l.Runs()} }

// lastRunTime makes run ids of this process strictly increasing, so two
// records made within one microsecond (skipped runs) never share an id.
var lastRunTime struct {
	sync.Mutex
	t time.Time
}

// NewRecord starts the record of an attempt of job for logicalDate at start,
// with the attempt's id: run ids are minted here and nowhere else.
// scheduledAt is the schedule tick the run is for, zero when not scheduled.
func NewRecord(job, logicalDate string, start, scheduledAt time.Time) Record {
	start = start.UTC()
	r := Record{ID: newRunID(job, start), Job: job, LogicalDate: logicalDate, StartedAt: start}
	if !scheduledAt.IsZero() {
		at := scheduledAt.UTC()
		r.ScheduledAt = &at
	}
	return r
}

// newRunID returns a sortable id, unique in this process.
func newRunID(job string, t time.Time) string {
	t = t.UTC().Truncate(time.Microsecond)
	lastRunTime.Lock()
	if !t.After(lastRunTime.t) {
		t = lastRunTime.t.Add(time.Microsecond)
	}
	lastRunTime.t = t
	lastRunTime.Unlock()
	return t.Format("20060102T150405.000000Z") + "-" + job
}

// Save writes a record atomically.
func (h *History) Save(r Record) error {
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return warehouse.WriteFileAtomic(filepath.Join(h.dir, r.ID+".json"), raw, 0o644)
}

// Get reads one record.
func (h *History) Get(id string) (Record, error) {
	var r Record
	raw, err := os.ReadFile(filepath.Join(h.dir, filepath.Base(id)+".json"))
	if errors.Is(err, os.ErrNotExist) {
		return r, fmt.Errorf("no run %s (list runs with `custmart runs`)", id)
	}
	if err != nil {
		return r, err
	}
	return r, json.Unmarshal(raw, &r)
}

// Filter selects records; zero fields match everything.
type Filter struct {
	Job    string
	Status string
	Since  time.Time
}

// List returns the matching records, oldest first.
func (h *History) List(f Filter) ([]Record, error) {
	entries, err := os.ReadDir(h.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		r, err := h.Get(strings.TrimSuffix(e.Name(), ".json"))
		if err != nil {
			return nil, err
		}
		if (f.Job == "" || r.Job == f.Job) && (f.Status == "" || r.Status == f.Status) && !r.StartedAt.Before(f.Since) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// instance identifies this process in run records. The PID alone is not
// enough: a restarted container often gets the same PID (1) as the process
// that died.
var instance = newInstance()

func newInstance() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%d-%s", os.Getpid(), hex.EncodeToString(b))
}

// MarkAbandoned marks runs left "running" by another process as abandoned.
// Call it with the writer lock held: then no other process can be running
// them, since every run holds the lock while it runs.
func (h *History) MarkAbandoned() ([]Record, error) {
	running, err := h.List(Filter{Status: StatusRunning})
	if err != nil {
		return nil, err
	}
	var marked []Record
	for _, r := range running {
		if r.Instance == instance {
			continue
		}
		now := time.Now().UTC()
		r.Status, r.FinishedAt = StatusAbandoned, &now
		r.Error = fmt.Sprintf("process %d stopped before the run finished; its partial work was rolled back", r.PID)
		if err := h.Save(r); err != nil {
			return marked, err
		}
		marked = append(marked, r)
	}
	return marked, nil
}

// RecoverAbandoned takes the writer lock, marks the runs of processes that
// died mid-run as abandoned, and releases the lock. A *warehouse.LockedError
// means another process is writing; its runs are not abandoned.
func RecoverAbandoned(l warehouse.Layout) ([]Record, error) {
	lock, err := warehouse.AcquireWriter(l, warehouse.CommandLine())
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	return NewHistory(l).MarkAbandoned()
}

// Prune deletes the oldest records beyond keep (keep <= 0 keeps all). It
// never deletes a running record or a job's latest one, which the scheduler
// resumes from.
func (h *History) Prune(keep int) (int, error) {
	if keep <= 0 {
		return 0, nil
	}
	all, err := h.List(Filter{})
	if err != nil || len(all) <= keep {
		return 0, err
	}
	latest := map[string]string{}
	for _, r := range all {
		latest[r.Job] = r.ID // List is oldest first
	}
	deleted := 0
	for _, r := range all[:len(all)-keep] {
		if r.Status == StatusRunning || latest[r.Job] == r.ID {
			continue
		}
		if err := os.Remove(filepath.Join(h.dir, r.ID+".json")); err != nil && !errors.Is(err, os.ErrNotExist) {
			return deleted, err
		}
		deleted++
	}
	return deleted, nil
}
