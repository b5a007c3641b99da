package lake_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/lake"
)

const crashEnv = "CUSTMART_LAKE_CRASH_CHILD"

// crashSource is the source the crash test and its child ingest.
func crashSource(inbox string) lake.Source {
	return lake.Source{Name: "crash", Path: inbox, Format: "csv", Compression: "auto",
		CSV: lake.CSV{Delimiter: ",", Header: true, Quote: `"`}, OnChangedFile: "replace",
		MaxQuarantineShare: 0.05, FutureTolerance: 24 * time.Hour, NotBefore: "2020-01-01",
		Columns: map[string]string{"transaction_id": "id", "customer_id": "customer", "ts": "ts", "amount": "amount"}}
}

func crashIngester(data string) *lake.Ingester {
	return &lake.Ingester{Layout: warehouse.NewLayout(data), AsOf: time.Date(2024, 3, 31, 0, 0, 0, 0, time.UTC), Workers: 2}
}

// TestCrashChild is the child process of TestCrashSafety: one ingest, with
// debug logs on stdout so that the parent can aim its kills.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("run by TestCrashSafety")
	}
	in := crashIngester(filepath.Join(dir, "data"))
	in.Logger = slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if _, err := in.Ingest(context.Background(), []lake.Source{crashSource(filepath.Join(dir, "in"))}); err != nil {
		t.Fatal(err)
	}
	fmt.Println("INGEST DONE")
}

// crashFile writes n rows spread over 40 days, a few of them invalid, and
// returns the count and total (in cents) of the valid ones.
func crashFile(t *testing.T, path, prefix string, n int, cents int64) (int64, int64) {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("id,customer,ts,amount\n")
	var rows, total int64
	for i := range n {
		amount := cents + int64(i%997)
		if i%100 == 99 {
			fmt.Fprintf(&b, "%s%d,K%d,not a time,%d.%02d\n", prefix, i, i%50, amount/100, amount%100)
			continue
		}
		fmt.Fprintf(&b, "%s%d,K%d,2024-02-%02d %02d:00:00,%d.%02d\n", prefix, i, i%50, 1+i%28, i%24, amount/100, amount%100)
		rows++
		total += amount
	}
	must(t, os.WriteFile(path, b.Bytes(), 0o644))
	return rows, total
}

type lakeState struct {
	rows, distinct int64
	total          string
}

func measure(t *testing.T, data string) lakeState {
	t.Helper()
	l := warehouse.NewLayout(data)
	files, _ := filepath.Glob(l.TransactionsGlob())
	if len(files) == 0 {
		return lakeState{total: "0"}
	}
	db := (&env{t: t}).db()
	var s lakeState
	err := db.QueryRow("SELECT count(*), count(DISTINCT transaction_id), coalesce(sum(amount), 0)::VARCHAR FROM read_parquet("+
		warehouse.Quote(l.TransactionsGlob())+")").Scan(&s.rows, &s.distinct, &s.total)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	must(t, os.RemoveAll(to))
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		target := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		return copyFile(path, target, 0o644)
	})
	must(t, err)
}

// TestCrashSafety kills a real ingest (a child process) with SIGKILL at
// random moments, some of them aimed at the commit, and checks that the lake
// is then as it was before the ingest or as it is after it, never in
// between, and that running the ingest again leaves every row in the lake
// exactly once. The ingest adds files and replaces a changed one, so that
// committing moves new files in and deletes replaced ones.
func TestCrashSafety(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("kills child processes")
	}
	dir := t.TempDir()
	inbox, data, base := filepath.Join(dir, "in"), filepath.Join(dir, "data"), filepath.Join(dir, "base")
	must(t, os.MkdirAll(inbox, 0o755))
	type file struct{ rows, cents int64 }
	files := map[string]file{}
	add := func(name, prefix string, n int, cents int64) {
		r, c := crashFile(t, filepath.Join(inbox, name), prefix, n, cents)
		files[name] = file{r, c}
	}
	total := func() lakeState {
		var s lakeState
		var cents int64
		for _, f := range files {
			s.rows += f.rows
			cents += f.cents
		}
		s.distinct, s.total = s.rows, fmt.Sprintf("%d.%02d", cents/100, cents%100)
		return s
	}
	add("a.csv", "A", 3000, 1000)
	add("b.csv", "B", 3000, 2000)
	if _, err := crashIngester(data).Ingest(context.Background(), []lake.Source{crashSource(inbox)}); err != nil {
		t.Fatal(err)
	}
	before := measure(t, data)
	if before != total() {
		t.Fatalf("initial lake %+v, want %+v", before, total())
	}
	copyTree(t, data, base)
	add("a.csv", "A", 2500, 5000) // changed: replaces its rows
	add("c.csv", "C", 4000, 3000)
	add("d.csv", "D", 4000, 4000)
	add("e.csv", "E", 2000, 6000)
	after := total()

	// A run to the end measures how long an ingest takes.
	start := time.Now()
	child(t, dir, nil)
	full := time.Since(start)
	if got := measure(t, data); got != after {
		t.Fatalf("uninterrupted ingest: lake %+v, want %+v", got, after)
	}
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	outcomes := map[string]int{}
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; i < 8 && time.Now().Before(deadline); i++ {
		copyTree(t, base, data)
		var kill killPlan
		if i%2 == 0 {
			kill = killPlan{after: time.Duration(r.Int64N(int64(full)))}
		} else {
			// Aim at the commit: the batch is staged, the record and the moves follow.
			kill = killPlan{marker: `msg=staged`, after: time.Duration(r.Int64N(int64(30 * time.Millisecond)))}
		}
		killed := child(t, dir, &kill)
		if rollForward(t, data) {
			outcomes["committed, moves unfinished"]++
		}
		if err := lake.Recover(warehouse.NewLayout(data)); err != nil {
			t.Fatalf("iteration %d: recover: %v", i, err)
		}
		got := measure(t, data)
		switch got {
		case before:
			outcomes["before"]++
		case after:
			outcomes["after"]++
		default:
			t.Fatalf("iteration %d (%s): lake %+v is neither the state before %+v nor after %+v", i, kill, got, before, after)
		}
		if entries, _ := os.ReadDir(warehouse.NewLayout(data).Staging()); len(entries) > 0 {
			t.Errorf("iteration %d: staging not cleaned after recovery: %v", i, entries)
		}
		if !killed {
			outcomes["finished"]++
		}
		// Running again completes the ingest: every row exactly once.
		if _, err := crashIngester(data).Ingest(context.Background(), []lake.Source{crashSource(inbox)}); err != nil {
			t.Fatalf("iteration %d: re-run: %v", i, err)
		}
		if got := measure(t, data); got != after {
			t.Fatalf("iteration %d (%s): after re-running, lake %+v, want %+v", i, kill, got, after)
		}
	}
	t.Logf("uninterrupted ingest %v; lake after kill and recovery: %v", full, outcomes)
}

// rollForward reports whether a batch was killed after its commit and
// before all its files were moved: staged, with its manifest record.
func rollForward(t *testing.T, data string) bool {
	l := warehouse.NewLayout(data)
	entries, _ := os.ReadDir(l.Staging())
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(l.Manifest(), e.Name()+".json")); err == nil {
			return true
		}
	}
	return false
}

type killPlan struct {
	marker string        // kill this long after the child logs a line containing marker
	after  time.Duration // or this long after the start
}

func (k killPlan) String() string {
	if k.marker != "" {
		return fmt.Sprintf("kill %v after %q", k.after, k.marker)
	}
	return fmt.Sprintf("kill after %v", k.after)
}

// child runs one ingest in a child process and kills it as planned (nil:
// let it finish). It reports whether the kill came before the child ended.
func child(t *testing.T, dir string, plan *killPlan) bool {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	lines := make(chan string)
	go func() {
		defer close(lines)
		s := bufio.NewScanner(out)
		for s.Scan() {
			lines <- s.Text()
		}
	}()
	var timer <-chan time.Time
	if plan != nil && plan.marker == "" {
		timer = time.After(plan.after)
	}
	killed := false
	for done := false; !done; {
		select {
		case line, ok := <-lines:
			if !ok {
				done = true
				break
			}
			log.WriteString(line + "\n")
			if plan != nil && plan.marker != "" && strings.Contains(line, plan.marker) {
				timer = time.After(plan.after)
			}
		case <-timer:
			killed = cmd.Process.Signal(syscall.SIGKILL) == nil
			timer = nil
		}
	}
	err = cmd.Wait()
	if plan == nil && err != nil {
		t.Fatalf("child ingest: %v\n%s%s", err, log.String(), stderr.String())
	}
	return killed && !strings.Contains(log.String(), "INGEST DONE")
}
