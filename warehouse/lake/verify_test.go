package lake_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/custmart/custmart/warehouse/lake"
)

// verify runs lake.Verify as the transform does.
func (e *env) verify() error {
	e.t.Helper()
	conn, err := e.db().Conn(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close()
	m, err := lake.LoadManifest(e.layout)
	if err != nil {
		e.t.Fatal(err)
	}
	return lake.Verify(context.Background(), conn, e.layout, m)
}

// lakeFile returns the one transaction file of the day, relative to the lake.
func (e *env) lakeFile(day string) string {
	e.t.Helper()
	files, _ := filepath.Glob(filepath.Join(e.layout.Transactions(), "date="+day, "*.parquet"))
	if len(files) != 1 {
		e.t.Fatalf("want one lake file of %s, got %v", day, files)
	}
	rel, _ := filepath.Rel(e.layout.Lake(), files[0])
	return rel
}

func shopLines(prefix string, days ...string) string {
	var b strings.Builder
	b.WriteString("transaction_id,order_id,customer_id,ts,amount,quantity,unit_price,currency\n")
	for i, d := range days {
		fmt.Fprintf(&b, "%s%d,O%s%d,C%d,%s 10:00:00,%d.25,1,%d.25,EUR\n", prefix, i, prefix, i, i%3, d, i+1, i+1)
	}
	return b.String()
}

// A lake file deleted, truncated, or slipped in after ingest is found from
// the manifest and the footers, and the repair reads the affected source
// files again: the lake ends with exactly the rows and revenue it had.
func TestVerifyAndRepairRestoreTheLake(t *testing.T) {
	e := newEnv(t)
	e.write("a.csv", []byte(shopLines("A", "2024-01-05", "2024-01-06", "2024-01-06")))
	e.write("b.csv", []byte(shopLines("B", "2024-01-05", "2024-01-07")))
	// c.csv has a rejected row: its rows are also in the quarantine file.
	e.write("c.csv", []byte(shopLines("C", "2024-01-08", "2024-01-08")+"CX,OCX,C1,2024-01-08 10:00:00,lots,1,1,EUR\n"))
	src := e.shopSource(filepath.Join(e.dir, "in", "*.csv"), "    max_quarantine_share: 0.5\n")
	e.mustIngest(src)
	e.write("d.csv", []byte(shopLines("D", "2024-01-09")))
	e.mustIngest(src)
	rows, revenue := e.lakeTotals()
	if err := e.verify(); err != nil {
		t.Fatalf("a lake just ingested: %v", err)
	}

	missing := e.lakeFile("2024-01-06")
	truncated := e.lakeFile("2024-01-07")
	if err := os.Remove(filepath.Join(e.layout.Lake(), missing)); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(e.layout.Lake(), truncated), 100); err != nil {
		t.Fatal(err)
	}
	quarantine, _ := filepath.Glob(quarantineGlob(e.layout))
	if len(quarantine) != 1 {
		t.Fatalf("quarantine files %v", quarantine)
	}
	if err := os.Remove(quarantine[0]); err != nil {
		t.Fatal(err)
	}
	stray := filepath.Join("transactions", "date=2024-01-09", "restored-from-backup.parquet")
	raw, _ := os.ReadFile(filepath.Join(e.layout.Lake(), e.lakeFile("2024-01-09")))
	if err := os.WriteFile(filepath.Join(e.layout.Lake(), stray), raw, 0o644); err != nil {
		t.Fatal(err)
	}

	var dmg *lake.DamageError
	if err := e.verify(); !errors.As(err, &dmg) {
		t.Fatalf("want a DamageError, got %v", err)
	}
	quarantineRel, _ := filepath.Rel(e.layout.Lake(), quarantine[0])
	if want := []string{quarantineRel, missing}; !slices.Equal(dmg.Missing, want) {
		t.Errorf("missing %v, want %v", dmg.Missing, want)
	}
	if len(dmg.Damaged) != 1 || !strings.Contains(dmg.Damaged[truncated], "not a whole Parquet file") {
		t.Errorf("damaged %v, want %s", dmg.Damaged, truncated)
	}
	if !slices.Equal(dmg.Unexpected, []string{stray}) {
		t.Errorf("unexpected %v, want %s", dmg.Unexpected, stray)
	}
	// a.csv lost its 2 rows of the 6th and b.csv its row of the 7th; the
	// stray file's row is not counted.
	if dmg.ManifestRows != rows || dmg.LakeRows != rows-3 {
		t.Errorf("rows: lake %d manifest %d, want %d and %d", dmg.LakeRows, dmg.ManifestRows, rows-3, rows)
	}
	var affected []string
	for _, lf := range dmg.Affected {
		affected = append(affected, filepath.Base(lf.File))
	}
	slices.Sort(affected)
	if !slices.Equal(affected, []string{"a.csv", "b.csv", "c.csv"}) {
		t.Errorf("affected %v", affected)
	}
	msg := dmg.Error()
	for _, want := range []string{"missing: lake/" + filepath.ToSlash(missing), "damaged: lake/" + filepath.ToSlash(truncated),
		"unexpected: lake/" + filepath.ToSlash(stray), fmt.Sprintf("hold %d, the committed batches loaded %d", rows-3, rows), "custmart ingest --repair"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}

	report, err := e.in.Repair(context.Background(), []lake.Source{src})
	if err != nil {
		t.Fatalf("repair: %v", err)
	}
	var reloaded []string
	for _, f := range report.Files {
		if f.Status != lake.FileLoaded {
			t.Errorf("%s: %s %s", f.File, f.Status, f.Message)
		}
		reloaded = append(reloaded, filepath.Base(f.File))
	}
	slices.Sort(reloaded)
	if !slices.Equal(reloaded, affected) {
		t.Errorf("repair read %v, want %v", reloaded, affected)
	}
	if want := []string{quarantineRel, missing, truncated}; !slices.Equal(report.Dropped, sorted(want)) || !slices.Equal(report.SetAside, []string{stray}) {
		t.Errorf("dropped %v, set aside %v", report.Dropped, report.SetAside)
	}
	if _, err := os.Stat(filepath.Join(e.layout.Lake(), "_set_aside", stray)); err != nil {
		t.Errorf("the stray file is not set aside: %v", err)
	}
	if err := e.verify(); err != nil {
		t.Fatalf("after the repair: %v", err)
	}
	if n, sum := e.lakeTotals(); n != rows || sum != revenue {
		t.Errorf("lake after repair: %d rows %s, want %d rows %s", n, sum, rows, revenue)
	}
	if dup := e.queryStrings("SELECT transaction_id FROM " + e.lakeRel() + " GROUP BY ALL HAVING count(*) > 1"); len(dup) > 0 {
		t.Errorf("duplicate rows after repair: %v", dup)
	}
	if got := e.queryStrings("SELECT file || ' ' || line FROM " + e.quarantineRel()); len(got) != 1 || !strings.HasSuffix(got[0], "c.csv 4") {
		t.Errorf("quarantine after repair %v, want c.csv line 4", got)
	}
	again, err := e.in.Repair(context.Background(), []lake.Source{src})
	if err != nil || len(again.Files)+len(again.Dropped)+len(again.SetAside) != 0 {
		t.Errorf("a second repair: %+v, %v", again, err)
	}
}

// A repair whose source file is gone changes nothing and says which file to
// restore.
func TestRepairRefusesWithoutTheSourceFile(t *testing.T) {
	e := newEnv(t)
	path := e.write("a.csv", []byte(shopLines("A", "2024-01-05", "2024-01-06")))
	src := e.shopSource(filepath.Join(e.dir, "in", "*.csv"), "")
	e.mustIngest(src)
	missing := e.lakeFile("2024-01-06")
	if err := os.Remove(filepath.Join(e.layout.Lake(), missing)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	_, err := e.in.Repair(context.Background(), []lake.Source{src})
	if err == nil || !strings.Contains(err.Error(), "nothing was changed") || !strings.Contains(err.Error(), path+" is gone; restore it (sha256 ") {
		t.Fatalf("want a refusal naming %s, got %v", path, err)
	}
	var dmg *lake.DamageError
	if err := e.verify(); !errors.As(err, &dmg) || !slices.Equal(dmg.Missing, []string{missing}) {
		t.Errorf("the lake changed: %v", err)
	}
}

// custmart query reads the lake through the manifest: while a committed
// batch is not all in place, every read fails instead of showing part of it.
func TestReadRelationRefusesAHalfAppliedBatch(t *testing.T) {
	e := newEnv(t)
	src := e.shopSource(filepath.Join(e.dir, "in", "*.csv"), "")
	e.write("a.csv", []byte(shopLines("A", "2024-01-05")))
	e.mustIngest(src)
	e.write("b.csv", []byte(shopLines("B", "2024-01-05", "2024-01-06")))
	e.mustIngest(src)
	read := func() (int64, error) {
		rel, err := lake.ReadRelation(e.layout)
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		err = e.db().QueryRow("SELECT count(*) FROM (" + rel + ") WHERE date >= DATE '2024-01-01'").Scan(&n)
		return n, err
	}
	if n, err := read(); err != nil || n != 3 {
		t.Fatalf("read %d rows, %v; want 3", n, err)
	}
	// Put one file of the second batch back into staging, as a kill between
	// the commit and the last rename leaves it.
	m, err := lake.LoadManifest(e.layout)
	if err != nil {
		t.Fatal(err)
	}
	last := m.Batches()[len(m.Batches())-1]
	mv := last.Moves[0]
	from := filepath.Join(e.layout.Lake(), mv.From)
	if err := os.MkdirAll(filepath.Dir(from), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(e.layout.Lake(), mv.To), from); err != nil {
		t.Fatal(err)
	}
	if _, err := read(); err == nil || !strings.Contains(err.Error(), "batch "+last.BatchID+" of source shop is committed but not all in place yet; run custmart ingest") {
		t.Fatalf("want a refusal naming the batch, got %v", err)
	}
	if err := lake.Recover(e.layout); err != nil {
		t.Fatal(err)
	}
	if n, err := read(); err != nil || n != 3 {
		t.Errorf("after recovery: %d rows, %v; want 3", n, err)
	}
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }
