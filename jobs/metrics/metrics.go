// Package metrics exposes the scheduler's runs in Prometheus format and
// serves the daemon's HTTP endpoints: /metrics, /healthz and /runs.
package metrics

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/custmart/custmart/jobs"
	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/publish"
)

// Metrics are the scheduler's Prometheus metrics, in their own registry.
type Metrics struct {
	Registry    *prometheus.Registry
	runs        *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	ingested    *prometheus.CounterVec
	quarantined *prometheus.CounterVec
	lastSuccess *prometheus.GaugeVec
}

// New creates the metrics of a data directory; the age of the published
// marts is read from the current version at each scrape.
func New(l warehouse.Layout, now func() time.Time) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "custmart_runs_total", Help: "Run attempts finished, by job and status.",
		}, []string{"job", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "custmart_run_duration_seconds", Help: "Wall time of finished run attempts.",
			Buckets: prometheus.ExponentialBuckets(0.25, 2, 16), // 0.25 s to about 2.3 h
		}, []string{"job"}),
		ingested: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "custmart_rows_ingested_total", Help: "Rows loaded into the lake by ingest steps.",
		}, []string{"job"}),
		quarantined: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "custmart_rows_quarantined_total", Help: "Rows rejected into the quarantine by ingest steps.",
		}, []string{"job"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "custmart_last_success_timestamp_seconds", Help: "Unix time the job's last successful run finished.",
		}, []string{"job"}),
	}
	m.Registry.MustRegister(m.runs, m.duration, m.ingested, m.quarantined, m.lastSuccess,
		&martAge{layout: l, now: now}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Seed sets the last success per job from the history, so the gauge
// survives a restart.
func (m *Metrics) Seed(records []jobs.Record) {
	for _, r := range records {
		if r.Status == jobs.StatusSuccess && r.FinishedAt != nil {
			m.lastSuccess.WithLabelValues(r.Job).Set(float64(r.FinishedAt.UnixMilli()) / 1000)
		}
	}
}

// Observe counts a finished run attempt.
func (m *Metrics) Observe(r jobs.Record) {
	m.runs.WithLabelValues(r.Job, r.Status).Inc()
	if r.FinishedAt != nil {
		m.duration.WithLabelValues(r.Job).Observe(r.FinishedAt.Sub(r.StartedAt).Seconds())
	}
	m.ingested.WithLabelValues(r.Job).Add(float64(r.RowsOut))
	m.quarantined.WithLabelValues(r.Job).Add(float64(r.RowsQuarantined))
	if r.Status == jobs.StatusSuccess && r.FinishedAt != nil {
		m.lastSuccess.WithLabelValues(r.Job).Set(float64(r.FinishedAt.UnixMilli()) / 1000)
	}
}

var martAgeDesc = prometheus.NewDesc("custmart_mart_age_seconds",
	"Seconds since the current published version of the mart was published.", []string{"mart", "version"}, nil)

// martAge reports the age of every mart of the current published version.
type martAge struct {
	layout warehouse.Layout
	now    func() time.Time
}

func (c *martAge) Describe(ch chan<- *prometheus.Desc) { ch <- martAgeDesc }

func (c *martAge) Collect(ch chan<- prometheus.Metric) {
	version, _, err := publish.Current(c.layout)
	if err != nil {
		return // nothing published yet: no series
	}
	info, err := publish.ReadInfo(c.layout, version)
	if err != nil {
		return
	}
	age := c.now().Sub(info.PublishedAt).Seconds()
	for mart := range info.Marts {
		ch <- prometheus.MustNewConstMetric(martAgeDesc, prometheus.GaugeValue, age, mart, version)
	}
}

// Server is the daemon's HTTP interface.
type Server struct {
	Metrics *Metrics
	History *jobs.History
	// stopping turns /healthz to 503 once shutdown has begun.
	stopping atomic.Bool
}

// Stopping marks the daemon as shutting down.
func (s *Server) Stopping() { s.stopping.Store(true) }

// Handler serves /metrics, /healthz and /runs.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.Metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		status, code := "ok", http.StatusOK
		if s.stopping.Load() {
			status, code = "stopping", http.StatusServiceUnavailable
		}
		writeJSON(w, code, map[string]string{"status": status})
	})
	mux.HandleFunc("GET /runs", s.runs)
	return mux
}

// runs lists run records, newest first: ?job=, ?status=, ?since= (a date,
// an RFC 3339 time, or a duration such as 24h or 7d), ?limit= (default 100).
func (s *Server) runs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := jobs.Filter{Job: q.Get("job"), Status: q.Get("status")}
	if v := q.Get("since"); v != "" {
		t, err := ParseSince(v, time.Now())
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		f.Since = t
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "limit must be a positive number"})
			return
		}
		limit = n
	}
	records, err := s.History.List(f)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	out := make([]jobs.Record, 0, min(limit, len(records)))
	for i := len(records) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, records[i])
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// ParseSince reads a lower time bound: a date (YYYY-MM-DD, UTC), an RFC 3339
// time, or a duration back from now (90m, 24h, 7d).
func ParseSince(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, errors.New("since " + strconv.Quote(v) + " is not a date (2025-01-31), a time (2025-01-31T08:00:00Z) or a duration (24h, 7d)")
}
