package bench

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestMeasureServe runs the serve benchmark over a data directory with
// published marts, against `custmart serve` and a PostgreSQL 15 cluster.
// It needs the custmart binary and such a directory, so it runs only when
// told where they are:
//
//	CUSTMART_BENCH_BINARY=/tmp/cm-bin CUSTMART_BENCH_SERVE_DATA=/tmp/sb/data go test -run TestMeasureServe ./jobs/bench/
func TestMeasureServe(t *testing.T) {
	t.Parallel()
	binary, data := os.Getenv("CUSTMART_BENCH_BINARY"), os.Getenv("CUSTMART_BENCH_SERVE_DATA")
	if binary == "" || data == "" {
		t.Skip("set CUSTMART_BENCH_BINARY and CUSTMART_BENCH_SERVE_DATA to run the serve benchmark")
	}
	config := filepath.Join(data, "custmart.yaml")
	if _, err := os.Stat(config); err != nil {
		config = ""
	}
	var log strings.Builder
	work := t.TempDir()
	res, err := MeasureServe(context.Background(), ServeTarget{Binary: binary, Config: config, DataDir: data, Work: work, Log: &log})
	t.Log(log.String())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range res {
		got = append(got, r.Query+"/"+r.Server)
		if r.Queries == 0 || r.P50MS <= 0 || r.P99MS < r.P50MS || r.QPS <= 0 {
			t.Errorf("%s on %s with %d clients was not measured: %+v", r.Query, r.Server, r.Clients, r)
		}
	}
	for _, want := range []string{"lookup/custmart", "lookup/postgres", "segment aggregate/custmart", "segment aggregate/postgres"} {
		if n := len(slices.DeleteFunc(slices.Clone(got), func(s string) bool { return s != want })); n != 2 {
			t.Errorf("want %s with 1 and 8 clients, got %d rows in %v", want, n, got)
		}
	}
	var b strings.Builder
	printServe(&b, res)
	t.Log(b.String())
	// Both servers are gone and their scratch files with them.
	left, _ := filepath.Glob(filepath.Join(work, "*"))
	if slices.ContainsFunc(left, func(p string) bool { return !strings.HasSuffix(p, ".log") }) {
		t.Errorf("the benchmark left %v in its work directory", left)
	}
}

func TestPostgresType(t *testing.T) {
	t.Parallel()
	for duck, want := range map[string]string{
		"VARCHAR": "text", "DECIMAL(18,2)": "numeric(18,2)", "DOUBLE": "double precision",
		"BIGINT": "bigint", "DATE": "date", "BOOLEAN": "boolean",
	} {
		if got, err := postgresType(duck); err != nil || got != want {
			t.Errorf("postgresType(%s) = %q, %v; want %q", duck, got, err, want)
		}
	}
	if _, err := postgresType("STRUCT(a INTEGER)"); err == nil {
		t.Error("a STRUCT column should be refused, not loaded as something else")
	}
}
