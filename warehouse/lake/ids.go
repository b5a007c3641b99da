package lake

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/engine"
)

// The duplicate check looks the batch's ids up in an id index instead of
// reading the lake's transaction_id column. Per source and engine (the
// hash is DuckDB's hash(), which may change between versions), the folder
// lake/_ids/<source>/duckdb-<version>/ holds runs (idrun.go): files of
// (hash(transaction_id), day) sorted by hash, and runs.json, which lists
// them, oldest first, with the batches each covers. Every committed batch
// adds a run of its own rows; runs are merged when the one before is at
// most twice as large as the newer ones together, or when there are more
// than maxIDRuns, so a source has O(log rows) runs and every row is
// rewritten O(log rows) times. A lookup reads, per run, the fences (8
// bytes per 341 entries) and one 4 KiB block per distinct block a new
// hash falls in, so it costs O(new rows), not O(history).
//
// A new row whose hash is in a run is compared, by its id, with the rows
// of the source in the days the run names, and only then counted a
// duplicate: a hash match alone rejects nothing. Rows a later batch
// replaced or a repair dropped stay in the runs; they only cost that
// comparison. A batch's run is written after the batch commits; a batch
// no listed run covers (a crash in between, a lake older than the runs, a
// deleted _ids folder, another DuckDB version, a run missing or damaged)
// is covered again by a run rebuilt from its lake files before the
// check. runs.json is the commit point of every change (temp file, fsync,
// rename): files it does not list are removed once it is written.

const (
	idStateName = "runs.json"
	maxIDRuns   = 12
)

// idRunRecord is one run in runs.json.
type idRunRecord struct {
	File    string   `json:"file"`
	Entries int64    `json:"entries"`
	Batches []string `json:"batches"`
}

type idState struct {
	Runs []idRunRecord `json:"runs"`
}

// idIndexDir is the index folder of a source for this engine's hash.
func idIndexDir(ctx context.Context, conn *sql.Conn, l warehouse.Layout, source string) (string, error) {
	var version string
	if err := conn.QueryRowContext(ctx, "SELECT version()").Scan(&version); err != nil {
		return "", fmt.Errorf("id index: %w", err)
	}
	return filepath.Join(l.Lake(), "_ids", source, "duckdb-"+version), nil
}

// loadIDState reads runs.json; damaged reports one that does not parse
// (then every batch is covered again from the lake).
func loadIDState(dir string) (st idState, damaged bool, err error) {
	raw, err := os.ReadFile(filepath.Join(dir, idStateName))
	if errors.Is(err, os.ErrNotExist) {
		return idState{}, false, nil
	}
	if err != nil {
		return idState{}, false, fmt.Errorf("id index: %w", err)
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return idState{}, true, nil
	}
	for _, r := range st.Runs {
		if r.File == "" || filepath.Base(r.File) != r.File || r.Entries < 0 {
			return idState{}, true, nil
		}
	}
	return st, false, nil
}

// saveIDState writes runs.json atomically, then removes the files of the
// folder it does not list: runs a merge replaced, runs a crash left
// unlisted, temporary files, index files of an earlier format.
func saveIDState(dir string, st idState) error {
	raw, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := warehouse.WriteFileAtomic(filepath.Join(dir, idStateName), append(raw, '\n'), 0o644); err != nil {
		return fmt.Errorf("id index: %w", err)
	}
	listed := map[string]bool{idStateName: true}
	for _, r := range st.Runs {
		listed[r.File] = true
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("id index: %w", err)
	}
	for _, e := range entries {
		if !listed[e.Name()] && e.Type().IsRegular() {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("id index: %w", err)
			}
		}
	}
	return nil
}

func newRunName() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "run-" + time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:]) + ".ids"
}

// writeRunFromLake writes a run of the ids of the given lake files
// (relative to the lake) into dir and returns its name and entries.
func writeRunFromLake(ctx context.Context, conn *sql.Conn, l warehouse.Layout, dir string, files []string) (string, int64, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", 0, fmt.Errorf("id index: %w", err)
	}
	name := newRunName()
	w, err := createRun(filepath.Join(dir, name))
	if err != nil {
		return "", 0, err
	}
	if len(files) > 0 {
		abs := make([]string, len(files))
		for i, f := range files {
			abs[i] = filepath.Join(l.Lake(), f)
		}
		query := fmt.Sprintf(`SELECT hash(transaction_id) AS h, (CAST(date AS DATE) - DATE '1970-01-01')::INTEGER
FROM read_parquet(%s, hive_partitioning=true) WHERE transaction_id IS NOT NULL ORDER BY h`, fileList(abs))
		err := engine.QueryChunks(ctx, conn, query, func(chunk arrow.RecordBatch) error {
			days := chunk.Column(1).(*array.Int32).Int32Values()
			for i, h := range chunk.Column(0).(*array.Uint64).Uint64Values() {
				if err := w.add(h, days[i]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			w.abort()
			return "", 0, fmt.Errorf("id index from %s: %w", files[0], err)
		}
	}
	n := w.n
	if err := w.commit(); err != nil {
		return "", 0, err
	}
	return name, n, warehouse.SyncDir(dir)
}

// batchTransactionFiles are the transaction files in place that hold rows
// a batch loaded (its own, and partitions later rewritten without a
// replaced file's rows, which are named after it), relative to the lake.
func batchTransactionFiles(placed []Move, batchID string) []string {
	var files []string
	for _, mv := range placed {
		if base := filepath.Base(mv.To); !isQuarantine(mv.To) && strings.HasPrefix(base, batchID+"-") {
			files = append(files, mv.To)
		}
	}
	return files
}

func placesTransactions(b Batch) bool {
	for _, mv := range b.Moves {
		if strings.HasPrefix(mv.To, "transactions"+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// presentFiles keeps the files that are there and that a repair does not
// remove unread (the rows of the others are not in the lake to be
// duplicated).
func presentFiles(files []string, lost map[string]bool, l warehouse.Layout) []string {
	var out []string
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(l.Lake(), f)); err == nil && !lost[f] {
			out = append(out, f)
		}
	}
	return out
}

// indexedDays returns the days the id index holds any of the hashes
// (ascending, distinct) for, as YYYY-MM-DD. A run found damaged while
// looking up is set aside and its batches covered again from the lake.
func (b *batchRun) indexedDays(ctx context.Context, conn *sql.Conn, m *Manifest, hashes []uint64) ([]string, error) {
	skip := map[string]bool{}
	for {
		days, bad, err := b.lookupIDs(ctx, conn, m, hashes, skip)
		if err == nil || bad == "" || skip[bad] || len(skip) > maxIDRuns+1 {
			return days, err
		}
		b.warn("id run damaged; its batches are indexed again from the lake", "error", err)
		skip[bad] = true
	}
}

// lookupIDs opens the runs of the source (but those in skip), covers the
// batches no run covers with a run rebuilt from the lake (a dry run builds
// it in its scratch directory and leaves the index as it is), and looks
// the hashes up in every run. On a damaged run it returns the run's path.
func (b *batchRun) lookupIDs(ctx context.Context, conn *sql.Conn, m *Manifest, hashes []uint64, skip map[string]bool) ([]string, string, error) {
	dir, err := idIndexDir(ctx, conn, b.Layout, b.src.Name)
	if err != nil {
		return nil, "", err
	}
	st, changed, err := loadIDState(dir)
	if err != nil {
		return nil, "", err
	}
	if changed {
		b.warn("id index list "+filepath.Join(dir, idStateName)+" is damaged; every batch is indexed again from the lake", "dir", dir)
	}
	var readers []*runReader
	defer func() {
		for _, r := range readers {
			r.close()
		}
	}()
	var kept []idRunRecord
	covered := map[string]bool{}
	for _, rec := range st.Runs {
		path := filepath.Join(dir, rec.File)
		if skip[path] {
			changed = true
			continue
		}
		r, err := openRun(path)
		if err == nil && r.n != rec.Entries {
			r.close()
			err = &corruptRunError{path, fmt.Sprintf("%d entries where %s lists %d", r.n, idStateName, rec.Entries)}
		}
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) && !isCorruptRun(err) {
				return nil, "", err
			}
			b.warn("id run missing or damaged; its batches are indexed again from the lake", "run", path, "error", err)
			changed = true
			continue
		}
		readers = append(readers, r)
		kept = append(kept, rec)
		for _, id := range rec.Batches {
			covered[id] = true
		}
	}
	var missing, files []string
	var placed []Move
	for _, batch := range m.Batches() {
		if batch.Source != b.src.Name || batch.Status != StatusCommitted || !placesTransactions(batch) || covered[batch.BatchID] {
			continue
		}
		if placed == nil {
			placed = m.Files()
		}
		missing = append(missing, batch.BatchID)
		files = append(files, presentFiles(batchTransactionFiles(placed, batch.BatchID), b.lost, b.Layout)...)
	}
	if len(missing) > 0 {
		into := dir
		if b.DryRun {
			into = filepath.Join(b.stage, "ids")
		}
		b.debug("rebuild id index", "batches", len(missing), "files", len(files))
		name, n, err := writeRunFromLake(ctx, conn, b.Layout, into, files)
		if err != nil {
			return nil, "", err
		}
		r, err := openRun(filepath.Join(into, name))
		if err != nil {
			return nil, "", err
		}
		readers = append(readers, r)
		if !b.DryRun {
			kept = append(kept, idRunRecord{File: name, Entries: n, Batches: missing})
			changed = true
		}
	}
	if changed && !b.DryRun {
		if err := saveIDState(dir, idState{Runs: kept}); err != nil {
			return nil, "", err
		}
	}
	start := time.Now()
	days := map[int32]bool{}
	var blocks, bytes int64
	for _, r := range readers {
		err := r.lookup(hashes, func(_ uint64, day int32) { days[day] = true })
		blocks, bytes = blocks+r.blocksRead, bytes+r.bytesRead
		if err != nil {
			if isCorruptRun(err) {
				return nil, r.path, err
			}
			return nil, "", err
		}
	}
	b.debug("id lookup", "runs", len(readers), "hashes", len(hashes), "blocks_read", blocks, "bytes_read", bytes, "days", len(days), "took", time.Since(start))
	out := make([]string, 0, len(days))
	for d := range days {
		out = append(out, time.Unix(int64(d)*86400, 0).UTC().Format(time.DateOnly))
	}
	slices.Sort(out)
	return out, "", nil
}

// indexCommitted adds the run of a batch just committed, from its files
// now in the lake, and merges runs as the policy says. A failure only
// means the next ingest covers the batch again from the lake.
func (b *batchRun) indexCommitted(ctx context.Context, conn *sql.Conn, m *Manifest, batch Batch) {
	if b.src.Columns["transaction_id"] == "" || !placesTransactions(batch) {
		return
	}
	if err := b.addRun(ctx, conn, m, batch); err != nil {
		b.warn("write id index; the next ingest indexes the batch from the lake", "error", err)
	}
}

func (b *batchRun) addRun(ctx context.Context, conn *sql.Conn, m *Manifest, batch Batch) error {
	start := time.Now()
	dir, err := idIndexDir(ctx, conn, b.Layout, b.src.Name)
	if err != nil {
		return err
	}
	st, damaged, err := loadIDState(dir)
	if err != nil {
		return err
	}
	if damaged {
		st = idState{} // the next lookup covers the other batches again
	}
	name, n, err := writeRunFromLake(ctx, conn, b.Layout, dir, batchTransactionFiles(m.Files(), batch.BatchID))
	if err != nil {
		return err
	}
	st.Runs = append(st.Runs, idRunRecord{File: name, Entries: n, Batches: []string{batch.BatchID}})
	st = b.compactRuns(dir, st)
	if err := saveIDState(dir, st); err != nil {
		return err
	}
	b.debug("indexed batch", "entries", n, "runs", len(st.Runs), "took", time.Since(start))
	return nil
}

// mergeCount is how many of the newest runs to merge into one (0: none):
// while the run before them is at most twice as large as they are
// together, or there would be more than maxIDRuns runs.
func mergeCount(runs []idRunRecord) int {
	if len(runs) < 2 {
		return 0
	}
	k, total := 1, runs[len(runs)-1].Entries
	for i := len(runs) - 2; i >= 0; i-- {
		if runs[i].Entries > 2*total && len(runs)-k+1 <= maxIDRuns {
			break
		}
		k++
		total += runs[i].Entries
	}
	if k < 2 {
		return 0
	}
	return k
}

// compactRuns merges the newest runs as mergeCount says and returns the
// state to save. A run that cannot be read is left out (the next lookup
// covers its batches from the lake); a merge that fails otherwise leaves
// the runs as they were.
func (b *batchRun) compactRuns(dir string, st idState) idState {
	k := mergeCount(st.Runs)
	if k == 0 {
		return st
	}
	tail := st.Runs[len(st.Runs)-k:]
	readers := make([]*runReader, 0, k)
	defer func() {
		for _, r := range readers {
			r.close()
		}
	}()
	drop := func(path string, err error) idState {
		b.warn("id run missing or damaged; its batches are indexed again from the lake", "run", path, "error", err)
		out := idState{}
		for _, r := range st.Runs {
			if filepath.Join(dir, r.File) != path {
				out.Runs = append(out.Runs, r)
			}
		}
		return out
	}
	for _, rec := range tail {
		path := filepath.Join(dir, rec.File)
		r, err := openRun(path)
		if err == nil && r.n != rec.Entries {
			r.close()
			err = &corruptRunError{path, fmt.Sprintf("%d entries where %s lists %d", r.n, idStateName, rec.Entries)}
		}
		if err != nil {
			return drop(path, err)
		}
		readers = append(readers, r)
	}
	name := newRunName()
	n, err := mergeRuns(filepath.Join(dir, name), readers)
	if err == nil {
		err = warehouse.SyncDir(dir)
	}
	var bad *corruptRunError
	if errors.As(err, &bad) {
		return drop(bad.path, err)
	}
	if err != nil {
		b.warn("merge id runs; they stay as they are", "error", err)
		return st
	}
	merged := idRunRecord{File: name, Entries: n}
	for _, rec := range tail {
		merged.Batches = append(merged.Batches, rec.Batches...)
	}
	b.debug("merged id runs", "runs", k, "entries", n)
	return idState{Runs: append(slices.Clone(st.Runs[:len(st.Runs)-k]), merged)}
}
