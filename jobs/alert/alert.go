// Package alert posts the scheduler's alerts to a webhook: a run that failed
// for good, the first success after failures (recovery), and published marts
// older than their freshness limit.
package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/custmart/custmart/jobs"
	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/publish"
)

// Alert kinds.
const (
	KindFailure  = "failure"
	KindRecovery = "recovery"
	KindStale    = "stale"
)

// Event is the JSON body posted to the webhook. Text is a one-line summary,
// so chat webhooks that read a "text" field (Slack, Mattermost) show it as is.
type Event struct {
	Kind        string    `json:"kind"`
	Text        string    `json:"text"`
	At          time.Time `json:"at"`
	Job         string    `json:"job,omitempty"`
	RunID       string    `json:"run_id,omitempty"`
	LogicalDate string    `json:"logical_date,omitempty"`
	Attempt     int       `json:"attempt,omitempty"`
	Status      string    `json:"status,omitempty"`
	Error       string    `json:"error,omitempty"`
	// Stale marts: the current version, when it was published, its age and the limit.
	Version          string    `json:"version,omitempty"`
	Marts            []string  `json:"marts,omitempty"`
	PublishedAt      time.Time `json:"published_at,omitzero"`
	AgeSeconds       float64   `json:"age_seconds,omitempty"`
	FreshnessSeconds float64   `json:"freshness_seconds,omitempty"`
}

// Alerter decides which events to send and delivers them in order from one
// goroutine, so a slow webhook never holds up the scheduler.
type Alerter struct {
	url       string
	client    *http.Client
	layout    warehouse.Layout
	freshness time.Duration
	now       func() time.Time
	logger    *slog.Logger

	mu      sync.Mutex
	failing map[string]bool // job -> its last final outcome was a failure
	stale   string          // the version already reported stale

	queue chan Event
	done  chan struct{}
}

// New starts an alerter posting to url (empty: alerts are only logged), each
// delivery attempt bounded by timeout. Close it to flush.
func New(url string, timeout time.Duration, l warehouse.Layout, freshness time.Duration, logger *slog.Logger) *Alerter {
	a := &Alerter{
		url: url, client: &http.Client{Timeout: timeout}, layout: l, freshness: freshness,
		now: time.Now, logger: logger, failing: map[string]bool{},
		queue: make(chan Event, 64), done: make(chan struct{}),
	}
	go a.deliver()
	return a
}

// Seed learns from the history which jobs are failing, so the first success
// after a restart still counts as a recovery.
func (a *Alerter) Seed(records []jobs.Record) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range records { // oldest first
		switch r.Status {
		case jobs.StatusSuccess:
			a.failing[r.Job] = false
		case jobs.StatusFailed, jobs.StatusAbandoned:
			a.failing[r.Job] = true
		}
	}
}

// RunFinished sends a failure alert when a job's run fails for good (no
// retry follows) or is abandoned, once per streak of failures, and a
// recovery alert at the first success that ends the streak.
func (a *Alerter) RunFinished(r jobs.Record, retry bool) {
	if retry {
		return
	}
	a.mu.Lock()
	wasFailing := a.failing[r.Job]
	ev := Event{At: a.now().UTC(), Job: r.Job, RunID: r.ID, LogicalDate: r.LogicalDate, Attempt: r.Attempt, Status: r.Status, Error: r.Error}
	send := false
	switch r.Status {
	case jobs.StatusFailed, jobs.StatusAbandoned:
		a.failing[r.Job] = true
		ev.Kind, send = KindFailure, !wasFailing
		ev.Text = fmt.Sprintf("custmart: job %s %s for %s (attempt %d, run %s): %s", r.Job, r.Status, r.LogicalDate, r.Attempt, r.ID, r.Error)
	case jobs.StatusSuccess:
		a.failing[r.Job] = false
		if wasFailing {
			ev.Kind, send = KindRecovery, true
			ev.Text = fmt.Sprintf("custmart: job %s recovered: run %s for %s succeeded", r.Job, r.ID, r.LogicalDate)
		}
	}
	a.mu.Unlock()
	if send {
		a.enqueue(ev)
	}
}

// CheckFreshness sends a stale alert when the current published version is
// older than the freshness limit: once per stale version, not at every check.
func (a *Alerter) CheckFreshness() {
	version, _, err := publish.Current(a.layout)
	if errors.Is(err, publish.ErrNothingPublished) {
		return
	}
	if err != nil {
		a.logger.Warn("freshness check: cannot read the current version", "err", err)
		return
	}
	info, err := publish.ReadInfo(a.layout, version)
	if err != nil {
		a.logger.Warn("freshness check: cannot read the version info", "version", version, "err", err)
		return
	}
	now := a.now().UTC()
	age := now.Sub(info.PublishedAt)
	a.mu.Lock()
	if age <= a.freshness {
		a.stale = ""
		a.mu.Unlock()
		return
	}
	if a.stale == version {
		a.mu.Unlock()
		return
	}
	a.stale = version
	a.mu.Unlock()
	marts := make([]string, 0, len(info.Marts))
	for m := range info.Marts {
		marts = append(marts, m)
	}
	slices.Sort(marts)
	a.enqueue(Event{
		Kind: KindStale, At: now, Version: version, Marts: marts, PublishedAt: info.PublishedAt,
		AgeSeconds: age.Seconds(), FreshnessSeconds: a.freshness.Seconds(),
		Text: fmt.Sprintf("custmart: marts are stale: version %s was published %s ago, more than the freshness limit of %s",
			version, age.Round(time.Second), a.freshness),
	})
}

func (a *Alerter) enqueue(ev Event) {
	a.logger.Warn("alert", "kind", ev.Kind, "text", ev.Text)
	if a.url == "" {
		return
	}
	select {
	case a.queue <- ev:
	default:
		a.logger.Error("alert dropped: the webhook is not keeping up", "kind", ev.Kind)
	}
}

func (a *Alerter) deliver() {
	defer close(a.done)
	for ev := range a.queue {
		if err := a.post(ev); err != nil {
			a.logger.Error("alert not delivered", "kind", ev.Kind, "webhook", a.url, "err", err)
		}
	}
}

// post sends one event, retrying twice on network errors and 5xx answers.
func (a *Alerter) post(ev Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	var lastErr error
	for attempt := range 3 {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * time.Second)
		}
		resp, err := a.client.Post(a.url, "application/json", bytes.NewReader(body))
		if err != nil {
			lastErr = err
			continue
		}
		resp.Body.Close()
		switch {
		case resp.StatusCode < 300:
			return nil
		case resp.StatusCode >= 500:
			lastErr = fmt.Errorf("webhook answered %s", resp.Status)
		default:
			return fmt.Errorf("webhook answered %s; check alerts.webhook", resp.Status)
		}
	}
	return lastErr
}

// Close delivers the queued alerts, waiting at most until ctx is done.
func (a *Alerter) Close(ctx context.Context) error {
	close(a.queue)
	select {
	case <-a.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("alerts: %d not delivered before shutdown", len(a.queue))
	}
}
