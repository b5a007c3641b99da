package jobs

import (
	"fmt"
	"testing"
	"time"

	"github.com/custmart/custmart/warehouse"
)

func TestPruneKeepsNewestRunningAndEachJobsLatest(t *testing.T) {
	t.Parallel()
	h := NewHistory(warehouse.NewLayout(t.TempDir()))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	save := func(i int, job, status string) Record {
		r := Record{ID: fmt.Sprintf("%s-%03d-%s", start.Format("20060102"), i, job), Job: job, Status: status, StartedAt: start.Add(time.Duration(i) * time.Minute)}
		if err := h.Save(r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	rare := save(0, "monthly", StatusSuccess) // the only run of its job: always kept
	stuck := save(1, "hourly", StatusRunning) // running: never deleted
	for i := 2; i < 20; i++ {
		save(i, "hourly", StatusSuccess)
	}
	deleted, err := h.Prune(5)
	if err != nil {
		t.Fatal(err)
	}
	left, err := h.List(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if deleted != 13 || len(left) != 7 {
		t.Fatalf("deleted %d, %d left; want 13 deleted and 5 newest + 2 kept", deleted, len(left))
	}
	if left[0].ID != rare.ID || left[1].ID != stuck.ID || left[6].ID != fmt.Sprintf("%s-019-hourly", start.Format("20060102")) {
		t.Fatalf("left %v", ids(left))
	}
	if again, err := h.Prune(5); err != nil || again != 0 {
		t.Fatalf("a second prune deleted %d (%v)", again, err)
	}
}

func ids(rs []Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}
