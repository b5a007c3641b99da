package publish_test

import (
	"context"
	"database/sql"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/custmart/custmart/jobs/config"
	models "github.com/custmart/custmart/sql"
	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/publish"
	"github.com/custmart/custmart/warehouse/transform"
)

// tinyModels is a two-model warehouse: a keyed mart, built in reverse key
// order so that publish has to order it, and an internal table.
func tinyModels(t *testing.T, rows int) []models.Model {
	t.Helper()
	mart, err := models.Parse("customers.sql", `-- model: customers
-- key: customer_id
-- publish: true
-- check: unique customer_id
SELECT 'C' || lpad(i::VARCHAR, 4, '0') AS customer_id, i * 1.5 AS value FROM range(`+itoa(rows)+`) r(i) ORDER BY i DESC`)
	if err != nil {
		t.Fatal(err)
	}
	internal, err := models.Parse("scratch.sql", "-- model: scratch\nSELECT 1 AS x")
	if err != nil {
		t.Fatal(err)
	}
	return []models.Model{mart, internal}
}

func itoa(n int) string { return strconv.Itoa(n) }

func build(t *testing.T, l warehouse.Layout, ms []models.Model) error {
	t.Helper()
	r := &transform.Runner{Layout: l, Params: config.Default(l.Root).Model.Params(), AsOf: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), Models: ms}
	_, err := r.Run(context.Background())
	return err
}

func count(t *testing.T, dbPath string) int64 {
	t.Helper()
	db, err := sql.Open("duckdb", dbPath+"?access_mode=read_only")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int64
	if err := db.QueryRow("SELECT count(*) FROM customers").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPublishSwitchesVersionsAtomicallyAndPrunes(t *testing.T) {
	t.Parallel()
	l := warehouse.NewLayout(t.TempDir())
	if _, _, err := publish.Current(l); err != publish.ErrNothingPublished {
		t.Fatalf("before any publish: %v", err)
	}
	// The server's cached resolver follows every publish, however quick.
	cache := &publish.CurrentCache{Layout: l}
	if _, _, err := cache.Current(); err != publish.ErrNothingPublished {
		t.Fatalf("cached, before any publish: %v", err)
	}
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &publish.Publisher{Layout: l, Keep: 2, Now: func() time.Time { clock = clock.Add(time.Second); return clock }}
	var versions []string
	for i, rows := range []int{10, 20, 30} {
		if err := build(t, l, tinyModels(t, rows)); err != nil {
			t.Fatal(err)
		}
		info, err := p.Publish(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if info.Marts["customers"] != int64(rows) || len(info.Marts) != 1 {
			t.Fatalf("publish %d: marts %v, want customers=%d only (scratch is not published)", i, info.Marts, rows)
		}
		v, dbPath, err := publish.Current(l)
		if err != nil || v != info.Version || count(t, dbPath) != int64(rows) {
			t.Fatalf("current %s (%v), want %s with %d rows", v, err, info.Version, rows)
		}
		if cv, cPath, err := cache.Current(); err != nil || cv != v || cPath != dbPath {
			t.Fatalf("cached current %s %s (%v), want %s %s", cv, cPath, err, v, dbPath)
		}
		// The report is part of the version, listed in _version.json; a
		// version without the charts' marts says so instead of failing.
		onDisk, err := publish.ReadInfo(l, v)
		if err != nil || onDisk.Report != "report.html" {
			t.Fatalf("_version.json report %q (%v), want report.html", onDisk.Report, err)
		}
		if raw, err := os.ReadFile(filepath.Join(l.Version(v), onDisk.Report)); err != nil || !strings.Contains(string(raw), v) || !strings.Contains(string(raw), "This version has no tier_summary mart.") {
			t.Fatalf("version %s report (%v):\n%.300s", v, err, raw)
		}
		versions = append(versions, v)
	}
	kept, err := publish.Versions(l)
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) != 2 || kept[0] != versions[1] || kept[1] != versions[2] {
		t.Fatalf("kept %v, want the last two of %v", kept, versions)
	}
	// Transform keeps only its last staged build; the versions keep their
	// own links to earlier builds' files.
	if staged, err := os.ReadDir(l.Staged()); err != nil || len(staged) != 1 {
		t.Fatalf("staged builds %v (%v), want the last one alone", staged, err)
	}
	if n := count(t, filepath.Join(l.Version(versions[1]), warehouse.MartsDBName)); n != 20 {
		t.Fatalf("version %s has %d customers after later transforms, want its 20", versions[1], n)
	}
	// The Parquet copy holds the same rows, ordered by the key.
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int64
	var first string
	if err := db.QueryRow("SELECT count(*), first(customer_id) FROM read_parquet(?)", filepath.Join(l.Version(versions[2]), "customers.parquet")).Scan(&n, &first); err != nil || n != 30 || first != "C0000" {
		t.Fatalf("parquet: %d rows, first %s (%v)", n, first, err)
	}
	// The published DuckDB file holds the mart in key order, so row-group
	// statistics prune a lookup of one key.
	_, dbPath, _ := publish.Current(l)
	mdb, err := sql.Open("duckdb", dbPath+"?access_mode=read_only")
	if err != nil {
		t.Fatal(err)
	}
	defer mdb.Close()
	var outOfOrder int64
	if err := mdb.QueryRow(`SELECT count(*) FROM (SELECT customer_id < lag(customer_id) OVER (ORDER BY rowid) AS back FROM customers) WHERE back`).Scan(&outOfOrder); err != nil || outOfOrder != 0 {
		t.Fatalf("customers out of key order in marts.duckdb: %d rows (%v)", outOfOrder, err)
	}
}

func TestFailedTransformKeepsPreviousMartsLive(t *testing.T) {
	t.Parallel()
	l := warehouse.NewLayout(t.TempDir())
	p := &publish.Publisher{Layout: l, Keep: 3}
	if err := build(t, l, tinyModels(t, 10)); err != nil {
		t.Fatal(err)
	}
	first, err := p.Publish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	broken := tinyModels(t, 10)
	broken[0].SQL = "SELECT 'same' AS customer_id, 1 AS value FROM range(3)"
	if err := build(t, l, broken); err == nil {
		t.Fatal("a transform with duplicate keys passed its unique check")
	}
	if _, err := p.Publish(context.Background()); err == nil {
		t.Fatal("publish after a failed transform succeeded")
	}
	v, dbPath, err := publish.Current(l)
	if err != nil || v != first.Version || count(t, dbPath) != 10 {
		t.Fatalf("current is %s (%v), want the previous %s with 10 rows", v, err, first.Version)
	}
}

func TestCrashedPublishLeavesCurrentAndIsCleanedUp(t *testing.T) {
	t.Parallel()
	l := warehouse.NewLayout(t.TempDir())
	p := &publish.Publisher{Layout: l, Keep: 3}
	if err := build(t, l, tinyModels(t, 10)); err != nil {
		t.Fatal(err)
	}
	first, err := p.Publish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// A publish killed before its rename leaves a .tmp- directory behind.
	leftover := filepath.Join(l.Marts(), ".tmp-20990101T000000.000Z")
	if err := os.MkdirAll(leftover, 0o755); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := publish.Current(l); v != first.Version {
		t.Fatalf("current %s, want %s", v, first.Version)
	}
	if _, err := p.Publish(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Fatalf("leftover of a crashed publish is still there: %v", err)
	}
}

func TestReportHandlerServesCurrentAndNamedVersions(t *testing.T) {
	t.Parallel()
	l := warehouse.NewLayout(t.TempDir())
	srv := httptest.NewServer(publish.ReportHandler(l))
	defer srv.Close()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get("/report"); code != http.StatusNotFound || !strings.Contains(body, "custmart run") {
		t.Fatalf("/report before any publish: %d %s", code, body)
	}
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &publish.Publisher{Layout: l, Keep: 3, Now: func() time.Time { clock = clock.Add(time.Second); return clock }}
	var versions []string
	for _, rows := range []int{5, 6} {
		if err := build(t, l, tinyModels(t, rows)); err != nil {
			t.Fatal(err)
		}
		info, err := p.Publish(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, info.Version)
	}
	for path, version := range map[string]string{"/report": versions[1], "/report/" + versions[0]: versions[0]} {
		code, body := get(path)
		if code != http.StatusOK || !strings.Contains(body, `id="version">`+version+`<`) {
			t.Errorf("%s: %d, want the report of %s:\n%.300s", path, code, version, body)
		}
	}
	for _, path := range []string{"/report/20200101T000000.000Z", "/report/..%2F..%2Fetc", "/report/CURRENT"} {
		if code, _ := get(path); code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, code)
		}
	}
}
