package alert

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/custmart/custmart/jobs"
	"github.com/custmart/custmart/warehouse"
)

func TestFailureOncePerStreakThenRecovery(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []Event
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			w.WriteHeader(http.StatusBadGateway) // delivery is retried
			return
		}
		var ev Event
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			t.Error(err)
		}
		got = append(got, ev)
	}))
	defer srv.Close()
	a := New(srv.URL, 5*time.Second, warehouse.NewLayout(t.TempDir()), time.Hour, slog.New(slog.DiscardHandler))
	// The history says marts already failed: its next failure is the same streak.
	a.Seed([]jobs.Record{{Job: "ingest", Status: jobs.StatusSuccess}, {Job: "marts", Status: jobs.StatusFailed}})
	rec := func(job, status string) jobs.Record {
		return jobs.Record{ID: "r-" + job + "-" + status, Job: job, LogicalDate: "2025-03-10", Attempt: 1, Status: status, Error: "boom"}
	}
	a.RunFinished(rec("ingest", jobs.StatusFailed), true) // a retry follows: no alert
	a.RunFinished(rec("ingest", jobs.StatusFailed), false)
	a.RunFinished(rec("ingest", jobs.StatusFailed), false)
	a.RunFinished(rec("marts", jobs.StatusFailed), false)
	a.RunFinished(rec("ingest", jobs.StatusCanceled), false)
	a.RunFinished(rec("ingest", jobs.StatusSuccess), false)
	a.RunFinished(rec("ingest", jobs.StatusSuccess), false)
	a.RunFinished(rec("marts", jobs.StatusSuccess), false)
	a.RunFinished(rec("ingest", jobs.StatusAbandoned), false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range got {
		kinds = append(kinds, e.Kind+":"+e.Job+":"+e.Status)
	}
	want := []string{"failure:ingest:failed", "recovery:ingest:success", "recovery:marts:success", "failure:ingest:abandoned"}
	if len(kinds) != len(want) {
		t.Fatalf("alerts %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("alerts %v, want %v", kinds, want)
		}
	}
	if got[0].Text == "" || got[0].Error != "boom" || got[0].RunID != "r-ingest-failed" {
		t.Fatalf("failure event: %+v", got[0])
	}
}
