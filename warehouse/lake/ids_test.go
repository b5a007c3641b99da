package lake_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/custmart/custmart/warehouse/lake"
)

func indexFiles(t *testing.T, e *env) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(e.layout.Lake(), "_ids", "shop", "*", "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// Ids loaded in earlier batches are duplicates in a later one, found
// through the id index; without the index (deleted, or a lake older than
// it) they are found as well and the index is rebuilt.
func TestDuplicatesAcrossBatchesThroughTheIDIndex(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	src := e.shopSource(filepath.Join(e.dir, "in", "*.csv"), "")
	e.write("a.csv", []byte(shopLines("A", "2024-01-05", "2024-01-06", "2024-01-07")))
	e.mustIngest(src)
	if got := indexFiles(t, e); len(got) != 1 {
		t.Fatalf("index files after one batch: %v", got)
	}
	// b.csv repeats A1 (a row of the 6th) on another day, and adds B0.
	e.write("b.csv", []byte(
		"transaction_id,order_id,customer_id,ts,amount,quantity,unit_price,currency\n"+
			"A1,OA1,C1,2024-01-09 10:00:00,2.25,1,2.25,EUR\nB0,OB0,C2,2024-01-09 11:00:00,3.25,1,3.25,EUR\n"))
	r := e.mustIngest(src)
	if f := fileResult(t, r, "b.csv"); f.RowsDuplicate != 1 || f.RowsLoaded != 1 || f.RowsRead != 2 {
		t.Errorf("b.csv: read %d loaded %d duplicate %d, want 2, 1, 1", f.RowsRead, f.RowsLoaded, f.RowsDuplicate)
	}
	if err := os.RemoveAll(filepath.Join(e.layout.Lake(), "_ids")); err != nil {
		t.Fatal(err)
	}
	e.write("c.csv", []byte("transaction_id,order_id,customer_id,ts,amount,quantity,unit_price,currency\n"+
		"B0,OB0,C2,2024-01-10 11:00:00,3.25,1,3.25,EUR\nA2,OA2,C1,2024-01-10 10:00:00,2.25,1,2.25,EUR\nC0,OC0,C1,2024-01-10 10:00:00,2.25,1,2.25,EUR\n"))
	r = e.mustIngest(src)
	checkReconciled(t, r)
	if f := fileResult(t, r, "c.csv"); f.RowsDuplicate != 2 || f.RowsLoaded != 1 {
		t.Errorf("c.csv without the index: loaded %d duplicate %d, want 1 and 2", f.RowsLoaded, f.RowsDuplicate)
	}
	if got := indexFiles(t, e); len(got) != 3 {
		t.Errorf("index files after the rebuild: %v, want one per batch", got)
	}
	if dup := e.queryStrings("SELECT transaction_id FROM " + e.lakeRel() + " GROUP BY ALL HAVING count(*) > 1"); len(dup) > 0 {
		t.Errorf("duplicate ids in the lake: %v", dup)
	}
}

// The index keeps the ids of rows a replaced file no longer has; a hash
// found there is compared with the lake's ids, so such an id loads again.
func TestIDIndexMatchIsConfirmedAgainstTheLake(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	src := e.shopSource(filepath.Join(e.dir, "in", "*.csv"), "    on_changed_file: replace\n")
	e.write("a.csv", []byte(shopLines("A", "2024-01-05", "2024-01-06")))
	e.mustIngest(src)
	e.write("a.csv", []byte(shopLines("A", "2024-01-05")))
	if f := fileResult(t, e.mustIngest(src), "a.csv"); f.Status != lake.FileLoaded || f.RowsLoaded != 1 {
		t.Fatalf("a.csv replaced: %+v", f)
	}
	// A1 is gone from the lake but its hash is still in the first batch's index.
	e.write("b.csv", []byte("transaction_id,order_id,customer_id,ts,amount,quantity,unit_price,currency\n"+
		"A1,OA1,C1,2024-01-06 10:00:00,2.25,1,2.25,EUR\nA0,OA0,C0,2024-01-05 10:00:00,1.25,1,1.25,EUR\n"))
	r := e.mustIngest(src)
	if f := fileResult(t, r, "b.csv"); f.RowsLoaded != 1 || f.RowsDuplicate != 1 {
		t.Errorf("b.csv: loaded %d duplicate %d, want A1 loaded and A0 a duplicate", f.RowsLoaded, f.RowsDuplicate)
	}
	if got := e.queryStrings("SELECT transaction_id || ' ' || source_file FROM " + e.lakeRel() + " ORDER BY 1"); len(got) != 2 ||
		got[1] != "A1 "+filepath.Join(e.dir, "in", "b.csv") {
		t.Errorf("lake %v, want A0 of a.csv and A1 of b.csv", got)
	}
}
