package lake_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/custmart/custmart/warehouse/lake"
)

// idRun is one run listed in a source's runs.json.
type idRun struct {
	File    string   `json:"file"`
	Entries int64    `json:"entries"`
	Batches []string `json:"batches"`
}

// idIndexDir is the id index folder of the shop source (one DuckDB version).
func idIndexDir(t *testing.T, e *env) string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(e.layout.Lake(), "_ids", "shop", "duckdb-*"))
	if err != nil || len(dirs) != 1 {
		t.Fatalf("id index folders %v: %v", dirs, err)
	}
	return dirs[0]
}

// idRuns reads runs.json and checks that the folder holds exactly the
// runs it lists.
func idRuns(t *testing.T, e *env) []idRun {
	t.Helper()
	dir := idIndexDir(t, e)
	raw, err := os.ReadFile(filepath.Join(dir, "runs.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct{ Runs []idRun }
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatalf("runs.json: %v", err)
	}
	want := []string{"runs.json"}
	for _, r := range st.Runs {
		want = append(want, r.File)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("id index folder holds %v, runs.json lists %v", got, want)
	}
	return st.Runs
}

// coveredBatches are the batches the runs cover, sorted.
func coveredBatches(runs []idRun) []string {
	var ids []string
	for _, r := range runs {
		ids = append(ids, r.Batches...)
	}
	slices.Sort(ids)
	return ids
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
	if got := idRuns(t, e); len(got) != 1 || len(got[0].Batches) != 1 || got[0].Entries != 3 {
		t.Fatalf("id runs after one batch: %+v", got)
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
	if got := coveredBatches(idRuns(t, e)); len(got) != 3 || len(slices.Compact(got)) != 3 {
		t.Errorf("batches covered after the rebuild: %v, want the three, once each", got)
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

// idLines is a shop CSV with one row per id, spread over five days.
func idLines(ids ...string) string {
	var b strings.Builder
	b.WriteString("transaction_id,order_id,customer_id,ts,amount,quantity,unit_price,currency\n")
	for i, id := range ids {
		fmt.Fprintf(&b, "%s,O%s,C%d,2024-01-0%d 10:00:00,1.25,1,1.25,EUR\n", id, id, i%3, 1+i%5)
	}
	return b.String()
}

func seqIDs(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return ids
}

// ingestIDs ingests one new file of the given ids and checks its loaded
// and duplicate rows.
func ingestIDs(t *testing.T, e *env, src lake.Source, name string, loaded, dup int64, ids ...string) {
	t.Helper()
	e.write(name, []byte(idLines(ids...)))
	r := e.mustIngest(src)
	checkReconciled(t, r)
	if f := fileResult(t, r, name); f.RowsLoaded != loaded || f.RowsDuplicate != dup {
		t.Errorf("%s: loaded %d duplicate %d, want %d and %d", name, f.RowsLoaded, f.RowsDuplicate, loaded, dup)
	}
}

func runSizes(runs []idRun) []int64 {
	var n []int64
	for _, r := range runs {
		n = append(n, r.Entries)
	}
	return n
}

func checkNoDuplicateIDs(t *testing.T, e *env) {
	t.Helper()
	if dup := e.queryStrings("SELECT transaction_id FROM " + e.lakeRel() + " GROUP BY ALL HAVING count(*) > 1"); len(dup) > 0 {
		t.Errorf("duplicate ids in the lake: %v", dup)
	}
}

// Every batch adds a run; runs stay apart while each is more than twice
// the newer ones, and merge into one when they are not. Ids of every
// earlier batch are found as duplicates across separate runs and after
// the merge.
func TestDuplicatesAcrossManyIDRunsBeforeAndAfterAMerge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	src := e.shopSource(filepath.Join(e.dir, "in", "*.csv"), "")
	ingestIDs(t, e, src, "a.csv", 30, 0, seqIDs("A", 30)...)
	ingestIDs(t, e, src, "b.csv", 10, 0, seqIDs("B", 10)...)
	ingestIDs(t, e, src, "c.csv", 3, 0, seqIDs("C", 3)...)
	ingestIDs(t, e, src, "d.csv", 1, 3, "A5", "B5", "C1", "D0")
	if got := runSizes(idRuns(t, e)); !slices.Equal(got, []int64{30, 10, 3, 1}) {
		t.Fatalf("runs before the merge: %v entries, want 30, 10, 3, 1", got)
	}
	ingestIDs(t, e, src, "e.csv", 3, 4, "A6", "B6", "C2", "D0", "E0", "E1", "E2")
	runs := idRuns(t, e)
	if got := runSizes(runs); !slices.Equal(got, []int64{47}) || len(coveredBatches(runs)) != 5 {
		t.Fatalf("runs after the merge: %+v, want one of 47 entries covering the 5 batches", runs)
	}
	ingestIDs(t, e, src, "f.csv", 1, 5, "A7", "B7", "C0", "D0", "E1", "F0")
	if got := runSizes(idRuns(t, e)); !slices.Equal(got, []int64{47, 1}) {
		t.Errorf("runs after the merge and one more batch: %v entries, want 47, 1", got)
	}
	checkNoDuplicateIDs(t, e)
}

// A run with a damaged block, a run deleted, a run cut short and a
// damaged runs.json are each replaced by a run rebuilt from the lake:
// the duplicates they held are still found.
func TestDamagedOrMissingIDRunsAreRebuiltFromTheLake(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	src := e.shopSource(filepath.Join(e.dir, "in", "*.csv"), "")
	ingestIDs(t, e, src, "a.csv", 20, 0, seqIDs("A", 20)...)
	ingestIDs(t, e, src, "b.csv", 5, 0, seqIDs("B", 5)...)
	runs := idRuns(t, e)
	if got := runSizes(runs); !slices.Equal(got, []int64{20, 5}) {
		t.Fatalf("runs: %v entries, want 20, 5", got)
	}
	dir := idIndexDir(t, e)

	// A flipped byte in the first run's only block fails its CRC.
	path := filepath.Join(dir, runs[0].File)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw[100] ^= 0xff
	must(t, os.WriteFile(path, raw, 0o644))
	ingestIDs(t, e, src, "c.csv", 1, 1, "A3", "C0")
	runs = idRuns(t, e)
	if slices.ContainsFunc(runs, func(r idRun) bool { return r.File == filepath.Base(path) }) || len(coveredBatches(runs)) != 3 {
		t.Fatalf("runs after the damaged block: %+v, want the damaged one replaced and 3 batches covered", runs)
	}

	// One run deleted, every other one cut short.
	must(t, os.Remove(filepath.Join(dir, runs[0].File)))
	for _, r := range runs[1:] {
		must(t, os.Truncate(filepath.Join(dir, r.File), r.Entries*12/2))
	}
	ingestIDs(t, e, src, "d.csv", 1, 3, "A4", "B2", "C0", "D0")
	if got := coveredBatches(idRuns(t, e)); len(got) != 4 || len(slices.Compact(got)) != 4 {
		t.Fatalf("batches covered after deleted and cut runs: %v, want 4, once each", got)
	}

	must(t, os.WriteFile(filepath.Join(dir, "runs.json"), []byte(`{"runs": [{"file": "../x"`), 0o644))
	ingestIDs(t, e, src, "e.csv", 1, 4, "A5", "B3", "C0", "D0", "E0")
	if got := coveredBatches(idRuns(t, e)); len(got) != 5 || len(slices.Compact(got)) != 5 {
		t.Errorf("batches covered after a damaged runs.json: %v, want 5, once each", got)
	}
	checkNoDuplicateIDs(t, e)
}

// lookupLog is the debug record of the last id lookup of an ingest.
type lookupLog struct {
	Runs, Hashes, BlocksRead, BytesRead int64
}

func lastLookup(t *testing.T, logs *bytes.Buffer) lookupLog {
	t.Helper()
	var last *lookupLog
	for _, line := range strings.Split(logs.String(), "\n") {
		var rec struct {
			Msg        string `json:"msg"`
			Runs       int64  `json:"runs"`
			Hashes     int64  `json:"hashes"`
			BlocksRead int64  `json:"blocks_read"`
			BytesRead  int64  `json:"bytes_read"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "id lookup" {
			last = &lookupLog{rec.Runs, rec.Hashes, rec.BlocksRead, rec.BytesRead}
		}
	}
	if last == nil {
		t.Fatalf("no id lookup logged:\n%s", logs.String())
	}
	return *last
}

// The lookup of a new batch reads one 4 KiB block per new id at most, and
// the fences (8 bytes per 341 entries), whatever the history: 8 new ids
// against 2,000 and 40,000 lines of history read at most 8 blocks, of the
// 6 and 118 the runs have.
func TestIDLookupReadsBlocksOfTheNewIDsOnly(t *testing.T) {
	t.Parallel()
	for _, history := range []int{2000, 40000} {
		e := newEnv(t)
		var logs bytes.Buffer
		e.in.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		src := e.shopSource(filepath.Join(e.dir, "in", "*.csv"), "")
		ingestIDs(t, e, src, "history.csv", int64(history), 0, seqIDs("H", history)...)
		logs.Reset()
		ingestIDs(t, e, src, "new.csv", 6, 2, "H7", "H1500", "N0", "N1", "N2", "N3", "N4", "N5")
		got := lastLookup(t, &logs)
		blocks := (int64(history) + 340) / 341
		if got.Runs != 1 || got.Hashes != 8 {
			t.Fatalf("history %d: looked up %d hashes in %d runs, want 8 in 1", history, got.Hashes, got.Runs)
		}
		if got.BlocksRead > got.Hashes || got.BlocksRead < 1 {
			t.Errorf("history %d: read %d blocks of %d for %d new ids, want 1 to %d", history, got.BlocksRead, blocks, got.Hashes, got.Hashes)
		}
		if limit := got.BlocksRead*4096 + 8*blocks + 24; got.BytesRead > limit {
			t.Errorf("history %d: read %d bytes, want at most %d (blocks, fences and footer)", history, got.BytesRead, limit)
		}
	}
}
