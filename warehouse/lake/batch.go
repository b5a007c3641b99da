package lake

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/engine"
)

// input is one input of a batch: a file, or a batch of database rows.
type input struct {
	inputFile
	name     string   // as recorded in the lake and the manifest
	replaces string   // batch holding this file's previous content
	names    []string // source columns of a text input

	mu  sync.Mutex
	err error // the input cannot be loaded
}

func (in *input) fail(err error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.err == nil {
		in.err = err
	}
}

func (in *input) failure() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.err
}

// batchRun stages one batch of a source: its inputs are read unit by unit
// into lake/_staging/<batch>/, then checked as a whole (quarantine share,
// duplicates) and committed by writing its manifest record.
type batchRun struct {
	*Ingester
	src       Source
	id        string
	stage     string
	startedAt time.Time
	// segmentBytes is the size large text inputs are cut into.
	segmentBytes int64
	inputs       []*input
	// early holds inputs that failed before reading (empty, wrong format).
	early []FileEntry
	seq   int
	// committed is set once the manifest record is written.
	committed bool
	mu        sync.Mutex
	outcomes  []*unitOutcome
	progress  *tracker
	// Watermark range of a database batch: (from, to].
	watermarkFrom, watermarkTo string
	// lost are lake files a repair drops unread (missing or damaged),
	// relative to the lake.
	lost map[string]bool
}

func (b *batchRun) nextSeq() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	return b.seq
}

func (b *batchRun) textHeader() bool {
	return b.src.Format == "csv" && b.src.CSV.Header
}

// quoteByte is the quote character that can hide line breaks, 0 for line formats.
func (b *batchRun) quoteByte() byte {
	if b.src.Format != "csv" || b.src.CSV.Delimiter == "whitespace" || b.src.CSV.Quote == "" {
		return 0
	}
	return b.src.CSV.Quote[0]
}

func (b *batchRun) checks() checks {
	return checks{src: b.src, horizon: b.horizon(), batchID: b.id, at: b.startedAt,
		typed: b.src.Format == "parquet" || b.src.Postgres != nil}
}

// readAll cuts the inputs into units and reads them on the workers'
// connections, one unit per connection at a time.
func (b *batchRun) readAll(ctx context.Context, db *sql.DB) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	units := make(chan *unit, b.workers())
	cutErr := make(chan error, 1)
	go func() {
		defer close(units)
		cutErr <- b.cutUnits(ctx, b.inputs, func(u *unit) error {
			select {
			case units <- u:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	var wg sync.WaitGroup
	errs := make(chan error, b.workers())
	for range b.workers() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := b.conn(ctx, db)
			if err != nil {
				errs <- err
				cancel()
				return
			}
			defer conn.Close()
			for u := range units {
				if ctx.Err() == nil {
					b.read(ctx, conn, u)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return <-cutErr
}

// read reads a unit; when a unit of several files fails, each file is read
// on its own so that one bad file does not fail the others.
func (b *batchRun) read(ctx context.Context, conn *sql.Conn, u *unit) {
	start := time.Now()
	out := b.readUnit(ctx, conn, u)
	b.debug("read unit", "unit", u.name(), "files", len(u.parts), "rows", out.rows(), "took", time.Since(start))
	if out.err != nil && ctx.Err() == nil {
		os.RemoveAll(filepath.Join(b.stage, u.name()))
		if len(u.parts) > 1 {
			for _, p := range u.parts {
				b.read(ctx, conn, &unit{seq: b.nextSeq(), header: u.header, parts: []*part{p}})
			}
			return
		}
		u.parts[0].in.fail(fmt.Errorf("%s: %w", u.parts[0].in.name, out.err))
		return
	}
	if !b.DryRun {
		// Written out now, while other units are read, rather than all at
		// the commit.
		if err := syncFS(b.stage); err != nil {
			u.parts[0].in.fail(fmt.Errorf("%s: sync staged files: %w", u.parts[0].in.name, err))
			return
		}
	}
	b.mu.Lock()
	b.outcomes = append(b.outcomes, out)
	b.mu.Unlock()
	b.progress.unitDone(b.src.Name, u.parts[len(u.parts)-1].in.name, out.rows(), u.bytes())
}

// finish decides per input what loads (quarantine share, duplicates),
// stages the quarantine, and commits the batch. It returns what each input
// became.
func (b *batchRun) finish(ctx context.Context, conn *sql.Conn, m *Manifest) ([]FileResult, error) {
	entries := slices.Clone(b.early)
	loaded := map[string]bool{}
	// quarantined are the inputs whose rejected rows go to quarantine:
	// those read whole, loaded or not, so that a refused file shows why.
	var quarantined []string
	for _, in := range b.inputs {
		e := FileEntry{File: in.name, Checksum: in.checksum, Size: in.size, Replaces: in.replaces, Reasons: map[string]int64{}}
		var unclosedQuote int64
		for _, o := range b.outcomes {
			if c, ok := o.counts[in.name]; ok {
				e.RowsLoaded += c.ok
				for k, v := range c.reasons {
					e.Reasons[k] += v
					e.RowsQuarantined += v
				}
				e.Lines += c.lines
				e.QuarantinedLines += c.rejectedLines
				if c.unclosedQuoteLine > 0 && (unclosedQuote == 0 || c.unclosedQuoteLine < unclosedQuote) {
					unclosedQuote = c.unclosedQuoteLine
				}
			}
		}
		e.RowsRead = e.RowsLoaded + e.RowsQuarantined
		if e.Lines == 0 { // typed inputs: a row is a line
			e.Lines, e.QuarantinedLines = e.RowsRead, e.RowsQuarantined
		}
		// The share is over physical lines: a record that swallowed many
		// lines weighs as many.
		share := 0.0
		if e.Lines > 0 {
			share = float64(e.QuarantinedLines) / float64(e.Lines)
		}
		err := in.failure()
		switch {
		case err != nil:
			e.Status, e.Error = StatusFailed, err.Error()
		case e.RowsRead == 0:
			e.Status, e.Error = StatusFailed, b.noRowsMessage(in)
		case unclosedQuote > 0:
			e.Status = StatusFailed
			e.Error = fmt.Sprintf("%s line %d: a quoted value starts on this line and its quote is never closed, so the reader took the rest of the file as one value; nothing was loaded from it. Close or double the quote on that line and ingest again (or set csv.quote of source %s if the file does not quote values)",
				in.name, unclosedQuote, b.src.Name)
		case share > b.src.MaxQuarantineShare:
			e.Status = StatusFailed
			e.Error = fmt.Sprintf("%s: %.1f%% of %d lines rejected (%s), over the %.1f%% limit, so nothing was loaded from it; fix the file or the mapping, or raise max_quarantine_share of source %s (`custmart ingest --dry-run` lists the reasons; the rejected rows are in the quarantine mart)",
				in.name, share*100, e.Lines, formatReasons(e.Reasons), b.src.MaxQuarantineShare*100, b.src.Name)
		default:
			e.Status = StatusLoaded
			loaded[in.name] = true
		}
		if err == nil && e.RowsQuarantined > 0 {
			quarantined = append(quarantined, in.name)
		}
		if e.Status != StatusLoaded {
			// read = loaded + quarantined + duplicate + rejected
			e.RowsRejected, e.RowsLoaded = e.RowsLoaded, 0
		}
		entries = append(entries, e)
	}
	index := map[string]*FileEntry{}
	for i := range entries {
		index[entries[i].File] = &entries[i]
	}
	if len(loaded) > 0 {
		if err := b.setThreads(ctx, conn, b.workers()); err != nil {
			return nil, err
		}
		defer b.setThreads(context.WithoutCancel(ctx), conn, 1)
		start := time.Now()
		if err := b.keepOnly(ctx, conn, loaded); err != nil {
			return nil, err
		}
		dups, err := b.removeDuplicates(ctx, conn, m)
		if err != nil {
			return nil, err
		}
		b.debug("duplicates", "took", time.Since(start))
		start = time.Now()
		if err := b.fileFacts(ctx, conn, index, dups); err != nil {
			return nil, err
		}
		b.debug("file facts", "took", time.Since(start))
	}
	results := make([]FileResult, len(entries))
	for i, e := range entries {
		results[i] = FileResult{Source: b.src.Name, File: e.File, BatchID: b.id, RowsRead: e.RowsRead,
			RowsLoaded: e.RowsLoaded, RowsQuarantined: e.RowsQuarantined, RowsDuplicate: e.RowsDuplicate, RowsRejected: e.RowsRejected,
			Bytes: e.Size, Reasons: e.Reasons, Message: e.Error, Status: FileLoaded}
		switch {
		case e.Status == StatusFailed:
			results[i].Status = FileFailed
		case b.DryRun:
			results[i].Status = FileDryRun
		}
	}
	if b.DryRun {
		return results, nil
	}
	batch := Batch{BatchID: b.id, Source: b.src.Name, Files: entries, StartedAt: b.startedAt,
		WatermarkFrom: b.watermarkFrom, WatermarkTo: b.watermarkTo}
	if len(loaded) == 0 {
		if err := b.commitFailed(ctx, conn, m, &batch, quarantined); err != nil {
			return nil, err
		}
		return results, nil
	}
	if err := b.commit(ctx, conn, m, &batch, quarantined); err != nil {
		return nil, err
	}
	return results, nil
}

// commitFailed records a batch that loads nothing, with the quarantine of
// its inputs that were read, so the user sees why they were refused.
func (b *batchRun) commitFailed(ctx context.Context, conn *sql.Conn, m *Manifest, batch *Batch, quarantined []string) error {
	batch.Status = StatusFailed
	if err := b.stageQuarantine(ctx, conn, batch, quarantined); err != nil {
		return err
	}
	if len(batch.Moves) > 0 {
		if err := b.countRows(ctx, conn, batch); err != nil {
			return err
		}
		if err := syncFS(b.stage); err != nil {
			return fmt.Errorf("sync staged batch %s: %w", b.id, err)
		}
	}
	batch.FinishedAt = time.Now().UTC()
	if err := m.record(*batch); err != nil {
		return err
	}
	if len(batch.Moves) == 0 {
		return nil
	}
	b.committed = true // from here on recovery rolls forward
	if err := m.apply(*batch); err != nil {
		return fmt.Errorf("apply batch %s (the next ingest or transform completes it): %w", b.id, err)
	}
	return nil
}

// stageQuarantine writes the rejected rows of the given inputs into one
// quarantine file of the batch, in file and line order, and plans its move.
func (b *batchRun) stageQuarantine(ctx context.Context, conn *sql.Conn, batch *Batch, inputs []string) error {
	var staged []string
	for _, o := range b.outcomes {
		staged = append(staged, o.quarantine...)
	}
	if len(staged) == 0 || len(inputs) == 0 {
		return nil
	}
	target := filepath.Join(b.stage, "quarantine.parquet")
	stmt := fmt.Sprintf(`COPY (SELECT %s FROM read_parquet(%s, hive_partitioning=false, union_by_name=true)
  WHERE file IN (SELECT unnest(%s)) ORDER BY file, line) TO %s (`+warehouse.ParquetOptions+`)`,
		quarantineSelect, fileList(staged), fileList(inputs), warehouse.Quote(target))
	if _, err := conn.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("stage quarantine of batch %s: %w", b.id, err)
	}
	batch.Moves = append(batch.Moves, b.move(target, filepath.Join(quarantineDir, b.id+".parquet")))
	return nil
}

func (b *batchRun) noRowsMessage(in *input) string {
	if b.textHeader() {
		return in.name + ": the file has a header line but no data rows; remove it from the source, or fix the export that wrote it"
	}
	return in.name + ": the file has no data rows (only blank lines); remove it from the source, or fix the export that wrote it"
}

func (b *batchRun) setThreads(ctx context.Context, conn *sql.Conn, n int) error {
	_, err := conn.ExecContext(ctx, fmt.Sprintf("SET threads = %d", n))
	return err
}

// lakeFiles are the staged lake files of the batch.
func (b *batchRun) lakeFiles() []string {
	var files []string
	for _, o := range b.outcomes {
		for _, f := range o.lakeFiles {
			files = append(files, f.path)
		}
	}
	return files
}

// filterStaged rewrites the staged lake files of o with the rows query
// selects from them (%s in query is the file), dropping files left empty.
func filterStaged(ctx context.Context, conn *sql.Conn, o *unitOutcome, only map[string]bool, query string) error {
	var kept []stagedFile
	for _, f := range o.lakeFiles {
		if only != nil && !only[f.path] {
			kept = append(kept, f)
			continue
		}
		rows := fmt.Sprintf(query, warehouse.Quote(f.path))
		var n int64
		if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM ("+rows+")").Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			if err := os.Remove(f.path); err != nil {
				return err
			}
			continue
		}
		tmp := f.path + ".filtered"
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("COPY (%s) TO %s ("+warehouse.ParquetOptions+")", rows, warehouse.Quote(tmp))); err != nil {
			return err
		}
		if err := os.Rename(tmp, f.path); err != nil {
			return err
		}
		inputs, err := inputsIn(ctx, conn, f.path)
		if err != nil {
			return err
		}
		f.inputs = inputs
		kept = append(kept, f)
	}
	o.lakeFiles = kept
	return nil
}

func inputsIn(ctx context.Context, conn *sql.Conn, path string) ([]string, error) {
	rows, err := conn.QueryContext(ctx, "SELECT DISTINCT source_file FROM read_parquet("+warehouse.Quote(path)+", hive_partitioning=false)")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var inputs []string
	for rows.Next() {
		var in string
		if err := rows.Scan(&in); err != nil {
			return nil, err
		}
		inputs = append(inputs, in)
	}
	return inputs, rows.Err()
}

// keepOnly removes the rows of inputs that do not load from the staged
// files they share with inputs that do.
func (b *batchRun) keepOnly(ctx context.Context, conn *sql.Conn, loaded map[string]bool) error {
	for _, o := range b.outcomes {
		var drop []string
		keep := false
		for name, c := range o.counts {
			switch {
			case c.ok == 0:
			case loaded[name]:
				keep = true
			default:
				drop = append(drop, name)
			}
		}
		if len(drop) == 0 {
			continue
		}
		if !keep {
			o.lakeFiles = nil
			continue
		}
		query := "SELECT * FROM read_parquet(%s, hive_partitioning=false) WHERE source_file NOT IN (SELECT unnest(" + fileList(drop) + "))"
		if err := filterStaged(ctx, conn, o, nil, query); err != nil {
			return fmt.Errorf("drop rows of failed inputs: %w", err)
		}
	}
	return nil
}

// lakeFilesOf are the lake's transaction files of the given days, less
// those a repair drops unread.
func (b *batchRun) lakeFilesOf(days []string) []string {
	var files []string
	for _, d := range days {
		matches, _ := filepath.Glob(filepath.Join(b.Layout.Transactions(), "date="+d, "*.parquet"))
		files = append(files, matches...)
	}
	return slices.DeleteFunc(files, func(f string) bool {
		rel, _ := filepath.Rel(b.Layout.Lake(), f)
		return b.lost[rel]
	})
}

// removeDuplicates finds the valid rows of the batch whose transaction_id
// was loaded before (this source, any batch, except the rows of files this
// batch replaces) or appeared earlier in this batch (by file, then line),
// removes them from the staged files and returns their number per input.
// Earlier batches are found through the id index (ids.go): only the days
// its runs name for the batch's id hashes are read. Sources without a
// transaction_id keep identical rows: they are separate purchases.
func (b *batchRun) removeDuplicates(ctx context.Context, conn *sql.Conn, m *Manifest) (map[string]int64, error) {
	dups := map[string]int64{}
	files := b.lakeFiles()
	if b.src.Columns["transaction_id"] == "" || len(files) == 0 {
		return dups, nil
	}
	staged := fmt.Sprintf("read_parquet(%s, hive_partitioning=false)", fileList(files))
	// Repeated hashes of the ids are found first, by sorting the hashes,
	// which is much cheaper than grouping the ids by text (and cheaper than
	// grouping by hash); only when a hash repeats are the ids compared as
	// text.
	hashes, repeats, err := stagedHashes(ctx, conn, staged)
	if err != nil {
		return nil, err
	}
	// Without a repeated hash no id repeats: dup_ids starts empty, with the
	// staged id's type.
	createDupIDs := fmt.Sprintf("CREATE OR REPLACE TEMP TABLE dup_ids AS SELECT transaction_id, false AS in_lake FROM %s WHERE false", staged)
	if repeats {
		createDupIDs = fmt.Sprintf(`CREATE OR REPLACE TEMP TABLE dup_ids AS
WITH repeated AS (SELECT h FROM (SELECT h, h = lag(h) OVER (ORDER BY h) AS again
  FROM (SELECT hash(transaction_id) AS h FROM %[1]s WHERE transaction_id IS NOT NULL)) WHERE again)
SELECT transaction_id, false AS in_lake FROM %[1]s
WHERE transaction_id IS NOT NULL AND hash(transaction_id) IN (SELECT h FROM repeated)
GROUP BY 1 HAVING count(*) > 1`, staged)
	}
	stmts := []string{createDupIDs}
	days, err := b.indexedDays(ctx, conn, m, hashes)
	if err != nil {
		return nil, fmt.Errorf("find duplicates in the id index: %w", err)
	}
	if lakeFiles := b.lakeFilesOf(days); len(lakeFiles) > 0 {
		// Rows of the files this batch replaces are on their way out.
		replaced := []string{"false"}
		for _, in := range b.inputs {
			if in.replaces != "" {
				replaced = append(replaced, fmt.Sprintf("(batch_id = %s AND source_file = %s)", warehouse.Quote(in.replaces), warehouse.Quote(in.name)))
			}
		}
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO dup_ids
SELECT DISTINCT s.transaction_id, true FROM %s s SEMI JOIN (
  SELECT transaction_id FROM read_parquet(%s, hive_partitioning=false)
  WHERE source = %s AND transaction_id IS NOT NULL AND NOT (%s)) l USING (transaction_id)`,
			staged, fileList(lakeFiles), warehouse.Quote(b.src.Name), strings.Join(replaced, " OR ")))
	}
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return nil, fmt.Errorf("find duplicates: %w", err)
		}
	}
	var n int64
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM dup_ids").Scan(&n); err != nil || n == 0 {
		return dups, err
	}
	stmt := fmt.Sprintf(`CREATE OR REPLACE TEMP TABLE dup_rows AS
SELECT filename, source_file, source_line FROM (
  SELECT filename, source_file, source_line, d.in_lake,
    row_number() OVER (PARTITION BY transaction_id ORDER BY source_file, source_line) AS nth
  FROM read_parquet(%s, hive_partitioning=false, filename=true) JOIN
    (SELECT transaction_id, bool_or(in_lake) AS in_lake FROM dup_ids GROUP BY 1) d USING (transaction_id))
WHERE nth > 1 OR in_lake`, fileList(files))
	if _, err := conn.ExecContext(ctx, stmt); err != nil {
		return nil, fmt.Errorf("find duplicates: %w", err)
	}
	rows, err := conn.QueryContext(ctx, "SELECT filename, source_file, count(*) FROM dup_rows GROUP BY ALL")
	if err != nil {
		return nil, err
	}
	affected := map[string]bool{}
	for rows.Next() {
		var file, source string
		var n int64
		if err := rows.Scan(&file, &source, &n); err != nil {
			rows.Close()
			return nil, err
		}
		affected[file] = true
		dups[source] += n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	query := `SELECT f.* FROM read_parquet(%[1]s, hive_partitioning=false) f
  ANTI JOIN (SELECT source_file, source_line FROM dup_rows WHERE filename = %[1]s) d USING (source_file, source_line)`
	for _, o := range b.outcomes {
		if err := filterStaged(ctx, conn, o, affected, query); err != nil {
			return nil, fmt.Errorf("remove duplicates: %w", err)
		}
	}
	return dups, nil
}

// stagedHashes are the distinct hashes of the staged ids, ascending, and
// whether any hash is there more than once.
func stagedHashes(ctx context.Context, conn *sql.Conn, staged string) ([]uint64, bool, error) {
	var hashes []uint64
	repeats := false
	err := engine.QueryChunks(ctx, conn, "SELECT hash(transaction_id) AS h FROM "+staged+" WHERE transaction_id IS NOT NULL ORDER BY h",
		func(chunk arrow.RecordBatch) error {
			for _, h := range chunk.Column(0).(*array.Uint64).Uint64Values() {
				if n := len(hashes); n > 0 && hashes[n-1] == h {
					repeats = true
					continue
				}
				hashes = append(hashes, h)
			}
			return nil
		})
	if err != nil {
		return nil, false, fmt.Errorf("hash the staged ids: %w", err)
	}
	return hashes, repeats, nil
}

// fileFacts records, per loaded input, the rows and amount it loaded and
// its days, from the staged files as they will be committed.
func (b *batchRun) fileFacts(ctx context.Context, conn *sql.Conn, index map[string]*FileEntry, dups map[string]int64) error {
	days := map[string]map[string]bool{}
	for _, o := range b.outcomes {
		for _, f := range o.lakeFiles {
			for _, in := range f.inputs {
				if days[in] == nil {
					days[in] = map[string]bool{}
				}
				days[in][f.day] = true
			}
		}
	}
	for _, in := range b.inputs {
		if e := index[in.name]; e.Status == StatusLoaded {
			e.RowsDuplicate = dups[in.name]
			e.RowsLoaded -= e.RowsDuplicate
			e.AmountLoaded = "0"
			e.Dates = slices.Sorted(maps.Keys(days[in.name]))
		}
	}
	files := b.lakeFiles()
	if len(files) == 0 {
		return nil
	}
	rows, err := conn.QueryContext(ctx, fmt.Sprintf(`SELECT source_file, count(*), coalesce(sum(amount), 0)::VARCHAR
FROM read_parquet(%s, hive_partitioning=false) GROUP BY 1`, fileList(files)))
	if err != nil {
		return fmt.Errorf("summarise staged rows: %w", err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	for rows.Next() {
		var file, amount string
		var n int64
		if err := rows.Scan(&file, &n, &amount); err != nil {
			return err
		}
		e, ok := index[file]
		if !ok || e.Status != StatusLoaded {
			return fmt.Errorf("staged rows of unexpected input %s; nothing was committed (please report this)", file)
		}
		if n != e.RowsLoaded {
			return fmt.Errorf("%s: %d rows staged but %d counted; nothing was committed (please report this)", file, n, e.RowsLoaded)
		}
		e.AmountLoaded = amount
		seen[file] = true
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, in := range b.inputs {
		if e := index[in.name]; e.Status == StatusLoaded && e.RowsLoaded > 0 && !seen[in.name] {
			return fmt.Errorf("%s: %d rows counted but none staged; nothing was committed (please report this)", in.name, e.RowsLoaded)
		}
	}
	return nil
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

// commit stages the quarantine and the rewrites of replaced files, plans the
// moves into the lake, makes everything durable, writes the manifest record
// (the commit point) and moves the files into place.
func (b *batchRun) commit(ctx context.Context, conn *sql.Conn, m *Manifest, batch *Batch, quarantined []string) error {
	start := time.Now()
	if err := b.stageQuarantine(ctx, conn, batch, quarantined); err != nil {
		return err
	}
	days := map[string]bool{}
	for _, o := range b.outcomes {
		for _, f := range o.lakeFiles {
			days[f.day] = true
			name := b.id + "-" + o.unit.name() + "-" + filepath.Base(f.path)
			batch.Moves = append(batch.Moves, b.move(f.path, filepath.Join("transactions", "date="+f.day, name)))
		}
	}
	rewritten, err := b.rewriteReplaced(ctx, conn, m, batch)
	if err != nil {
		return err
	}
	for _, d := range rewritten {
		days[d] = true
	}
	for d := range days {
		batch.Dates = append(batch.Dates, d)
	}
	sort.Strings(batch.Dates)
	if err := b.countRows(ctx, conn, batch); err != nil {
		return err
	}
	if err := syncFS(b.stage); err != nil {
		return fmt.Errorf("sync staged batch %s: %w", b.id, err)
	}
	batch.Status = StatusCommitted
	batch.FinishedAt = time.Now().UTC()
	b.debug("staged", "took", time.Since(start))
	if err := m.record(*batch); err != nil {
		return err
	}
	b.committed = true // from here on recovery rolls forward
	if err := m.apply(*batch); err != nil {
		return fmt.Errorf("apply batch %s (the next ingest or transform completes it): %w", b.id, err)
	}
	b.indexCommitted(ctx, conn, m, *batch)
	return nil
}

// countRows records in each move the rows of its staged file, read from
// the file's footer.
func (b *batchRun) countRows(ctx context.Context, conn *sql.Conn, batch *Batch) error {
	if len(batch.Moves) == 0 {
		return nil
	}
	staged := make([]string, len(batch.Moves))
	for i, mv := range batch.Moves {
		staged[i] = mv.From
	}
	rows := map[string]int64{}
	if err := readFooters(ctx, conn, b.Layout, staged, rows); err != nil {
		return fmt.Errorf("count the staged rows of batch %s: %w", b.id, err)
	}
	for i := range batch.Moves {
		batch.Moves[i].Rows = rows[batch.Moves[i].From]
	}
	return nil
}

func (b *batchRun) move(staged, to string) Move {
	from, _ := filepath.Rel(b.Layout.Lake(), staged)
	return Move{From: from, To: to}
}

// rewriteReplaced stages, for every loaded file this batch replaces, the
// old batch's day partitions without that file's rows, and lists the old
// partition files for deletion when the batch is applied. It returns the
// days it rewrote.
func (b *batchRun) rewriteReplaced(ctx context.Context, conn *sql.Conn, m *Manifest, batch *Batch) ([]string, error) {
	type part struct{ batch, day string }
	dropped := map[part][]string{}
	for _, f := range batch.Files {
		if f.Status != StatusLoaded || f.Replaces == "" {
			continue
		}
		old, ok := m.find(f.Replaces)
		if !ok {
			return nil, fmt.Errorf("file %s replaces batch %s, which the manifest does not have", f.File, f.Replaces)
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
	var days []string
	for p, removed := range dropped {
		dir := filepath.Join(b.Layout.Transactions(), "date="+p.day)
		olds, err := filepath.Glob(filepath.Join(dir, p.batch+"-*.parquet"))
		olds = slices.DeleteFunc(olds, func(f string) bool {
			rel, _ := filepath.Rel(b.Layout.Lake(), f)
			return b.lost[rel]
		})
		if err != nil || len(olds) == 0 {
			continue
		}
		days = append(days, p.day)
		source := fmt.Sprintf("read_parquet(%s, hive_partitioning=false) WHERE source_file NOT IN (SELECT unnest(%s))",
			fileList(olds), fileList(removed))
		var keep int64
		if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM "+source).Scan(&keep); err != nil {
			return nil, fmt.Errorf("rewrite partition %s: %w", dir, err)
		}
		if keep > 0 {
			target := filepath.Join(b.stage, "rewrite", "date="+p.day, p.batch+"-rw-"+b.id+".parquet")
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return nil, err
			}
			stmt := fmt.Sprintf("COPY (SELECT * FROM %s) TO %s ("+warehouse.ParquetOptions+")", source, warehouse.Quote(target))
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return nil, fmt.Errorf("rewrite partition %s: %w", dir, err)
			}
			batch.Moves = append(batch.Moves, b.move(target, filepath.Join("transactions", "date="+p.day, filepath.Base(target))))
		}
		for _, o := range olds {
			rel, _ := filepath.Rel(b.Layout.Lake(), o)
			batch.Deletes = append(batch.Deletes, rel)
		}
	}
	for rel := range b.lost {
		batch.Deletes = append(batch.Deletes, rel)
	}
	sort.Strings(batch.Deletes)
	return days, nil
}

// cleanup removes what an uncommitted batch staged.
func (b *batchRun) cleanup() {
	if !b.committed && b.stage != "" {
		if err := os.RemoveAll(b.stage); err != nil && !errors.Is(err, os.ErrNotExist) && b.Logger != nil {
			b.Logger.Warn("remove staged batch", "dir", b.stage, "error", err)
		}
	}
}

func (b *batchRun) debug(msg string, args ...any) {
	if b.Logger != nil {
		b.Logger.Debug(msg, append([]any{"source", b.src.Name, "batch", b.id}, args...)...)
	}
}

func (b *batchRun) warn(msg string, args ...any) {
	if b.Logger != nil {
		b.Logger.Warn(msg, append([]any{"source", b.src.Name, "batch", b.id}, args...)...)
	}
}

func (b *batchRun) logResult(r FileResult) {
	if b.Logger == nil {
		return
	}
	// One line per file is for debugging: the command's table and the
	// failure summary group them (a run can hold hundreds of files).
	level := slog.LevelDebug
	b.Logger.Log(context.Background(), level, "ingest file",
		"source", r.Source, "file", r.File, "status", r.Status, "batch", r.BatchID,
		"rows_read", r.RowsRead, "rows_loaded", r.RowsLoaded,
		"rows_quarantined", r.RowsQuarantined, "rows_duplicate", r.RowsDuplicate, "unread", r.Unread, "message", r.Message)
}
