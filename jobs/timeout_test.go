package jobs_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custmart/custmart/fixtures"
	"github.com/custmart/custmart/jobs"
	"github.com/custmart/custmart/jobs/config"
	"github.com/custmart/custmart/warehouse"
)

// A run past its deadline is a failure (retried and alerted by the
// scheduler), recorded as such, and leaves nothing half-written.
func TestTimeoutFailsTheRunAndWritesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := fixtures.Generate(context.Background(), fixtures.Options{Customers: 50, Out: filepath.Join(dir, "inbox"), Seed: 1, Days: 30}); err != nil {
		t.Fatal(err)
	}
	l := warehouse.NewLayout(dir)
	p := &jobs.Pipeline{Config: config.Default(dir), Layout: l}
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	out, err := p.Run(ctx, jobs.Options{Job: "ingest", Steps: []string{"ingest"}, AsOf: time.Date(2024, 1, 30, 0, 0, 0, 0, time.UTC)})
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err %v", err)
	}
	rec, gerr := jobs.NewHistory(l).Get(out.Record.ID)
	if gerr != nil || rec.Status != jobs.StatusFailed || !strings.Contains(rec.Error, "timed out") || rec.FinishedAt == nil {
		t.Fatalf("record %+v (%v)", rec, gerr)
	}
	if files, _ := filepath.Glob(l.TransactionsGlob()); len(files) != 0 {
		t.Fatalf("a timed-out ingest left lake files: %v", files)
	}
	if staged, _ := os.ReadDir(l.Staging()); len(staged) != 0 {
		t.Fatalf("staged batches left: %v", staged)
	}
}
