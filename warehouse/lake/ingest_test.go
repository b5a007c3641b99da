package lake_test

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/custmart/custmart/fixtures/fixturestest"
	"github.com/custmart/custmart/jobs/config"
	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/lake"
)

func cdnowSource(t *testing.T, file string) lake.Source {
	t.Helper()
	path := fixturestest.CDNOWFile(t, file)
	c, err := config.Parse([]byte(fixturestest.CDNOWMasterConfig(path)), "inline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return c.Sources[0].Lake()
}

func TestIngestCDNOWMaster(t *testing.T) {
	if testing.Short() {
		t.Skip("ingests the whole CDNOW master file (69,659 lines); make test runs it")
	}
	t.Parallel()
	ctx := context.Background()
	layout := warehouse.NewLayout(t.TempDir())
	in := &lake.Ingester{Layout: layout, AsOf: time.Date(1998, 6, 30, 0, 0, 0, 0, time.UTC)}
	if os.Getenv("LAKE_DEBUG") != "" {
		in.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	src := cdnowSource(t, "CDNOW_master.txt")
	report, err := in.Ingest(ctx, []lake.Source{src})
	if err != nil {
		t.Fatal(err)
	}
	read, loaded, quarantined, dup := report.Totals()
	if read != 69659 || loaded != 69659 || quarantined != 0 || dup != 0 {
		t.Fatalf("read=%d loaded=%d quarantined=%d dup=%d, want 69659 loaded", read, loaded, quarantined, dup)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n, customers int64
	var total string
	err = db.QueryRow(`SELECT count(*), count(DISTINCT customer_id), sum(amount)::VARCHAR FROM read_parquet(?, hive_partitioning=true)`,
		layout.TransactionsGlob()).Scan(&n, &customers, &total)
	if err != nil {
		t.Fatal(err)
	}
	if n != 69659 || customers != 23570 || total != "2500315.63" {
		t.Fatalf("lake has %d rows, %d customers, total %s", n, customers, total)
	}
	// The same file again changes nothing.
	report, err = in.Ingest(ctx, []lake.Source{src})
	if err != nil {
		t.Fatal(err)
	}
	if got := report.Files[0].Status; got != lake.FileSkipped {
		t.Fatalf("second ingest status %s, want skipped", got)
	}
	files, _ := filepath.Glob(layout.TransactionsGlob())
	var n2 int64
	if err := db.QueryRow(`SELECT count(*) FROM read_parquet(?)`, layout.TransactionsGlob()).Scan(&n2); err != nil || n2 != 69659 {
		t.Fatalf("after re-ingest %d rows in %d files (%v)", n2, len(files), err)
	}
}

// TestIngestCDNOWSample reads the CDNOW sample through the interface
// configuration of the backbone issue, verbatim but for the path.
func TestIngestCDNOWSample(t *testing.T) {
	t.Parallel()
	raw := []byte(fixturestest.CDNOWSampleConfig(fixturestest.CDNOWFile(t, "CDNOW_sample.txt")))
	c, err := config.Parse(raw, filepath.Join(t.TempDir(), "custmart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	layout := warehouse.NewLayout(t.TempDir())
	// As of the end of the calibration period: the holdout rows (1998) are
	// after the as-of date but not in the future, so they land too.
	in := &lake.Ingester{Layout: layout, AsOf: time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC)}
	report, err := in.Ingest(context.Background(), []lake.Source{c.Sources[0].Lake()})
	if err != nil {
		t.Fatal(err)
	}
	if f := report.Files[0]; f.RowsRead != 6919 || f.RowsLoaded != 6919 {
		t.Fatalf("%+v", f)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var customers, cds int64
	var total string
	err = db.QueryRow(`SELECT count(DISTINCT customer_id), sum(quantity)::BIGINT, sum(amount)::VARCHAR FROM read_parquet(?)`,
		layout.TransactionsGlob()).Scan(&customers, &cds, &total)
	if err != nil {
		t.Fatal(err)
	}
	if customers != 2357 || cds != 16479 || total != "244091.94" {
		t.Fatalf("lake: %d customers, %d CDs, $%s; want 2357, 16479, $244091.94", customers, cds, total)
	}
}
