package lake

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/custmart/custmart/warehouse"
)

// unit is what one DuckDB statement reads: several small files with the same
// columns, one segment of a large or compressed text file (decompressed into
// the batch's staging directory), one Parquet file, or a batch of database
// rows held in a table.
//
// A unit is read by one thread, in order, so that every row's line number
// follows from its position (WITH ORDINALITY); units run side by side on
// their own connections, which is where the parallelism comes from.
type unit struct {
	seq    int // names the unit's staging directory and tables
	header bool
	parts  []*part
	table  string // database rows: the table holding them (one part)
	// segmented: one of several segments of a large input, such as a
	// history export, whose rows may span every day of it (see writeByDays).
	segmented bool
}

// part is one file of a unit: an input file, or a segment of one.
type part struct {
	in   *input
	path string // the file DuckDB reads
	temp bool   // path is a segment file, removed once read
	// firstLine is the physical line of the part's first line in its input.
	firstLine int64
	// lines and trailingBlank describe the part's text (see lineTally).
	lines, trailingBlank int64
	bytes                int64
}

func (u *unit) name() string { return fmt.Sprintf("u%05d", u.seq) }

func (u *unit) headerLines() int64 {
	if u.header {
		return 1
	}
	return 0
}

func (u *unit) bytes() int64 {
	var n int64
	for _, p := range u.parts {
		n += p.bytes
	}
	return n
}

// unitOutcome is what reading a unit produced.
type unitOutcome struct {
	unit   *unit
	counts map[string]*inputCounts // by input name
	// lakeFiles are the staged Parquet files of the valid rows, by day.
	lakeFiles []stagedFile
	// quarantine are the staged Parquet files of the rejected rows.
	quarantine []string
	err        error
}

// inputCounts are the rows of one input in a unit.
type inputCounts struct {
	ok      int64            // valid rows staged
	reasons map[string]int64 // rejected rows by reason code
	rejects int64            // rows the CSV reader rejected (part of reasons)
	// lines are the physical data lines of a text input (no header, no
	// trailing blank lines), rejectedLines those the rejected rows span: a
	// record can span many (quoted line breaks, an unclosed quote).
	lines, rejectedLines int64
	// unclosedQuoteLine is the first line of a quote never closed, 0 if none.
	unclosedQuoteLine int64
}

func (o *unitOutcome) count(input string) *inputCounts {
	c, ok := o.counts[input]
	if !ok {
		c = &inputCounts{reasons: map[string]int64{}}
		o.counts[input] = c
	}
	return c
}

func (o *unitOutcome) rows() int64 {
	var n int64
	for _, c := range o.counts {
		n += c.ok
		for _, v := range c.reasons {
			n += v
		}
	}
	return n
}

// stagedFile is a staged lake file, the day partition it belongs to and the
// inputs with rows in it.
type stagedFile struct {
	path, day string
	inputs    []string
}

// cutUnits splits the inputs into units and hands each to emit as soon as it
// is ready. Small uncompressed text files are grouped, up to about
// segmentBytes per unit; compressed files are decompressed, and large text
// files cut at record boundaries, into segment files of about segmentBytes;
// Parquet files are read one per unit.
func (b *batchRun) cutUnits(ctx context.Context, inputs []*input, emit func(*unit) error) error {
	var group *unit
	flush := func() error {
		if group == nil {
			return nil
		}
		u := group
		group = nil
		return emit(u)
	}
	for _, in := range inputs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if b.src.Format == "parquet" {
			err := emit(&unit{seq: b.nextSeq(), parts: []*part{{in: in, path: in.path, firstLine: 1, bytes: in.size}}})
			if err != nil {
				return err
			}
			continue
		}
		if in.compression == "none" && in.size <= b.segmentBytes {
			p := &part{in: in, path: in.path, firstLine: 1}
			if err := tallyFile(ctx, p); err != nil {
				in.fail(err)
				continue
			}
			if group != nil && (!sameColumns(group.parts[0].in, in) || group.bytes()+p.bytes > b.segmentBytes || len(group.parts) >= maxUnitFiles) {
				if err := flush(); err != nil {
					return err
				}
			}
			if group == nil {
				group = &unit{seq: b.nextSeq(), header: b.textHeader()}
			}
			group.parts = append(group.parts, p)
			continue
		}
		if err := b.cutSegments(ctx, in, emit); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			in.fail(err)
		}
	}
	return flush()
}

// maxUnitFiles bounds the files one unit reads.
const maxUnitFiles = 256

func sameColumns(a, b *input) bool {
	return strings.Join(a.names, "\x00") == strings.Join(b.names, "\x00")
}

// cutSegments decompresses and cuts one text input into segment files.
func (b *batchRun) cutSegments(ctx context.Context, in *input, emit func(*unit) error) error {
	f, err := os.Open(in.path)
	if err != nil {
		return fmt.Errorf("%s: %w", in.path, err)
	}
	defer f.Close()
	raw := &countingReader{r: f}
	r, err := decompressor(bufio.NewReaderSize(raw, 1<<20), in.compression)
	if err != nil {
		return fmt.Errorf("%s: not a valid %s file: %w", in.path, in.compression, err)
	}
	defer r.Close()
	quote := b.quoteByte()
	var (
		seg     *os.File
		cur     *unit
		written int64 // bytes in the current segment
		tally   lineTally
		parity  int
		rawDone int64 // input bytes covered by the segments emitted so far
		buf     = make([]byte, 1<<20)
		first   = int64(1)
		header  = b.textHeader()
	)
	closeSeg := func() error {
		if err := seg.Close(); err != nil {
			return fmt.Errorf("write segment of %s: %w", in.path, err)
		}
		seg = nil
		p := cur.parts[0]
		p.lines, p.trailingBlank = tally.lines(), tally.trailingBlank()
		first += p.lines
		header = false
		// Progress counts input bytes; the reader runs a little ahead.
		p.bytes, rawDone = min(raw.n, in.size)-rawDone, min(raw.n, in.size)
		return emit(cur)
	}
	defer func() {
		if seg != nil {
			seg.Close()
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := r.Read(buf)
		data := buf[:n]
		for len(data) > 0 {
			if seg == nil {
				cur = &unit{seq: b.nextSeq(), header: header}
				p := &part{in: in, temp: true, firstLine: first}
				p.path = filepath.Join(b.stage, "segments", cur.name()+".txt")
				cur.parts = []*part{p}
				if err := os.MkdirAll(filepath.Dir(p.path), 0o755); err != nil {
					return err
				}
				if seg, err = os.Create(p.path); err != nil {
					return fmt.Errorf("write segment of %s: %w", in.path, err)
				}
				tally, parity, written = lineTally{}, 0, 0
			}
			take, cut := len(data), false
			if room := b.segmentBytes - written; int64(len(data)) >= room {
				if end := splitPoint(data, int(max(room, 0)), quote, parity); end >= 0 {
					take, cut = end, true
				}
			}
			if _, err := seg.Write(data[:take]); err != nil {
				return fmt.Errorf("write segment of %s: %w (is the disk full?)", in.path, err)
			}
			tally.add(data[:take])
			if quote != 0 {
				parity = (parity + bytes.Count(data[:take], []byte{quote})) % 2
			}
			written += int64(take)
			data = data[take:]
			if cut {
				cur.segmented = true
				if err := closeSeg(); err != nil {
					return err
				}
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return fmt.Errorf("%s: read %s content: %w (is the file truncated?)", in.path, in.compression, rerr)
		}
	}
	if seg != nil {
		cur.segmented = cur.parts[0].firstLine > 1
		return closeSeg()
	}
	return nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func tallyFile(ctx context.Context, p *part) error {
	f, err := os.Open(p.path)
	if err != nil {
		return fmt.Errorf("%s: %w", p.path, err)
	}
	defer f.Close()
	var t lineTally
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := f.Read(buf)
		t.add(buf[:n])
		p.bytes += int64(n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", p.path, err)
		}
	}
	p.lines, p.trailingBlank = t.lines(), t.trailingBlank()
	return nil
}

// expectedRows is how many rows the reader returns for a part if every
// record is one line: all lines after the header, less (CSV) the blank
// ones at the end, which the CSV reader skips.
func (b *batchRun) expectedRows(u *unit, p *part) int64 {
	n := p.lines - u.headerLines()
	if !b.lineFormat() {
		n -= p.trailingBlank
	}
	return max(n, 0)
}

func (b *batchRun) lineFormat() bool {
	return b.src.Format == "jsonl" || b.src.CSV.Delimiter == "whitespace"
}

// createParts writes the unit's parts table: per file DuckDB reads, its
// input, the rows expected before it in the unit (start) and the number
// that makes a row's position within the part its physical line (base).
func (b *batchRun) createParts(ctx context.Context, conn *sql.Conn, u *unit, table string) error {
	starts := b.partStarts(u)
	return appendRows(ctx, conn, table, "path VARCHAR, input VARCHAR, start BIGINT, base BIGINT, first_line BIGINT", func(add func(...driver.Value) error) error {
		for i, p := range u.parts {
			if err := add(p.path, p.in.name, starts[i], p.base(u), p.firstLine); err != nil {
				return err
			}
		}
		return nil
	})
}

// partStarts returns, per part of a unit, the rows expected before it.
func (b *batchRun) partStarts(u *unit) []int64 {
	starts := make([]int64, len(u.parts))
	var start int64
	for i, p := range u.parts {
		starts[i] = start
		start += b.expectedRows(u, p)
	}
	return starts
}

// base is the number that makes a row's position within the part its
// physical line.
func (p *part) base(u *unit) int64 { return p.firstLine - 1 + u.headerLines() }

// rawRelation is the SQL of a unit's rows as text: file (the input), line
// (provisional: exact when every record of the unit is one line), raw,
// reader_reason, and one VARCHAR column per source column. Rows the CSV
// reader rejects go to the rejects table named rejects.
func (b *batchRun) rawRelation(u *unit, names []string, parts, rejects string) string {
	src := b.src
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = warehouse.Ident(n)
	}
	paths := make([]string, len(u.parts))
	for i, p := range u.parts {
		paths[i] = p.path
	}
	// reader reads the parts as CSV with the given VARCHAR columns.
	reader := func(columns []string, delim, quote string) string {
		typed := make([]string, len(columns))
		for i, n := range columns {
			typed[i] = warehouse.Quote(n) + ": 'VARCHAR'"
		}
		csv := fmt.Sprintf(`read_csv(%s, columns={%s}, auto_detect=false, header=%t, delim=%s, quote=%s, escape=%s,
    compression='none', filename=true, store_rejects=true, rejects_table=%s, rejects_scan=%s, null_padding=false)`,
			fileList(paths), strings.Join(typed, ", "), u.header, warehouse.Quote(delim), warehouse.Quote(quote), warehouse.Quote(quote),
			warehouse.Quote(rejects), warehouse.Quote(rejects+"_scan"))
		// The reader's file_index picks a row's input and line offset from
		// lists, much cheaper than a join on the file name; a source column
		// of that name (in any case) hides it.
		if slices.ContainsFunc(columns, func(c string) bool { return strings.EqualFold(c, "file_index") }) {
			return fmt.Sprintf(`(SELECT rr.*, p.input AS file, rr.ordinality - p.start + p.base AS line
  FROM (SELECT * FROM %s WITH ORDINALITY) AS rr JOIN %s p ON p.path = rr.filename)`, csv, warehouse.Ident(parts))
		}
		inputs, offsets := make([]string, len(u.parts)), make([]string, len(u.parts))
		for i, start := range b.partStarts(u) {
			p := u.parts[i]
			inputs[i] = warehouse.Quote(p.in.name)
			offsets[i] = strconv.FormatInt(p.base(u)-start, 10)
		}
		return fmt.Sprintf(`(SELECT rr.*, [%s][rr.file_index::BIGINT + 1] AS file, rr.ordinality + [%s][rr.file_index::BIGINT + 1] AS line
  FROM (SELECT *, file_index FROM %s WITH ORDINALITY) AS rr)`, strings.Join(inputs, ", "), strings.Join(offsets, ", "), csv)
	}
	switch {
	case u.table != "":
		return fmt.Sprintf("SELECT %s AS file, line, %s AS raw, NULL::VARCHAR AS reader_reason, %s FROM %s",
			warehouse.Quote(u.parts[0].in.name), csvJoin(quoted, ",", `"`), strings.Join(quoted, ", "), warehouse.Ident(u.table))
	case src.Format == "parquet":
		casts := make([]string, len(names))
		named := make([]string, len(names))
		for i, q := range quoted {
			casts[i] = "CAST(" + q + " AS VARCHAR)"
			named[i] = casts[i] + " AS " + q
		}
		return fmt.Sprintf(`SELECT %s AS file, file_row_number + 1 AS line, %s AS raw, NULL::VARCHAR AS reader_reason, %s
FROM read_parquet(%s, file_row_number=true, hive_partitioning=false)`,
			warehouse.Quote(u.parts[0].in.name), csvJoin(casts, ",", `"`), strings.Join(named, ", "), warehouse.Quote(paths[0]))
	case b.lineFormat():
		lines := fmt.Sprintf("SELECT file, line, rtrim(text, E'\\r') AS raw FROM %s", reader([]string{"text"}, "\x01", ""))
		blank := "raw IS NULL OR trim(raw) = ''"
		if src.Format == "jsonl" {
			jsonPaths := make([]string, len(names))
			cols := make([]string, len(names))
			for i, n := range names {
				jsonPaths[i] = warehouse.Quote(`$."` + strings.ReplaceAll(n, `"`, `\"`) + `"`)
				cols[i] = fmt.Sprintf("vals[%d] AS %s", i+1, quoted[i])
			}
			return fmt.Sprintf(`SELECT file, line, raw, CASE WHEN %s THEN 'blank'
    WHEN NOT json_valid(raw) THEN 'bad_json' WHEN json_type(raw) <> 'OBJECT' THEN 'bad_json' END AS reader_reason, %s
FROM (SELECT *, CASE WHEN json_valid(raw) AND json_type(raw) = 'OBJECT' THEN json_extract_string(raw, [%s]) END AS vals FROM (%s))`,
				blank, strings.Join(cols, ", "), strings.Join(jsonPaths, ", "), lines)
		}
		cols := make([]string, len(names))
		for i, q := range quoted {
			cols[i] = fmt.Sprintf("parts[%d] AS %s", i+1, q)
		}
		return fmt.Sprintf(`SELECT file, line, raw, CASE WHEN %s THEN 'blank' WHEN len(parts) <> %d THEN 'bad_column_count' END AS reader_reason, %s
FROM (SELECT *, regexp_split_to_array(trim(raw), '\s+') AS parts FROM (%s))`,
			blank, len(names), strings.Join(cols, ", "), lines)
	default:
		delim := delimiter(src)
		return fmt.Sprintf("SELECT file, line, %s AS raw, NULL::VARCHAR AS reader_reason, %s FROM %s",
			csvJoin(quoted, delim, src.CSV.Quote), strings.Join(quoted, ", "),
			reader(names, delim, src.CSV.Quote))
	}
}

// csvJoin renders values as one delimited line, quoting those that need it.
func csvJoin(values []string, delim, quote string) string {
	q, d := warehouse.Quote(quote), warehouse.Quote(delim)
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = fmt.Sprintf(`CASE WHEN %[1]s IS NULL THEN ''
  WHEN contains(%[1]s, %[2]s) OR contains(%[1]s, %[3]s) OR contains(%[1]s, E'\n') OR contains(%[1]s, E'\r')
  THEN %[2]s || replace(%[1]s, %[2]s, %[2]s || %[2]s) || %[2]s ELSE %[1]s END`, v, q, d)
	}
	return "concat_ws(" + d + ", " + strings.Join(parts, ", ") + ")"
}

// parquetColumns returns the top-level columns of a Parquet file.
func parquetColumns(ctx context.Context, conn *sql.Conn, path string) ([]string, error) {
	rows, err := conn.QueryContext(ctx, "SELECT column_name FROM (DESCRIBE SELECT * FROM read_parquet("+warehouse.Quote(path)+", hive_partitioning=false))")
	if err != nil {
		return nil, fmt.Errorf("cannot read it as Parquet: %s (is it a complete Parquet file?)", firstLineOf(err.Error()))
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// unitTables names the per-unit tables on a worker's connection.
type unitTables struct {
	parts, rejects, checkRejects, lineMap, shifts, offsets string
}

func tablesOf(u *unit) unitTables {
	n := u.name()
	return unitTables{parts: "parts_" + n, rejects: "rej_" + n, checkRejects: "rej2_" + n,
		lineMap: "linemap_" + n, shifts: "shifts_" + n, offsets: "offsets_" + n}
}

func (t unitTables) all() []string {
	return []string{t.parts, t.rejects, t.rejects + "_scan", t.checkRejects, t.checkRejects + "_scan", t.lineMap, t.shifts, t.offsets}
}

// readUnit validates a unit's rows and stages them: valid rows as lake files
// by day, rejected rows as quarantine files with their line numbers.
func (b *batchRun) readUnit(ctx context.Context, conn *sql.Conn, u *unit) (out *unitOutcome) {
	out = &unitOutcome{unit: u, counts: map[string]*inputCounts{}}
	dir := filepath.Join(b.stage, u.name())
	t := tablesOf(u)
	defer func() {
		for _, table := range t.all() {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+warehouse.Ident(table))
		}
		for _, p := range u.parts {
			if p.temp {
				os.Remove(p.path)
			}
		}
	}()
	names := u.parts[0].in.names
	if b.src.Format == "parquet" {
		var err error
		if names, err = parquetColumns(ctx, conn, u.parts[0].path); err == nil {
			err = checkMapping(b.src, u.parts[0].in.name, names)
		}
		if err != nil {
			out.err = err
			return out
		}
	}
	text := u.table == "" && b.src.Format != "parquet"
	if text {
		if out.err = b.createParts(ctx, conn, u, t.parts); out.err != nil {
			return out
		}
		for _, p := range u.parts {
			out.count(p.in.name).lines += b.expectedRows(u, p)
		}
	}
	c := b.checks()
	lake := c.lakeQuery(b.rawRelation(u, names, t.parts, t.rejects))
	copyLake := fmt.Sprintf("COPY (%s) TO %s ("+warehouse.ParquetOptions+", PARTITION_BY (status, date))", lake, warehouse.Quote(dir))
	var err error
	if u.segmented {
		err = writeByDays(ctx, conn, lake, dir)
	} else {
		_, err = conn.ExecContext(ctx, copyLake)
	}
	if err != nil {
		out.err = readError(b.src, err)
		return out
	}
	statuses, err := stagedStatuses(ctx, conn, dir)
	if err != nil {
		out.err = err
		return out
	}
	accepted := map[string]int64{}
	checkRejected := false
	for _, s := range statuses {
		cnt := out.count(s.input)
		accepted[s.input] += s.rows
		switch s.status {
		case statusOK:
			cnt.ok += s.rows
		case statusBlank: // blank lines of a line format are not rows
		default:
			cnt.reasons[s.status] += s.rows
			checkRejected = true
		}
	}
	out.lakeFiles = stagedOK(statuses)
	var mapping *lineMapping
	offsets := ""
	if text {
		if err := b.readerRejects(ctx, conn, t, out); err != nil {
			out.err = err
			return out
		}
		if mapping, offsets, err = b.mapLines(ctx, conn, u, t, out, accepted); err != nil {
			out.err = err
			return out
		}
		if mapping != nil {
			for _, f := range out.lakeFiles {
				if err := mapping.renumber(ctx, conn, f.path); err != nil {
					out.err = err
					return out
				}
			}
		}
	}
	if checkRejected {
		path := filepath.Join(dir, "quarantine-checks.parquet")
		stmt := fmt.Sprintf("COPY (%s) TO %s ("+warehouse.ParquetOptions+")",
			c.quarantineQuery(b.rawRelation(u, names, t.parts, t.checkRejects), mapping), warehouse.Quote(path))
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			out.err = fmt.Errorf("stage rejected rows: %w", err)
			return out
		}
		out.quarantine = append(out.quarantine, path)
		if text {
			if out.err = countCheckedLines(ctx, conn, path, out); out.err != nil {
				return out
			}
		}
	}
	if out.readerRejects() > 0 {
		path := filepath.Join(dir, "quarantine-reader.parquet")
		stmt := fmt.Sprintf("COPY (%s) TO %s ("+warehouse.ParquetOptions+")",
			c.rejectsQuery(t.rejects, t.parts, offsets), warehouse.Quote(path))
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			out.err = fmt.Errorf("stage rejected rows: %w", err)
			return out
		}
		out.quarantine = append(out.quarantine, path)
	}
	// Rejected rows were staged by status only to be counted.
	for _, s := range statuses {
		if s.status != statusOK {
			os.RemoveAll(filepath.Dir(filepath.Dir(s.path)))
		}
	}
	return out
}

// daysPerWrite bounds the day partitions one statement of writeByDays has
// open: each holds buffers of its own (about half a MiB measured), so a unit
// spanning two years at once needs far more memory than its rows.
const daysPerWrite = 32

// writeByDays stages a unit's rows, partitioned like readUnit's COPY, in
// memory bounded by daysPerWrite rather than by the days the unit spans: the
// rows are written to one file first, then partitioned a few days per
// statement. One pass more than the single COPY, so only segments of large
// inputs take it.
func writeByDays(ctx context.Context, conn *sql.Conn, lake, dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	all := filepath.Join(dir, "unpartitioned.parquet")
	defer os.Remove(all)
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("COPY (%s) TO %s ("+warehouse.ParquetOptions+")", lake, warehouse.Quote(all))); err != nil {
		return err
	}
	rows := fmt.Sprintf("read_parquet(%s, hive_partitioning=false)", warehouse.Quote(all))
	var days []string
	dayRows, err := conn.QueryContext(ctx, "SELECT DISTINCT coalesce(CAST(date AS VARCHAR), '') AS d FROM "+rows+" ORDER BY d")
	if err != nil {
		return err
	}
	for dayRows.Next() {
		var d string
		if err := dayRows.Scan(&d); err != nil {
			dayRows.Close()
			return err
		}
		days = append(days, d)
	}
	dayRows.Close()
	if err := dayRows.Err(); err != nil {
		return err
	}
	for i := 0; i < len(days); i += daysPerWrite {
		chunk := days[i:min(i+daysPerWrite, len(days))]
		in := make([]string, len(chunk))
		for j, d := range chunk {
			in[j] = warehouse.Quote(d)
		}
		stmt := fmt.Sprintf("COPY (SELECT * FROM %s WHERE coalesce(CAST(date AS VARCHAR), '') IN (%s)) TO %s ("+warehouse.ParquetOptions+", PARTITION_BY (status, date), APPEND)",
			rows, strings.Join(in, ", "), warehouse.Quote(dir))
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}

func (o *unitOutcome) readerRejects() int64 {
	var n int64
	for _, c := range o.counts {
		n += c.rejects
	}
	return n
}

// stagedOK returns the staged files of valid rows.
func stagedOK(statuses []stagedStatus) []stagedFile {
	index := map[string]int{}
	var out []stagedFile
	for _, s := range statuses {
		if s.status != statusOK {
			continue
		}
		i, ok := index[s.path]
		if !ok {
			i = len(out)
			index[s.path] = i
			out = append(out, stagedFile{path: s.path, day: s.day})
		}
		out[i].inputs = append(out[i].inputs, s.input)
	}
	return out
}

// readerRejects counts, per input, the rows the CSV reader rejected, the
// physical lines they span, and the first line of an unclosed quote.
func (b *batchRun) readerRejects(ctx context.Context, conn *sql.Conn, t unitTables, out *unitOutcome) error {
	rows, err := conn.QueryContext(ctx, fmt.Sprintf(`SELECT p.input, reason, count(*), sum(span)::BIGINT,
  coalesce(min(p.first_line - 1 + line) FILTER (WHERE reason = 'unclosed_quote'), 0)::BIGINT
FROM (SELECT *, %s AS reason, %s AS span FROM (
  SELECT s.file_path AS path, r.line, min_by(r.error_type, r.column_idx) AS error_type,
    ltrim(min_by(r.csv_line, r.column_idx), E'\r\n') AS raw
  FROM %s r JOIN %s s USING (scan_id, file_id) GROUP BY ALL)) e JOIN %s p ON p.path = e.path GROUP BY ALL`,
		readerReason("error_type", "raw"), lineSpan("raw"),
		warehouse.Ident(t.rejects), warehouse.Ident(t.rejects+"_scan"), warehouse.Ident(t.parts)))
	if err != nil {
		return fmt.Errorf("count rejected rows: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var input, reason string
		var n, span, unclosed int64
		if err := rows.Scan(&input, &reason, &n, &span, &unclosed); err != nil {
			return err
		}
		c := out.count(input)
		c.reasons[reason] += n
		c.rejects += n
		c.rejectedLines += span
		if unclosed > 0 && (c.unclosedQuoteLine == 0 || unclosed < c.unclosedQuoteLine) {
			c.unclosedQuoteLine = unclosed
		}
	}
	return rows.Err()
}

// countCheckedLines adds, per input, the physical lines the rows in a
// staged quarantine file of check rejects span.
func countCheckedLines(ctx context.Context, conn *sql.Conn, path string, out *unitOutcome) error {
	rows, err := conn.QueryContext(ctx, fmt.Sprintf("SELECT file, sum(%s)::BIGINT FROM read_parquet(%s) GROUP BY 1",
		lineSpan("raw"), warehouse.Quote(path)))
	if err != nil {
		return fmt.Errorf("count rejected lines: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var input string
		var span int64
		if err := rows.Scan(&input, &span); err != nil {
			return err
		}
		out.count(input).rejectedLines += span
	}
	return rows.Err()
}

// lineMapping turns provisional line numbers into physical ones: per row for
// the parts whose records do not follow their lines (lineMap: input,
// provisional line -> line), and by a constant for the parts after them in
// the unit (shifts: input -> delta).
type lineMapping struct {
	lineMap, shifts string
}

func (m *lineMapping) joins(alias string) string {
	return fmt.Sprintf(" LEFT JOIN %[1]s m ON m.input = %[3]s.file AND m.k = %[3]s.line LEFT JOIN %[2]s s ON s.input = %[3]s.file",
		warehouse.Ident(m.lineMap), warehouse.Ident(m.shifts), alias)
}

func (m *lineMapping) lineExpr(alias string) string {
	return fmt.Sprintf("coalesce(m.line, %[1]s.line + coalesce(s.delta, 0))", alias)
}

// renumber rewrites a staged lake file with the mapped line numbers.
func (m *lineMapping) renumber(ctx context.Context, conn *sql.Conn, path string) error {
	tmp := path + ".renumber"
	stmt := fmt.Sprintf(`COPY (SELECT f.* REPLACE (coalesce(m.line, f.source_line + coalesce(s.delta, 0)) AS source_line)
FROM read_parquet(%s, hive_partitioning=false) f
  LEFT JOIN %s m ON m.input = f.source_file AND m.k = f.source_line
  LEFT JOIN %s s ON s.input = f.source_file)
TO %s (`+warehouse.ParquetOptions+`)`, warehouse.Quote(path), warehouse.Ident(m.lineMap), warehouse.Ident(m.shifts), warehouse.Quote(tmp))
	if _, err := conn.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("renumber lines: %w", err)
	}
	return os.Rename(tmp, path)
}

// mapLines checks that every part's rows got their physical line numbers
// and builds the mapping when some did not. A part is regular when the
// reader rejected none of its rows and returned as many rows as it has
// lines (less header and trailing blank lines): then each record is one
// line. For an irregular part, its text is scanned for record starts, the
// reader's rejects are placed by their byte offsets, and the remaining
// starts go, in order, to the accepted rows. Parts after an irregular one are
// shifted by the difference between the rows expected and read before them.
// It returns the mapping (nil when all parts are regular) and the name of
// the offsets table (path, pos -> line), "" when it has none.
func (b *batchRun) mapLines(ctx context.Context, conn *sql.Conn, u *unit, t unitTables, out *unitOutcome, accepted map[string]int64) (*lineMapping, string, error) {
	type fix struct {
		p                *part
		start, delta     int64 // actual rows before the part; expected - actual
		irregular        bool
		rejects, offsets []int64
	}
	var fixes []fix
	var expectedStart, actualStart int64
	needed := false
	for _, p := range u.parts {
		c := out.count(p.in.name)
		a := accepted[p.in.name]
		f := fix{p: p, start: actualStart, delta: expectedStart - actualStart}
		f.irregular = c.rejects > 0 || a != b.expectedRows(u, p)
		needed = needed || f.irregular || f.delta != 0
		fixes = append(fixes, f)
		expectedStart += b.expectedRows(u, p)
		actualStart += a
	}
	if !needed {
		return nil, "", nil
	}
	offsets := map[string][]int64{}
	if out.readerRejects() > 0 {
		rows, err := conn.QueryContext(ctx, fmt.Sprintf("SELECT DISTINCT s.file_path, r.line_byte_position FROM %s r JOIN %s s USING (scan_id, file_id)",
			warehouse.Ident(t.rejects), warehouse.Ident(t.rejects+"_scan")))
		if err != nil {
			return nil, "", err
		}
		for rows.Next() {
			var path string
			var pos int64
			if err := rows.Scan(&path, &pos); err != nil {
				rows.Close()
				return nil, "", err
			}
			offsets[path] = append(offsets[path], pos)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, "", err
		}
	}
	type lineRow struct {
		input   string
		k, line int64
	}
	var lines []lineRow
	type offsetRow struct {
		path      string
		pos, line int64
	}
	var placed []offsetRow
	var shifts []lineRow
	for _, f := range fixes {
		name := f.p.in.name
		if !f.irregular {
			if f.delta != 0 {
				shifts = append(shifts, lineRow{input: name, k: f.delta})
			}
			continue
		}
		scan, err := scanRecords(f.p.path, b.quoteByte(), u.header, offsets[f.p.path])
		if err != nil {
			return nil, "", err
		}
		rejected := map[int64]bool{}
		for pos, line := range scan.offsetLines {
			rejected[line] = true
			placed = append(placed, offsetRow{path: f.p.path, pos: pos, line: f.p.firstLine - 1 + line})
		}
		var starts []int64
		for _, s := range scan.starts {
			if !rejected[s] {
				starts = append(starts, s)
			}
		}
		if int64(len(starts)) != accepted[name] {
			// The scan and the reader disagree (stray quotes): keep positions.
			if b.Logger != nil {
				b.Logger.Warn("line numbers after a malformed record may be off", "file", name,
					"segment_first_line", f.p.firstLine, "records_found", len(starts), "rows_read", accepted[name])
			}
			if f.delta != 0 {
				shifts = append(shifts, lineRow{input: name, k: f.delta})
			}
			continue
		}
		base := f.p.firstLine - 1 + u.headerLines()
		for i, s := range starts {
			provisional, physical := base+int64(i)+1-f.delta, f.p.firstLine-1+s
			if provisional != physical {
				lines = append(lines, lineRow{input: name, k: provisional, line: physical})
			}
		}
	}
	m := &lineMapping{lineMap: t.lineMap, shifts: t.shifts}
	err := appendRows(ctx, conn, t.lineMap, "input VARCHAR, k BIGINT, line BIGINT", func(add func(...driver.Value) error) error {
		for _, l := range lines {
			if err := add(l.input, l.k, l.line); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = appendRows(ctx, conn, t.shifts, "input VARCHAR, delta BIGINT", func(add func(...driver.Value) error) error {
			for _, s := range shifts {
				if err := add(s.input, s.k); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err == nil && len(placed) > 0 {
		err = appendRows(ctx, conn, t.offsets, "path VARCHAR, pos BIGINT, line BIGINT", func(add func(...driver.Value) error) error {
			for _, o := range placed {
				if err := add(o.path, o.pos, o.line); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		return nil, "", err
	}
	if len(placed) == 0 {
		return m, "", nil
	}
	return m, t.offsets, nil
}

// appendRows creates table with the given columns and fills it through
// DuckDB's appender.
func appendRows(ctx context.Context, conn *sql.Conn, table, columns string, fill func(add func(...driver.Value) error) error) error {
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TABLE %s (%s)", warehouse.Ident(table), columns)); err != nil {
		return err
	}
	return conn.Raw(func(dc any) error {
		a, err := duckdb.NewAppenderFromConn(dc.(driver.Conn), "", table)
		if err != nil {
			return err
		}
		if err := fill(a.AppendRow); err != nil {
			a.Close()
			return err
		}
		return a.Close()
	})
}

// stagedStatus is the rows of one input in one file of a unit's read
// step output (status=<status>/date=<day>/*.parquet).
type stagedStatus struct {
	path, status, day, input string
	rows                     int64
}

func stagedStatuses(ctx context.Context, conn *sql.Conn, dir string) ([]stagedStatus, error) {
	files, err := filepath.Glob(filepath.Join(dir, "status=*", "date=*", "*.parquet"))
	if err != nil || len(files) == 0 {
		return nil, err
	}
	rows, err := conn.QueryContext(ctx, fmt.Sprintf("SELECT filename, source_file, count(*) FROM read_parquet(%s, hive_partitioning=false, filename=true) GROUP BY ALL", fileList(files)))
	if err != nil {
		return nil, fmt.Errorf("count staged rows: %w", err)
	}
	defer rows.Close()
	var out []stagedStatus
	for rows.Next() {
		var s stagedStatus
		if err := rows.Scan(&s.path, &s.input, &s.rows); err != nil {
			return nil, err
		}
		s.day = strings.TrimPrefix(filepath.Base(filepath.Dir(s.path)), "date=")
		s.status = strings.TrimPrefix(filepath.Base(filepath.Dir(filepath.Dir(s.path))), "status=")
		out = append(out, s)
	}
	return out, rows.Err()
}

func fileList(files []string) string {
	q := make([]string, len(files))
	for i, f := range files {
		q[i] = warehouse.Quote(f)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// readError turns a reader failure into a message that says what to check.
func readError(src Source, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "Permission denied"):
		return errors.New("permission denied (give the user running custmart read access)")
	case strings.Contains(msg, "invalid state"), strings.Contains(msg, "CSV Error"):
		return fmt.Errorf("cannot be read as CSV with the source's options (%s); check csv.delimiter, csv.quote and the line endings of source %s", firstLineOf(msg), src.Name)
	}
	return fmt.Errorf("cannot be read as %s: %s (check the format and csv options of source %s)", src.Format, firstLineOf(msg), src.Name)
}

func firstLineOf(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
