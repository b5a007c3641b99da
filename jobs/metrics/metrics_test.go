package metrics

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/custmart/custmart/jobs"
	"github.com/custmart/custmart/warehouse"
)

func TestParseSince(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2025-03-01":           time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC),
		"2025-03-01T08:30:00Z": time.Date(2025, 3, 1, 8, 30, 0, 0, time.UTC),
		"90m":                  now.Add(-90 * time.Minute),
		"7d":                   now.AddDate(0, 0, -7),
	} {
		if got, err := ParseSince(in, now); err != nil || !got.Equal(want) {
			t.Errorf("%s: %s %v, want %s", in, got, err, want)
		}
	}
	if _, err := ParseSince("yesterday", now); err == nil {
		t.Error("accepted yesterday")
	}
}

func TestServerListsRunsAndCountsThem(t *testing.T) {
	t.Parallel()
	l := warehouse.NewLayout(t.TempDir())
	h := jobs.NewHistory(l)
	m := New(l, time.Now)
	base := time.Now().UTC().Add(-time.Hour)
	for i, st := range []string{jobs.StatusFailed, jobs.StatusSuccess, jobs.StatusSuccess} {
		start := base.Add(time.Duration(i) * time.Minute)
		end := start.Add(1500 * time.Millisecond)
		r := jobs.NewRecord("ingest", "2025-03-10", start, time.Time{})
		r.Attempt, r.Status, r.FinishedAt, r.RowsOut, r.RowsQuarantined = 1, st, &end, 10, 2
		if err := h.Save(r); err != nil {
			t.Fatal(err)
		}
		m.Observe(r)
	}
	srv := httptest.NewServer((&Server{Metrics: m, History: h}).Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/runs?status=success&limit=1")
	var rs []jobs.Record
	if err := json.Unmarshal([]byte(body), &rs); code != 200 || err != nil || len(rs) != 1 || !rs[0].StartedAt.Equal(base.Add(2*time.Minute)) {
		t.Fatalf("/runs: %d %s", code, body)
	}
	if code, _ := get("/runs?since=soon"); code != 400 {
		t.Fatalf("bad since: %d", code)
	}
	_, body = get("/metrics")
	for _, line := range []string{
		`custmart_runs_total{job="ingest",status="failed"} 1`,
		`custmart_runs_total{job="ingest",status="success"} 2`,
		`custmart_rows_ingested_total{job="ingest"} 30`,
		`custmart_rows_quarantined_total{job="ingest"} 6`,
		`custmart_run_duration_seconds_bucket{job="ingest",le="1"} 0`,
		`custmart_run_duration_seconds_bucket{job="ingest",le="2"} 3`,
	} {
		if !strings.Contains(body, line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	if strings.Contains(body, "custmart_mart_age_seconds{") {
		t.Error("mart age reported with nothing published")
	}
}
