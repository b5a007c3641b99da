package lake_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An unmounted drop folder must not pass as "no new files" for ever.
func TestGlobOfAMissingFolderFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := e.ingest(e.shopSource(filepath.Join(e.dir, "missing-dir", "*.csv"), ""))
	if err == nil || !strings.Contains(err.Error(), "source shop: the folder "+filepath.Join(e.dir, "missing-dir")+" of the glob") {
		t.Fatalf("want an error naming the source and folder, got %v", err)
	}
	// An existing folder with nothing new stays a quiet success.
	if err := os.MkdirAll(filepath.Join(e.dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	report, err := e.ingest(e.shopSource(filepath.Join(e.dir, "empty", "*.csv"), ""))
	if err != nil || len(report.Files) != 0 {
		t.Fatalf("empty folder: %v %+v", err, report)
	}
}

// A folder named like a CSV and a symlink loop are skipped, each with why,
// and the real files still load.
func TestPathsThatAreNotFilesAreSkippedWithAReason(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	path := e.write("a.csv", []byte("transaction_id,order_id,customer_id,ts,amount,quantity,unit_price,currency\nT1,O1,K1,2024-01-05 10:00:00,5.00,1,5.00,EUR\n"))
	dir := filepath.Dir(path)
	if err := os.Mkdir(filepath.Join(dir, "folder.csv"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "loop.csv"), filepath.Join(dir, "loop.csv")); err != nil {
		t.Fatal(err)
	}
	report := e.mustIngest(e.shopSource(filepath.Join(dir, "*.csv"), ""))
	got := strings.Join(report.Skipped, "\n")
	if len(report.Skipped) != 2 || !strings.Contains(got, "folder.csv: a directory, not a file") || !strings.Contains(got, "loop.csv: a symlink loop") {
		t.Errorf("skipped %q", report.Skipped)
	}
	if f := fileResult(t, report, "a.csv"); f.RowsLoaded != 1 {
		t.Errorf("a.csv: %+v", f)
	}
}

// Many refused files give one line per reason, not a wall of messages.
func TestManyFailuresAreSummarisedByReason(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var dir string
	for i := range 8 {
		dir = filepath.Dir(e.write(fmt.Sprintf("day%d.csv", i), []byte("transaction_id,order_id,customer_id,ts,amount,quantity,unit_price,currency\n"+
			fmt.Sprintf("T%d,O%d,,2024-01-05 10:00:00,5.00,1,5.00,EUR\n", i, i)+
			fmt.Sprintf("U%d,P%d,K1,2024-01-05 10:00:00,5.00,1,5.00,EUR\n", i, i))))
	}
	_, err := e.ingest(e.shopSource(dir, ""))
	if err == nil {
		t.Fatal("want a failure")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "8 files mostly missing_customer_id (8 such rows); for example: ") || !strings.Contains(lines[2], "ingest_log") {
		t.Errorf("summary:\n%s", err)
	}
}
