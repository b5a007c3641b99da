// Package lake lands raw transactions in the Parquet lake exactly once.
//
// The new inputs of a source form a batch. Inputs are read in units: several
// small files with the same columns, one segment of a large or compressed
// text file (decompressed and cut at record boundaries into the batch's
// staging directory), one Parquet file, or one batch of database rows
// appended to DuckDB. Each unit is read by one DuckDB statement, as text,
// validated in the same set-based statement and written straight to
// staging: valid rows as zstd Parquet by day, rejected rows only counted.
// A unit runs on one thread so that a row's position gives its line number
// (WITH ORDINALITY); units run side by side on their own connections. The
// line numbers are physical lines of the input: when a unit's rows are not
// one per line (quoted line breaks, blank lines, rows the CSV reader
// rejected), its text is scanned for record starts and the rows renumbered.
// Rejected rows are then staged for quarantine with file, line, raw text,
// reason code and message.
//
// The batch is checked as a whole: an input whose rejected share exceeds
// max_quarantine_share loads nothing; valid rows whose transaction_id is in
// the lake or earlier in the batch are dropped as duplicates. Writing the
// batch's manifest record commits it; its files are then moved into the
// lake, and Recover finishes or discards what a crash left. For every input,
// rows read = rows loaded + rows quarantined + rows duplicate.
//
// Database sources are read by watermark (rows above the last one
// committed, see pgsource), in batches committed one by one; the watermark
// is saved after each commit and also recorded in the batch, so a crash in
// between does not read the rows again. A row added later with a watermark
// equal to one already read is not read: use a strictly increasing column.
package lake

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/engine"
)

// File statuses in a report.
const (
	FileLoaded  = "loaded"
	FileSkipped = "skipped" // same content already in the lake
	FileChanged = "changed" // content changed after ingest and the policy is reject
	FileFailed  = "failed"  // quarantine share over the threshold, empty, or unreadable
	FileDryRun  = "dry-run" // counted, nothing written
)

// FileResult is what one input file (or database batch) became.
type FileResult struct {
	Source          string
	File            string
	Status          string
	BatchID         string
	RowsRead        int64
	RowsLoaded      int64
	RowsQuarantined int64
	RowsDuplicate   int64
	RowsRejected    int64
	Bytes           int64
	Reasons         map[string]int64
	Message         string
	// Unread says a skipped file was not read: its identity matched its
	// inbox record.
	Unread bool
}

// Report is the outcome of one ingest over several sources.
type Report struct {
	Files []FileResult
	// Skipped are the matched paths that are not files (directories,
	// symlink loops, devices), each with why.
	Skipped []string
	// Dropped are the missing or damaged lake files a repair removed from
	// the manifest (their rows loaded again), SetAside the transaction files
	// no batch wrote that it moved to lake/_set_aside; both relative to the
	// lake.
	Dropped, SetAside []string
}

// Rejected sums the valid rows of files that did not load.
func (r Report) Rejected() int64 {
	var n int64
	for _, f := range r.Files {
		n += f.RowsRejected
	}
	return n
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

// Unread counts the files skipped without reading them.
func (r Report) Unread() int {
	n := 0
	for _, f := range r.Files {
		if f.Unread {
			n++
		}
	}
	return n
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
	// Engine settings; ingest uses at most 1 GiB of DuckDB memory unless
	// MemoryLimit says otherwise, and spills under lake/_staging.
	Engine engine.Settings
	// AsOf is the logical date; timestamps after the later of it and today
	// (plus the source's future_tolerance) are rejected. A backfill as of a
	// past date still lands the data that followed it (later runs and
	// holdout checks need it); models only ever read up to their as-of date.
	AsOf time.Time
	// Now is the clock (nil: time.Now).
	Now    func() time.Time
	DryRun bool
	// Verify hashes every input file, trusting no inbox record: a file
	// whose content changed under an identity that did not (a restore that
	// kept the inode and times) is found.
	Verify bool
	Logger *slog.Logger
	// Workers is how many units are read at once (0: Engine.Threads, or the
	// number of CPUs).
	Workers int
	// SegmentBytes is the size text files are cut into for parallel reading
	// (0: 32 MiB).
	SegmentBytes int64
}

const defaultSegmentBytes = 32 << 20

// horizon is the last day timestamps may fall on, before the tolerance.
func (in *Ingester) horizon() time.Time {
	now := time.Now
	if in.Now != nil {
		now = in.Now
	}
	if today := now().UTC().Truncate(24 * time.Hour); today.After(in.AsOf) {
		return today
	}
	return in.AsOf
}

func (in *Ingester) workers() int {
	switch {
	case in.Workers > 0:
		return in.Workers
	case in.Engine.Threads > 0:
		return in.Engine.Threads
	}
	return runtime.NumCPU()
}

// Ingest loads every input of the given sources that is not in the lake
// yet. It returns an error when any input failed; the report covers all.
func (in *Ingester) Ingest(ctx context.Context, sources []Source) (Report, error) {
	var report Report
	if !in.DryRun {
		if err := Recover(in.Layout); err != nil {
			return report, err
		}
	}
	scratch, db, err := in.start(ctx)
	if err != nil {
		return report, err
	}
	defer in.stop(scratch, db)
	progress := newTracker(ctx)
	for _, src := range sources {
		var results []FileResult
		if src.Postgres != nil {
			results, err = in.ingestPostgres(ctx, db, src, scratch, progress)
		} else {
			var skipped []string
			results, skipped, err = in.ingestFiles(ctx, db, src, scratch, progress)
			report.Skipped = append(report.Skipped, skipped...)
		}
		report.Files = append(report.Files, results...)
		if err != nil {
			return report, err
		}
	}
	if failed := report.Failed(); len(failed) > 0 {
		return report, fmt.Errorf("ingest: %d input(s) not loaded:\n  %s", len(failed), strings.Join(FailureSummary(failed), "\n  "))
	}
	return report, nil
}

// SummarizeAbove is how many failed inputs are listed one by one; above it
// they are grouped by reason (the per-file list is in the log and ingest_log).
const SummarizeAbove = 5

// FailureSummary lists the failed inputs' messages, or, when there are many,
// one line per main reason with the files, rows and one example in full.
func FailureSummary(failed []FileResult) []string {
	if len(failed) <= SummarizeAbove {
		msgs := make([]string, len(failed))
		for i, f := range failed {
			msgs[i] = f.Message
		}
		return msgs
	}
	type group struct {
		files, rows int64
		example     string
	}
	groups := map[string]*group{}
	var order []string
	for _, f := range failed {
		reason, rows := f.Status, int64(0)
		for k, n := range f.Reasons {
			if n > rows || n == rows && k < reason {
				reason, rows = k, n
			}
		}
		g, ok := groups[reason]
		if !ok {
			g = &group{example: f.Message}
			groups[reason] = g
			order = append(order, reason)
		}
		g.files++
		g.rows += rows
	}
	out := make([]string, 0, len(order)+1)
	for _, reason := range order {
		g := groups[reason]
		out = append(out, fmt.Sprintf("%d files mostly %s (%d such rows); for example: %s", g.files, reason, g.rows, g.example))
	}
	return append(out, "every file and its reasons: the ingest_log and quarantine marts, or the log's \"ingest file\" lines")
}

// start makes the scratch directory and opens the engine in it; stop
// closes and removes both.
func (in *Ingester) start(ctx context.Context) (string, *sql.DB, error) {
	scratch, err := in.scratchDir()
	if err != nil {
		return "", nil, err
	}
	db, err := in.openEngine(ctx, scratch)
	if err != nil {
		os.RemoveAll(scratch)
		return "", nil, err
	}
	return scratch, db, nil
}

func (in *Ingester) stop(scratch string, db *sql.DB) {
	db.Close()
	os.RemoveAll(scratch)
}

// scratchDir is where batches are staged: lake/_staging, or for a dry run a
// temporary directory outside the data directory.
func (in *Ingester) scratchDir() (string, error) {
	if in.DryRun {
		return os.MkdirTemp("", "custmart-dry-run-")
	}
	dir := filepath.Join(in.Layout.Staging(), fmt.Sprintf(".engine-%d", os.Getpid()))
	return dir, os.MkdirAll(dir, 0o755)
}

// openEngine opens the in-memory DuckDB that reads and validates. Each
// statement runs on one thread (line numbers are row positions); units run
// side by side on their own connections.
func (in *Ingester) openEngine(ctx context.Context, scratch string) (*sql.DB, error) {
	e := in.Engine
	e.Threads = 1
	if e.MemoryLimit == "" {
		e.MemoryLimit = "1GiB"
	}
	if e.TempDirectory == "" {
		e.TempDirectory = filepath.Join(scratch, "spill")
	}
	db, err := engine.Open(ctx, "", e)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(in.workers() + 1)
	return db, nil
}

// conn returns a connection of the engine with the session set up.
func (in *Ingester) conn(ctx context.Context, db *sql.DB) (*sql.Conn, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	settings := []string{
		// Timestamps with an offset are converted to UTC.
		"SET TimeZone = 'UTC'",
		// Inputs span many days; a day partition closed early and reopened
		// costs far more than an open file (the default is 100).
		"SET partitioned_write_max_open_files = 1000",
	}
	for _, s := range settings {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			conn.Close()
			return nil, fmt.Errorf("%s: %w", s, err)
		}
	}
	return conn, nil
}

func newBatchID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405.000000Z") + "-" + hex.EncodeToString(b[:])
}

func (in *Ingester) newBatch(src Source, scratch string, progress *tracker) *batchRun {
	b := &batchRun{Ingester: in, src: src, id: newBatchID(), startedAt: time.Now().UTC(), progress: progress}
	if in.DryRun {
		b.stage = filepath.Join(scratch, b.id)
	} else {
		b.stage = filepath.Join(in.Layout.Staging(), b.id)
	}
	b.segmentBytes = in.SegmentBytes
	if b.segmentBytes <= 0 {
		b.segmentBytes = defaultSegmentBytes
	}
	return b
}

// ingestFiles loads the new files of a file source as one batch.
func (in *Ingester) ingestFiles(ctx context.Context, db *sql.DB, src Source, scratch string, progress *tracker) ([]FileResult, []string, error) {
	paths, skipped, err := listFiles(src)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range skipped {
		if in.Logger != nil {
			in.Logger.Warn("skipped a path that is not a file", "source", src.Name, "path", s)
		}
	}
	inbox, err := loadInbox(in.Layout, src.Name)
	if err != nil && in.Logger != nil {
		in.Logger.Warn("inbox state", "source", src.Name, "error", err)
	}
	if in.Verify {
		inbox.Files = map[string]knownFile{}
	}
	results, err := in.ingestPaths(ctx, db, src, paths, scratch, progress, inboxScan{state: inbox})
	return results, skipped, err
}

// inboxScan is how ingestPaths finds an input's content: by its inbox
// record when state is set (and then updates it), else by hashing it; a
// repair plan hashes and loads the inputs again in place of their live
// entries.
type inboxScan struct {
	state  *inboxState
	repair *repairPlan
}

// ingestPaths loads the given files of a file source as one batch; a repair
// plan loads them again in place of their live entries.
func (in *Ingester) ingestPaths(ctx context.Context, db *sql.DB, src Source, paths []string, scratch string, progress *tracker, how inboxScan) ([]FileResult, error) {
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
	b := in.newBatch(src, scratch, progress)
	defer b.cleanup()
	repair := how.repair
	if repair != nil {
		b.lost = repair.lost
	}
	var known func(string) (inputFile, bool)
	if how.state != nil {
		known = func(path string) (inputFile, bool) { return how.state.unchanged(path, byChecksum) }
	}
	var results []FileResult
	inBatch := map[string]string{} // checksum -> input of this batch
	scanned := map[string]inputFile{}
	scans := scanInputs(paths, src, in.workers(), known)
	for _, path := range paths {
		s := <-<-scans
		f, err := s.f, s.err
		if err == nil {
			scanned[path] = f
		}
		if err != nil {
			b.early = append(b.early, FileEntry{File: path, Checksum: f.checksum, Size: f.size, Status: StatusFailed, Error: err.Error()})
			continue
		}
		res := FileResult{Source: src.Name, File: path, Bytes: f.size}
		repaired, repairing := repair.replacing(path)
		if repairing && f.checksum != repaired.Checksum {
			b.early = append(b.early, FileEntry{File: path, Checksum: f.checksum, Size: f.size, Status: StatusFailed,
				Error: fmt.Sprintf("%s changed while it was being repaired; restore the content batch %s loaded", path, repaired.BatchID)})
			continue
		}
		if lf, ok := byChecksum[f.checksum]; ok && !repairing {
			res.Status, res.BatchID, res.Unread = FileSkipped, lf.BatchID, f.unread
			res.Message = "already ingested in batch " + lf.BatchID
			b.logResult(res)
			results = append(results, res)
			continue
		}
		if first, ok := inBatch[f.checksum]; ok {
			res.Status, res.Message = FileSkipped, "same content as "+first+", loaded in this batch"
			b.logResult(res)
			results = append(results, res)
			continue
		}
		item := &input{inputFile: f, name: path}
		if repairing {
			item.replaces = repaired.BatchID
		} else if prev, ok := byFile[path]; ok {
			if src.OnChangedFile != "replace" {
				res.Status, res.BatchID = FileChanged, prev.BatchID
				res.Message = fmt.Sprintf("%s changed after it was ingested in batch %s; restore it, or set on_changed_file: replace for source %s to load the new content in place of the old", path, prev.BatchID, src.Name)
				b.logResult(res)
				results = append(results, res)
				continue
			}
			item.replaces = prev.BatchID
		}
		if src.Format != "parquet" {
			if item.names, err = columnNames(f, src); err == nil {
				err = checkMapping(src, path, item.names)
			}
			if err != nil {
				b.early = append(b.early, FileEntry{File: path, Checksum: f.checksum, Size: f.size, Status: StatusFailed, Error: err.Error()})
				continue
			}
		}
		progress.expect(f.size)
		inBatch[f.checksum] = path
		b.inputs = append(b.inputs, item)
	}
	if len(b.inputs) == 0 && len(b.early) == 0 {
		in.recordInbox(how.state, scanned, results)
		return results, nil
	}
	if len(b.inputs) > 0 {
		if err := os.MkdirAll(b.stage, 0o755); err != nil {
			return results, fmt.Errorf("stage batch: %w", err)
		}
		if err := b.readAll(ctx, db); err != nil {
			return results, err
		}
	}
	conn, err := in.conn(ctx, db)
	if err != nil {
		return results, err
	}
	defer conn.Close()
	batchResults, err := b.finish(ctx, conn, manifest)
	for _, r := range batchResults {
		b.logResult(r)
	}
	results = append(results, batchResults...)
	if err == nil {
		in.recordInbox(how.state, scanned, results)
	}
	return results, err
}

// recordInbox saves, after the batch is committed, the identity and
// checksum of the files now in the lake (loaded, or found there), so that
// the next ingest need not read them. A failed save only costs the next
// ingest a hash of every file.
func (in *Ingester) recordInbox(state *inboxState, scanned map[string]inputFile, results []FileResult) {
	if state == nil || in.DryRun {
		return
	}
	next := &inboxState{Source: state.Source, Files: map[string]knownFile{}}
	for _, r := range results {
		f, ok := scanned[r.File]
		if ok && (r.Status == FileLoaded || r.Status == FileSkipped) {
			next.Files[r.File] = knownFile{fileIdentity: f.identity, Checksum: f.checksum}
		}
	}
	if maps.EqualFunc(next.Files, state.Files, func(a, b knownFile) bool { return a == b }) {
		return
	}
	if err := saveInbox(in.Layout, next); err != nil && in.Logger != nil {
		in.Logger.Warn("save inbox state; the next ingest hashes every file", "source", state.Source, "error", err)
	}
}

type scanned struct {
	f   inputFile
	err error
}

// scanInputs scans the files, a few at a time (checksumming is all the work
// before the first unit is read), taking those known returns as they are,
// and returns, in the order of paths, the
// channel each result arrives on.
func scanInputs(paths []string, src Source, workers int, known func(string) (inputFile, bool)) <-chan chan scanned {
	pending := make(chan chan scanned, workers)
	go func() {
		defer close(pending)
		for _, path := range paths {
			c := make(chan scanned, 1)
			pending <- c
			go func() {
				if known != nil {
					if f, ok := known(path); ok {
						c <- scanned{f, nil}
						return
					}
				}
				f, err := scanInput(path, src)
				c <- scanned{f, err}
			}()
		}
	}()
	return pending
}
