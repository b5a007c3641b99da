// Package lake lands raw transactions in the Parquet lake exactly once.
//
// New input files of a source are read together as one batch by DuckDB, as
// text, validated in SQL, and split into loaded rows (zstd Parquet,
// Hive-partitioned by date), quarantined rows (with a reason) and duplicates;
// writing the batch's manifest record commits it. For every file, rows read
// equal rows loaded + quarantined + duplicate.
package lake

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/custmart/custmart/jobs/config"
	"github.com/custmart/custmart/warehouse"
)

// File statuses in a report.
const (
	FileLoaded  = "loaded"
	FileSkipped = "skipped" // same content already in the lake
	FileChanged = "changed" // content changed after ingest and the policy is reject
	FileFailed  = "failed"  // quarantine share over the threshold, empty, or unreadable
	FileDryRun  = "dry-run" // counted, nothing written
)

// FileResult is what one input file became.
type FileResult struct {
	Source          string
	File            string
	Status          string
	BatchID         string
	RowsRead        int64
	RowsLoaded      int64
	RowsQuarantined int64
	RowsDuplicate   int64
	Reasons         map[string]int64
	Message         string
}

// Report is the outcome of one ingest over several sources.
type Report struct {
	Files []FileResult
}

// Totals sums the row counts of all files.
func (r Report) Totals() (read, loaded, quarantined, duplicate int64) {
	for _, f := range r.Files {
		read += f.RowsRead
		loaded += f.RowsLoaded
		quarantined += f.RowsQuarantined
		duplicate += f.RowsDuplicate
	}
	return
}

// Failed returns the files that did not load.
func (r Report) Failed() []FileResult {
	var out []FileResult
	for _, f := range r.Files {
		if f.Status == FileFailed || f.Status == FileChanged {
			out = append(out, f)
		}
	}
	return out
}

// Ingester loads sources into the lake of one data directory. The caller
// holds the writer lock.
type Ingester struct {
	Layout warehouse.Layout
	Engine warehouse.Engine
	// AsOf is the logical date; timestamps after the later of it and today
	// (plus the source's future_tolerance) are rejected.
	AsOf time.Time
	// Now is the clock (nil: time.Now).
	Now    func() time.Time
	DryRun bool
	Logger *slog.Logger
	// MaxBatchFiles caps how many files one batch reads (0: 1000).
	MaxBatchFiles int
}

// candidate is a new or changed input file to load.
type candidate struct {
	path, checksum, header string
	size                   int64
	replaces               string // batch holding the file's previous content
}

// Ingest loads every file of the given sources that is not in the lake yet.
// It returns an error when any file failed; the report covers all files.
func (in *Ingester) Ingest(ctx context.Context, sources []config.Source) (Report, error) {
	var report Report
	if !in.DryRun {
		if err := Recover(in.Layout); err != nil {
			return report, err
		}
	}
	db, err := warehouse.Open(ctx, "", in.Engine)
	if err != nil {
		return report, err
	}
	defer db.Close()
	for _, src := range sources {
		if src.Postgres != nil {
			continue // database sources are read by their own reader
		}
		results, err := in.ingestSource(ctx, db, src)
		report.Files = append(report.Files, results...)
		if err != nil {
			return report, err
		}
	}
	if failed := report.Failed(); len(failed) > 0 {
		msgs := make([]string, len(failed))
		for i, f := range failed {
			msgs[i] = f.Message
		}
		return report, fmt.Errorf("ingest: %d file(s) not loaded:\n  %s", len(failed), strings.Join(msgs, "\n  "))
	}
	return report, nil
}

func (in *Ingester) ingestSource(ctx context.Context, db *sql.DB, src config.Source) ([]FileResult, error) {
	files, err := listFiles(src)
	if err != nil {
		return nil, err
	}
	manifest, err := LoadManifest(in.Layout)
	if err != nil {
		return nil, err
	}
	byChecksum, byFile := map[string]LiveFile{}, map[string]LiveFile{}
	for _, lf := range manifest.Live() {
		if lf.Source == src.Name {
			byChecksum[lf.Checksum] = lf
			byFile[lf.File] = lf
		}
	}
	var results []FileResult
	var todo []candidate
	for _, path := range files {
		res := FileResult{Source: src.Name, File: path}
		sum, size, err := checksum(path)
		switch {
		case err != nil:
			res.Status, res.Message = FileFailed, err.Error()
		case size == 0:
			res.Status, res.Message = FileFailed, path+": the file is empty (0 bytes); remove it from the source or fix the export"
		default:
			if lf, ok := byChecksum[sum]; ok {
				res.Status, res.BatchID = FileSkipped, lf.BatchID
				res.Message = "already ingested in batch " + lf.BatchID
				break
			}
			c := candidate{path: path, checksum: sum, size: size}
			if prev, ok := byFile[path]; ok {
				if src.OnChangedFile != "replace" {
					res.Status = FileChanged
					res.Message = fmt.Sprintf("%s changed after it was ingested in batch %s; restore it, or set on_changed_file: replace for source %s to load the new content", path, prev.BatchID, src.Name)
					break
				}
				c.replaces = prev.BatchID
			}
			if needsHeader(src) {
				if c.header, err = readHeader(path, src); err != nil {
					res.Status, res.Message = FileFailed, err.Error()
					break
				}
			}
			todo = append(todo, c)
			continue
		}
		in.log(res)
		results = append(results, res)
	}
	for _, batch := range in.group(todo) {
		batchResults, err := in.ingestBatch(ctx, db, src, manifest, batch)
		if err != nil {
			return results, err
		}
		for _, r := range batchResults {
			in.log(r)
		}
		results = append(results, batchResults...)
	}
	return results, nil
}

func needsHeader(src config.Source) bool {
	return src.Format == "csv" && *src.CSV.Header
}

// group splits candidates into batches of files that share a header line, so
// one reader reads each batch with one column layout.
func (in *Ingester) group(todo []candidate) [][]candidate {
	limit := in.MaxBatchFiles
	if limit <= 0 {
		limit = 1000
	}
	var batches [][]candidate
	for _, c := range todo {
		n := len(batches)
		if n > 0 && len(batches[n-1]) < limit && batches[n-1][0].header == c.header {
			batches[n-1] = append(batches[n-1], c)
			continue
		}
		batches = append(batches, []candidate{c})
	}
	return batches
}

func (in *Ingester) log(r FileResult) {
	if in.Logger == nil {
		return
	}
	level := slog.LevelInfo
	switch r.Status {
	case FileFailed, FileChanged:
		level = slog.LevelError
	case FileSkipped:
		level = slog.LevelDebug
	}
	in.Logger.Log(context.Background(), level, "ingest file",
		"source", r.Source, "file", r.File, "status", r.Status, "batch", r.BatchID,
		"rows_read", r.RowsRead, "rows_loaded", r.RowsLoaded,
		"rows_quarantined", r.RowsQuarantined, "rows_duplicate", r.RowsDuplicate, "message", r.Message)
}

func (in *Ingester) now() time.Time {
	if in.Now != nil {
		return in.Now()
	}
	return time.Now()
}

func newBatchID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405.000000Z") + "-" + hex.EncodeToString(b[:])
}

// ingestBatch reads, validates and commits one batch of files.
func (in *Ingester) ingestBatch(ctx context.Context, db *sql.DB, src config.Source, m *Manifest, files []candidate) ([]FileResult, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	batch := Batch{BatchID: newBatchID(), Source: src.Name, StartedAt: time.Now().UTC()}
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = f.path
	}
	failAll := func(err error) []FileResult {
		out := make([]FileResult, len(files))
		for i, f := range files {
			out[i] = FileResult{Source: src.Name, File: f.path, Status: FileFailed, BatchID: batch.BatchID, Message: err.Error()}
		}
		return out
	}
	sourceCols, err := loadRaw(ctx, conn, src, paths)
	if err == nil {
		err = checkMapping(src, paths[0], sourceCols)
	}
	if err == nil {
		if err = in.validate(ctx, conn, src, batch.BatchID, files); err != nil {
			err = fmt.Errorf("%s: validate: %w", paths[0], err)
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return failAll(err), nil
	}
	entries, err := countFiles(ctx, conn, files)
	if err != nil {
		return nil, fmt.Errorf("count %s: %w", paths[0], err)
	}
	results := make([]FileResult, len(entries))
	var loaded []string
	for i := range entries {
		e := &entries[i]
		share := 0.0
		if e.RowsRead > 0 {
			share = float64(e.RowsQuarantined) / float64(e.RowsRead)
		}
		switch {
		case e.RowsRead == 0:
			e.Status, e.Error = StatusFailed, e.File+": the file has no data rows (only a header?); remove it or fix the export"
		case share > *src.MaxQuarantineShare:
			e.Status = StatusFailed
			e.Error = fmt.Sprintf("%s: %.1f%% of rows rejected (%s), over the %.1f%% limit; nothing loaded from it: fix the file or the mapping, or raise max_quarantine_share for source %s; `custmart ingest --dry-run` shows the counts",
				e.File, share*100, formatReasons(e.Reasons), *src.MaxQuarantineShare*100, src.Name)
		default:
			e.Status = StatusLoaded
			loaded = append(loaded, e.File)
		}
		results[i] = FileResult{Source: src.Name, File: e.File, BatchID: batch.BatchID, RowsRead: e.RowsRead,
			RowsLoaded: e.RowsLoaded, RowsQuarantined: e.RowsQuarantined, RowsDuplicate: e.RowsDuplicate,
			Reasons: e.Reasons, Message: e.Error}
		switch {
		case in.DryRun:
			results[i].Status = FileDryRun
			if e.Status == StatusFailed {
				results[i].Status = FileFailed
			}
		case e.Status == StatusFailed:
			results[i].Status = FileFailed
			results[i].RowsLoaded = 0
		default:
			results[i].Status = FileLoaded
		}
	}
	if in.DryRun {
		return results, nil
	}
	batch.Files = entries
	if len(loaded) == 0 {
		batch.Status, batch.FinishedAt = StatusFailed, time.Now().UTC()
		for i := range batch.Files {
			batch.Files[i].RowsLoaded = 0
		}
		return results, m.record(batch)
	}
	if err := in.write(ctx, conn, m, &batch, loaded); err != nil {
		return nil, err
	}
	return results, nil
}

func checkMapping(src config.Source, path string, have []string) error {
	for _, canon := range config.CanonicalColumns {
		col := src.Columns[canon]
		if col == "" {
			continue
		}
		found := false
		for _, h := range have {
			if h == col {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("%s: source %s maps %s to column %q, which the file does not have; its columns are: %s",
				path, src.Name, canon, col, strings.Join(have, ", "))
		}
	}
	return nil
}

// countFiles reconciles every file of the batch: read = loaded + quarantined + duplicate.
func countFiles(ctx context.Context, conn *sql.Conn, files []candidate) ([]FileEntry, error) {
	entries := make([]FileEntry, len(files))
	index := map[string]int{}
	for i, f := range files {
		entries[i] = FileEntry{File: f.path, Checksum: f.checksum, Size: f.size, Replaces: f.replaces, Reasons: map[string]int64{}}
		index[f.path] = i
	}
	rows, err := conn.QueryContext(ctx, `SELECT file, coalesce(reason_code, CASE WHEN duplicate THEN 'duplicate' ELSE 'ok' END), count(*)
FROM checked GROUP BY ALL`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var file, reason string
		var n int64
		if err := rows.Scan(&file, &reason, &n); err != nil {
			return nil, err
		}
		i, ok := index[file]
		if !ok {
			return nil, fmt.Errorf("reader returned rows of unexpected file %s", file)
		}
		e := &entries[i]
		e.RowsRead += n
		switch reason {
		case "ok":
			e.RowsLoaded += n
		case "duplicate":
			e.RowsDuplicate += n
		default:
			e.RowsQuarantined += n
			e.Reasons[reason] = n
		}
	}
	return entries, rows.Err()
}

func formatReasons(reasons map[string]int64) string {
	keys := make([]string, 0, len(reasons))
	for k := range reasons {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, reasons[k])
	}
	return strings.Join(parts, " ")
}

// write stages the batch's Parquet files, commits its manifest record and
// moves the files into the lake.
func (in *Ingester) write(ctx context.Context, conn *sql.Conn, m *Manifest, b *Batch, loaded []string) error {
	stage := filepath.Join(in.Layout.Staging(), b.BatchID)
	if err := os.MkdirAll(stage, 0o755); err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			os.RemoveAll(stage)
		}
	}()
	stmts := []string{
		"CREATE OR REPLACE TEMP TABLE loaded_files (file VARCHAR)",
		"INSERT INTO loaded_files SELECT unnest(" + fileList(loaded) + ")",
		fmt.Sprintf(`COPY (SELECT %s, CAST(ts AS DATE) AS date FROM checked
  WHERE reason_code IS NULL AND NOT duplicate AND file IN (SELECT file FROM loaded_files) ORDER BY ts)
TO %s (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (date), ROW_GROUP_SIZE 122880)`,
			strings.Join(LakeColumns, ", "), warehouse.Quote(filepath.Join(stage, "transactions"))),
		fmt.Sprintf(`COPY (SELECT source, file, line, raw, reason_code, message, batch_id, current_timestamp::TIMESTAMP AS quarantined_at
FROM checked WHERE reason_code IS NOT NULL AND file IN (SELECT file FROM loaded_files) ORDER BY file, line)
TO %s (FORMAT parquet, COMPRESSION zstd)`, warehouse.Quote(filepath.Join(stage, "quarantine.parquet"))),
	}
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("stage batch %s: %w", b.BatchID, err)
		}
	}
	if err := fileFacts(ctx, conn, b); err != nil {
		return err
	}
	if err := in.rewriteReplaced(ctx, conn, m, b, stage); err != nil {
		return err
	}
	if err := planMoves(in.Layout, b); err != nil {
		return err
	}
	if err := warehouse.SyncTree(stage); err != nil {
		return fmt.Errorf("sync staged batch: %w", err)
	}
	b.Status = StatusCommitted
	b.FinishedAt = time.Now().UTC()
	if err := m.record(*b); err != nil {
		return err
	}
	committed = true // from here on recovery rolls forward
	if err := m.apply(*b); err != nil {
		return fmt.Errorf("apply batch %s (the next ingest completes it): %w", b.BatchID, err)
	}
	return nil
}

// fileFacts records, per loaded file, the amount it loaded and its days.
func fileFacts(ctx context.Context, conn *sql.Conn, b *Batch) error {
	rows, err := conn.QueryContext(ctx, `SELECT file, coalesce(sum(amount), 0)::VARCHAR, list(DISTINCT strftime(ts, '%Y-%m-%d') ORDER BY 1)
FROM checked WHERE reason_code IS NULL AND NOT duplicate AND file IN (SELECT file FROM loaded_files) GROUP BY file`)
	if err != nil {
		return err
	}
	defer rows.Close()
	facts := map[string]FileEntry{}
	for rows.Next() {
		var file, amount string
		var days []any
		if err := rows.Scan(&file, &amount, &days); err != nil {
			return err
		}
		e := FileEntry{AmountLoaded: amount}
		for _, d := range days {
			e.Dates = append(e.Dates, d.(string))
		}
		facts[file] = e
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for i := range b.Files {
		f := &b.Files[i]
		if f.Status != StatusLoaded {
			f.RowsLoaded = 0
			continue
		}
		f.AmountLoaded, f.Dates = facts[f.File].AmountLoaded, facts[f.File].Dates
		if f.AmountLoaded == "" {
			f.AmountLoaded = "0"
		}
	}
	return nil
}

// rewriteReplaced stages, for every changed file this batch replaces, the
// old batch's day partitions without that file's rows, and lists the old
// partition files for deletion when the batch is applied.
func (in *Ingester) rewriteReplaced(ctx context.Context, conn *sql.Conn, m *Manifest, b *Batch, stage string) error {
	type part struct{ batch, day string }
	dropped := map[part][]string{}
	for _, f := range b.Files {
		if f.Status != StatusLoaded || f.Replaces == "" {
			continue
		}
		old, ok := m.find(f.Replaces)
		if !ok {
			return fmt.Errorf("file %s replaces batch %s, which the manifest does not have", f.File, f.Replaces)
		}
		for _, of := range old.Files {
			if of.File == f.File {
				for _, d := range of.Dates {
					p := part{old.BatchID, d}
					dropped[p] = append(dropped[p], f.File)
				}
			}
		}
	}
	for p, removed := range dropped {
		dir := filepath.Join(in.Layout.Transactions(), "date="+p.day)
		olds, err := filepath.Glob(filepath.Join(dir, p.batch+"-*.parquet"))
		if err != nil || len(olds) == 0 {
			continue
		}
		target := filepath.Join(stage, "rewrite", "date="+p.day, p.batch+"-rw-"+b.BatchID+".parquet")
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		var keep int64
		where := "source_file NOT IN (SELECT unnest(" + fileList(removed) + "))"
		if err := conn.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM read_parquet(%s) WHERE %s", fileList(olds), where)).Scan(&keep); err != nil {
			return fmt.Errorf("rewrite partition %s: %w", dir, err)
		}
		if keep > 0 {
			stmt := fmt.Sprintf("COPY (SELECT * FROM read_parquet(%s) WHERE %s) TO %s (FORMAT parquet, COMPRESSION zstd)",
				fileList(olds), where, warehouse.Quote(target))
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("rewrite partition %s: %w", dir, err)
			}
		}
		for _, o := range olds {
			rel, _ := filepath.Rel(in.Layout.Lake(), o)
			b.Deletes = append(b.Deletes, rel)
		}
	}
	sort.Strings(b.Deletes)
	return nil
}

// planMoves maps the staged files of a batch to their places in the lake.
func planMoves(l warehouse.Layout, b *Batch) error {
	stage := filepath.Join(l.Staging(), b.BatchID)
	dateSet := map[string]bool{}
	err := filepath.WalkDir(stage, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		from, _ := filepath.Rel(l.Lake(), path)
		inStage, _ := filepath.Rel(stage, path)
		part := filepath.Base(filepath.Dir(path)) // date=YYYY-MM-DD
		switch top, _, _ := strings.Cut(inStage, string(filepath.Separator)); top {
		case "quarantine.parquet":
			b.Moves = append(b.Moves, Move{From: from, To: filepath.Join("quarantine", b.BatchID+".parquet")})
		case "transactions":
			dateSet[strings.TrimPrefix(part, "date=")] = true
			b.Moves = append(b.Moves, Move{From: from, To: filepath.Join("transactions", part, b.BatchID+"-"+d.Name())})
		case "rewrite":
			dateSet[strings.TrimPrefix(part, "date=")] = true
			b.Moves = append(b.Moves, Move{From: from, To: filepath.Join("transactions", part, d.Name())})
		}
		return nil
	})
	for d := range dateSet {
		b.Dates = append(b.Dates, d)
	}
	sort.Strings(b.Dates)
	return err
}
