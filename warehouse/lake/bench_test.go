package lake_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/custmart/custmart/fixtures"
	"github.com/custmart/custmart/jobs/config"
	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/lake"
)

const benchEnv = "CUSTMART_LAKE_BENCH_CHILD"

// benchInput generates fixture transactions once per size (about ten lines
// per customer): the day files, and the same lines as one CSV file. The
// size comes from CUSTMART_BENCH_CUSTOMERS (default 1,000,000: about 10
// million lines, as in the benchmark).
func benchInput(b *testing.B) (days, file string, lines int64) {
	b.Helper()
	customers := 1_000_000
	if v := os.Getenv("CUSTMART_BENCH_CUSTOMERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("CUSTMART_BENCH_CUSTOMERS: %v", err)
		}
		customers = n
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("custmart-bench-%d", customers))
	days, file = filepath.Join(dir, "days"), filepath.Join(dir, "all.csv")
	if raw, err := os.ReadFile(filepath.Join(dir, "lines")); err == nil {
		lines, _ = strconv.ParseInt(string(raw), 10, 64)
		return days, file, lines
	}
	os.RemoveAll(dir)
	sum, err := fixtures.Generate(context.Background(), fixtures.Options{Customers: customers, Out: days})
	if err != nil {
		b.Fatal(err)
	}
	must(b, os.Remove(sum.Truth))
	if err := concatDays(days, file); err != nil {
		b.Fatal(err)
	}
	must(b, os.WriteFile(filepath.Join(dir, "lines"), []byte(strconv.FormatInt(sum.Lines, 10)), 0o644))
	return days, file, sum.Lines
}

// concatDays writes the day files as one CSV with one header line.
func concatDays(days, file string) error {
	names, err := filepath.Glob(filepath.Join(days, "*.csv"))
	if err != nil {
		return err
	}
	out, err := os.Create(file)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(out, 1<<20)
	for i, name := range names {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		r := bufio.NewReader(f)
		header, err := r.ReadString('\n')
		if err != nil {
			f.Close()
			return err
		}
		if i == 0 {
			w.WriteString(header)
		}
		if _, err := io.Copy(w, r); err != nil {
			f.Close()
			return err
		}
		f.Close()
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return out.Close()
}

// BenchmarkIngest ingests fixture transactions with validation on, next to
// a bare DuckDB COPY of the same input to Parquet, each in a child process
// so that its peak RSS is its own. It reports rows/s and peak RSS; the
// target is custmart at 80% or more of the bare throughput and under 1.5 GiB.
//
//	go test -run '^$' -bench Ingest -benchtime 1x ./warehouse/lake/
func BenchmarkIngest(b *testing.B) {
	days, file, lines := benchInput(b)
	for _, input := range []struct{ name, path string }{{"one-file", file}, {"day-files", filepath.Join(days, "*.csv")}} {
		for _, mode := range []string{"bare-copy", "custmart"} {
			b.Run(input.name+"/"+mode, func(b *testing.B) {
				var elapsed time.Duration
				var peak int64
				for range b.N {
					d, rss := benchChild(b, mode, input.path, lines)
					elapsed += d
					peak = max(peak, rss)
				}
				b.ReportMetric(float64(lines)*float64(b.N)/elapsed.Seconds(), "rows/s")
				b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
			})
		}
	}
}

// benchChild runs one bare copy or ingest in a child process and returns
// its duration and peak RSS in bytes.
func benchChild(b *testing.B, mode, path string, lines int64) (time.Duration, int64) {
	b.Helper()
	out := b.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchChild$")
	cmd.Env = append(os.Environ(), benchEnv+"="+strings.Join([]string{mode, path, out, strconv.FormatInt(lines, 10)}, "|"))
	cmd.Stderr = os.Stderr
	start := time.Now()
	output, err := cmd.Output()
	elapsed := time.Since(start)
	if err != nil || !strings.Contains(string(output), "BENCH OK") {
		b.Fatalf("%s: %v\n%s", mode, err, output)
	}
	return elapsed, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024
}

// TestBenchChild is the child process of BenchmarkIngest.
func TestBenchChild(t *testing.T) {
	spec := os.Getenv(benchEnv)
	if spec == "" {
		t.Skip("run by BenchmarkIngest")
	}
	parts := strings.Split(spec, "|")
	mode, path, out := parts[0], parts[1], parts[2]
	lines, _ := strconv.ParseInt(parts[3], 10, 64)
	ctx := context.Background()
	switch mode {
	case "bare-copy":
		db, err := sql.Open("duckdb", "")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int64
		err = db.QueryRowContext(ctx, fmt.Sprintf("COPY (SELECT * FROM read_csv(%s)) TO %s (FORMAT parquet)",
			warehouse.Quote(path), warehouse.Quote(filepath.Join(out, "bare.parquet")))).Scan(&n)
		if err != nil || n != lines {
			t.Fatalf("copied %d rows of %d: %v", n, lines, err)
		}
	case "custmart":
		src := config.Default(out).Sources[0].Lake()
		src.Path = path
		in := &lake.Ingester{Layout: warehouse.NewLayout(filepath.Join(out, "data")), AsOf: fixtures.DefaultEnd()}
		report, err := in.Ingest(ctx, []lake.Source{src})
		if err != nil {
			t.Fatal(err)
		}
		if _, loaded, _, _ := report.Totals(); loaded != lines {
			t.Fatalf("loaded %d rows of %d", loaded, lines)
		}
	}
	fmt.Println("BENCH OK")
}
