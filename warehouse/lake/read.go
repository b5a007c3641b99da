package lake

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/custmart/custmart/jobs/config"
	"github.com/custmart/custmart/warehouse"
)

// rawTable is the per-connection temp view holding a batch of input files as
// text: file, line (physical line number in the file, or row number for
// Parquet), raw (the row as text), reader_reason (a reason code when the
// reader itself rejected the row), and one VARCHAR column per source column.
const rawTable = "raw_rows"

// loadRaw reads the files into rawTable and returns the source's column names.
// All columns are read as text so that validation sees every value as it was
// written; the reader's own rejects (wrong column count, invalid UTF-8,
// broken quoting) become rows with reader_reason set, so none is lost.
func loadRaw(ctx context.Context, conn *sql.Conn, src config.Source, files []string) ([]string, error) {
	// Reject tables outlive a scan on a pooled connection: start each batch clean.
	for _, t := range []string{"reader_rejects", "reader_scans"} {
		if _, err := conn.ExecContext(ctx, "DROP TABLE IF EXISTS "+t); err != nil {
			return nil, err
		}
	}
	switch {
	case src.Format == "parquet":
		return loadParquet(ctx, conn, files)
	case src.Format == "jsonl":
		return loadLines(ctx, conn, src, files, jsonColumns)
	case src.CSV.Delimiter == "whitespace":
		return loadLines(ctx, conn, src, files, whitespaceColumns)
	default:
		return loadCSV(ctx, conn, src, files)
	}
}

func compression(src config.Source) string {
	if src.Compression == "none" {
		return "'none'"
	}
	return warehouse.Quote(src.Compression)
}

func fileList(files []string) string {
	q := make([]string, len(files))
	for i, f := range files {
		q[i] = warehouse.Quote(f)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func delimiter(src config.Source) string {
	if src.CSV.Delimiter == `\t` {
		return "\t"
	}
	return src.CSV.Delimiter
}

func loadCSV(ctx context.Context, conn *sql.Conn, src config.Source, files []string) ([]string, error) {
	delim := delimiter(src)
	names := src.CSV.Names
	if *src.CSV.Header {
		header, err := readHeader(files[0], src)
		if err != nil {
			return nil, err
		}
		if len(names) == 0 {
			names = splitHeader(header, delim, src.CSV.Quote)
		} else if n := len(splitHeader(header, delim, src.CSV.Quote)); len(names) != n {
			return nil, fmt.Errorf("%s: csv.names lists %d columns but the header line has %d (%s)", files[0], len(names), n, header)
		}
	}
	cols := make([]string, len(names))
	valueCols := make([]string, len(names))
	for i, n := range names {
		cols[i] = warehouse.Quote(n) + ": 'VARCHAR'"
		valueCols[i] = "r." + warehouse.Ident(n)
	}
	opts := []string{
		"columns={" + strings.Join(cols, ", ") + "}",
		"auto_detect=false",
		fmt.Sprintf("header=%t", *src.CSV.Header),
		"delim=" + warehouse.Quote(delim),
		"quote=" + warehouse.Quote(src.CSV.Quote),
		"escape=" + warehouse.Quote(src.CSV.Quote),
		"compression=" + compression(src),
		"filename=true",
		"store_rejects=true",
		"rejects_table='reader_rejects'",
		"rejects_scan='reader_scans'",
		"null_padding=false",
	}
	load := fmt.Sprintf(`CREATE OR REPLACE TEMP TABLE csv_rows AS SELECT * FROM read_csv(%s, %s) WITH ORDINALITY`,
		fileList(files), strings.Join(opts, ", "))
	if _, err := conn.ExecContext(ctx, load); err != nil {
		return nil, readError(files, err)
	}
	header := 0
	if *src.CSV.Header {
		header = 1
	}
	return names, defineRaw(ctx, conn, files, "csv_rows", header,
		"concat_ws("+warehouse.Quote(delim)+", "+strings.Join(valueCols, ", ")+")", "NULL::VARCHAR", strings.Join(valueCols, ", "), len(names))
}

// defineRaw creates rawTable over a loaded table of accepted rows (with
// filename and ordinality columns) and the reader's rejects. Accepted rows
// are numbered within their file; the physical line adds the header and the
// rejected lines before the row (an ASOF join on the number of accepted rows
// each reject follows), so every row can be traced to its line.
func defineRaw(ctx context.Context, conn *sql.Conn, files []string, table string, header int, rawExpr, reasonExpr, valueCols string, ncols int) error {
	var rejects int64
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM reader_rejects").Scan(&rejects); err != nil {
		return readError(files, err)
	}
	fileOrd := fmt.Sprintf(`WITH offsets AS (SELECT filename, min(ordinality) - 1 AS off FROM %[1]s GROUP BY filename),
acc AS (SELECT r.*, r.ordinality - o.off AS file_ord FROM %[1]s r JOIN offsets o USING (filename))`, table)
	var view string
	if rejects == 0 {
		view = fmt.Sprintf(`CREATE OR REPLACE TEMP VIEW %[1]s AS %[2]s
SELECT r.filename AS file, r.file_ord + %[3]d AS line, %[4]s AS raw, %[5]s AS reader_reason, NULL::VARCHAR AS reader_message, %[6]s
FROM acc r`, rawTable, fileOrd, header, rawExpr, reasonExpr, valueCols)
	} else {
		view = fmt.Sprintf(`CREATE OR REPLACE TEMP VIEW %[1]s AS %[2]s,
rej AS (
  SELECT s.file_path AS file, e.line, first(e.error_type) AS error_type, first(e.csv_line) AS csv_line,
         first(e.error_message) AS error_message
  FROM reader_rejects e JOIN reader_scans s USING (scan_id, file_id) GROUP BY ALL),
rej_rank AS (
  SELECT file, line - %[3]d - row_number() OVER (PARTITION BY file ORDER BY line) AS accepted_before,
         row_number() OVER (PARTITION BY file ORDER BY line) AS rejects_so_far
  FROM rej)
SELECT r.filename AS file, r.file_ord + %[3]d + coalesce(k.rejects_so_far, 0) AS line,
       %[4]s AS raw, %[5]s AS reader_reason, NULL::VARCHAR AS reader_message, %[6]s
FROM acc r ASOF LEFT JOIN rej_rank k ON r.filename = k.file AND r.file_ord > k.accepted_before
UNION ALL
SELECT file, line, csv_line, %[7]s, error_type || ': ' || error_message, %[8]s
FROM rej`, rawTable, fileOrd, header, rawExpr, reasonExpr, valueCols, readerReasonSQL, nulls(ncols))
	}
	if _, err := conn.ExecContext(ctx, view); err != nil {
		return readError(files, err)
	}
	return nil
}

// readerReasonSQL maps DuckDB CSV reject types to quarantine reason codes.
const readerReasonSQL = `CASE
  WHEN error_type = 'INVALID ENCODING' OR error_type ILIKE '%unicode%' THEN 'invalid_utf8'
  WHEN error_type IN ('TOO MANY COLUMNS', 'MISSING COLUMNS') THEN 'bad_column_count'
  ELSE 'malformed_row' END`

func nulls(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = "NULL::VARCHAR"
	}
	return strings.Join(parts, ", ")
}

// splitHeader splits a header line into column names.
func splitHeader(line, delim, quote string) []string {
	fields := strings.Split(line, delim)
	for i, f := range fields {
		f = strings.TrimSpace(f)
		if quote != "" {
			f = strings.TrimSuffix(strings.TrimPrefix(f, quote), quote)
		}
		fields[i] = f
	}
	return fields
}

// lineColumns builds the per-column expressions of a line-oriented format
// over the lines table.
type lineColumns func(ctx context.Context, conn *sql.Conn, src config.Source, files []string) (names []string, exprs []string, reason string, err error)

// loadLines reads files one physical line per row and splits the lines in
// SQL: whitespace-delimited text (runs of blanks, as in CDNOW) and JSON Lines.
func loadLines(ctx context.Context, conn *sql.Conn, src config.Source, files []string, split lineColumns) ([]string, error) {
	header := 0
	if src.Format == "csv" && *src.CSV.Header {
		header = 1
	}
	stmt := fmt.Sprintf(`
CREATE OR REPLACE TEMP TABLE lines AS
SELECT filename, ordinality, replace(text, E'\r', '') AS text
FROM read_csv(%s, columns={'text': 'VARCHAR'}, header=%t, delim=E'\x1f', quote='', escape='', auto_detect=false,
              compression=%s, filename=true, store_rejects=true, rejects_table='reader_rejects', rejects_scan='reader_scans') WITH ORDINALITY`,
		fileList(files), header == 1, compression(src))
	if _, err := conn.ExecContext(ctx, stmt); err != nil {
		return nil, readError(files, err)
	}
	names, exprs, reason, err := split(ctx, conn, src, files)
	if err != nil {
		return nil, err
	}
	cols := make([]string, len(names))
	for i, n := range names {
		cols[i] = exprs[i] + " AS " + warehouse.Ident(n)
	}
	if _, err := conn.ExecContext(ctx, "DELETE FROM lines WHERE trim(text) = ''"); err != nil {
		return nil, err
	}
	return names, defineRaw(ctx, conn, files, "lines", header, "r.text", reason, strings.Join(cols, ", "), len(names))
}

func whitespaceColumns(ctx context.Context, conn *sql.Conn, src config.Source, files []string) ([]string, []string, string, error) {
	names := src.CSV.Names
	if len(names) == 0 {
		header, err := readHeader(files[0], src)
		if err != nil {
			return nil, nil, "", err
		}
		names = strings.Fields(header)
	}
	exprs := make([]string, len(names))
	for i := range names {
		exprs[i] = fmt.Sprintf("regexp_split_to_array(trim(r.text), '\\s+')[%d]", i+1)
	}
	reason := fmt.Sprintf("CASE WHEN len(regexp_split_to_array(trim(r.text), '\\s+')) <> %d THEN 'bad_column_count' END", len(names))
	return names, exprs, reason, nil
}

func jsonColumns(ctx context.Context, conn *sql.Conn, src config.Source, files []string) ([]string, []string, string, error) {
	rows, err := conn.QueryContext(ctx, `SELECT DISTINCT unnest(json_keys(text)) FROM (SELECT text FROM lines WHERE json_valid(text) LIMIT 10000)`)
	if err != nil {
		return nil, nil, "", readError(files, err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, nil, "", err
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, "", readError(files, err)
	}
	slices.Sort(names)
	exprs := make([]string, len(names))
	for i, n := range names {
		exprs[i] = fmt.Sprintf("json_extract_string(r.text, %s)", warehouse.Quote("$."+jsonPathKey(n)))
	}
	return names, exprs, "CASE WHEN NOT json_valid(r.text) OR json_type(r.text) <> 'OBJECT' THEN 'bad_json' END", nil
}

func jsonPathKey(k string) string {
	return `"` + strings.ReplaceAll(k, `"`, `\"`) + `"`
}

func loadParquet(ctx context.Context, conn *sql.Conn, files []string) ([]string, error) {
	rows, err := conn.QueryContext(ctx, `SELECT name FROM parquet_schema(?) WHERE num_children IS NULL OR num_children = 0`, files[0])
	if err != nil {
		return nil, readError(files, err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, readError(files, err)
	}
	cols := make([]string, len(names))
	named := make([]string, len(names))
	for i, n := range names {
		cols[i] = "CAST(" + warehouse.Ident(n) + " AS VARCHAR)"
		named[i] = cols[i] + " AS " + warehouse.Ident(n)
	}
	stmt := fmt.Sprintf(`CREATE OR REPLACE TEMP VIEW %s AS
SELECT filename AS file, file_row_number + 1 AS line, concat_ws(',', %s) AS raw, NULL::VARCHAR AS reader_reason,
       NULL::VARCHAR AS reader_message, %s
FROM read_parquet(%s, file_row_number=true, filename=true, union_by_name=true)`, rawTable, strings.Join(cols, ", "), strings.Join(named, ", "), fileList(files))
	if _, err := conn.ExecContext(ctx, stmt); err != nil {
		return nil, readError(files, err)
	}
	return names, nil
}

func readError(files []string, err error) error {
	what := files[0]
	if len(files) > 1 {
		what = fmt.Sprintf("%s (and %d more files of the batch)", files[0], len(files)-1)
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "No files found"), strings.Contains(msg, "No such file"):
		return fmt.Errorf("%s: file not found (check the source path)", what)
	case strings.Contains(msg, "Permission denied"):
		return fmt.Errorf("%s: permission denied (give the custmart user read access)", what)
	}
	return fmt.Errorf("%s: cannot read as the configured format: %w (check the source's format and csv options)", what, err)
}
