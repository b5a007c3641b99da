package lake_test

import (
	"bytes"
	"cmp"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// generated is an input file whose records carry, as their first field, the
// physical line they start on, with what ingest must make of them.
type generated struct {
	content []byte
	valid   []int64          // lines of the rows that load
	bad     map[int64]string // line -> reason code of the rows quarantined
}

type shape struct {
	crlf, bom bool
	records   int
	seed      uint64
	tag       string // prefixes the ids, unique across files
	note      string // the name of the last column (default note)
}

// genCSV writes a messy CSV: quoted fields with delimiters, doubled quotes
// and line breaks, blank lines, rows with too many or too few columns,
// invalid UTF-8, and rows that fail the checks, in random order.
func genCSV(s shape) generated {
	r := rand.New(rand.NewPCG(s.seed, 7))
	nl := "\n"
	if s.crlf {
		nl = "\r\n"
	}
	g := generated{bad: map[int64]string{}}
	var b bytes.Buffer
	if s.bom {
		b.WriteString("\ufeff")
	}
	note := cmp.Or(s.note, "note")
	b.WriteString("transaction_id,customer_id,ts,amount," + note + nl)
	line := int64(2)
	emit := func(text string) {
		b.WriteString(text + nl)
		line += int64(strings.Count(text, "\n")) + 1
	}
	for range s.records {
		id := s.tag + strconv.FormatInt(line, 10)
		switch k := r.IntN(20); {
		case k < 9:
			g.valid = append(g.valid, line)
			emit(id + ",C" + id + ",2024-03-01 10:00:00,12.50,plain")
		case k < 12:
			g.valid = append(g.valid, line)
			note := `"a, b` + nl + `c ""q"""`
			if k == 11 {
				note = `"x` + nl + nl + `y, z` + nl + `w"`
			}
			emit(id + ",C" + id + ",2024-03-01 10:00:00,1.25," + note)
		case k == 12:
			b.WriteString(nl) // blank line: not a record
			line++
		case k == 13:
			g.bad[line] = "bad_column_count"
			emit(id + ",C" + id + ",2024-03-01 10:00:00,1.00,x,EXTRA")
		case k == 14:
			g.bad[line] = "bad_column_count"
			emit(id + ",C" + id)
		case k == 15:
			g.bad[line] = "bad_amount"
			emit(id + ",C" + id + ",2024-03-01 10:00:00,abc,plain")
		case k == 16:
			g.bad[line] = "missing_customer_id"
			emit(id + ",,2024-03-01 10:00:00,1.00,\"multi" + nl + "line\"")
		case k == 17:
			g.bad[line] = "invalid_utf8"
			emit(id + ",C\xff" + id + ",2024-03-01 10:00:00,1.00,x")
		case k == 18:
			g.bad[line] = "bad_column_count"
			emit("   ") // blanks only: one empty column
		default:
			g.valid = append(g.valid, line)
			emit(id + `,"C` + id + `",2024-03-01 10:00:00,"3.00","quoted ""all"""`)
		}
	}
	b.WriteString(nl + nl) // trailing blank lines
	g.content = b.Bytes()
	return g
}

// checkLines ingests the files and checks every lake row and quarantined
// row against the line its record starts on.
func checkLines(t *testing.T, e *env, files map[string]generated, entry string) {
	t.Helper()
	report := e.mustIngest(e.source(entry))
	checkReconciled(t, report)
	for name, g := range files {
		path := filepath.Join(e.dir, "in", name)
		f := fileResult(t, report, name)
		if f.RowsLoaded != int64(len(g.valid)) || f.RowsQuarantined != int64(len(g.bad)) {
			t.Errorf("%s: loaded %d quarantined %d, want %d and %d (reasons %v)", name, f.RowsLoaded, f.RowsQuarantined, len(g.valid), len(g.bad), f.Reasons)
		}
		var got []int64
		for _, s := range e.queryStrings("SELECT source_line FROM "+e.lakeRel()+" WHERE source_file = ? AND source_line::VARCHAR <> regexp_extract(transaction_id, '[0-9]+$')", path) {
			n, _ := strconv.ParseInt(s, 10, 64)
			got = append(got, n)
		}
		if len(got) > 0 {
			t.Errorf("%s: %d lake rows have a source_line other than the line they start on, e.g. %v", name, len(got), got[:min(5, len(got))])
		}
		got = nil
		for _, s := range e.queryStrings("SELECT source_line FROM "+e.lakeRel()+" WHERE source_file = ? ORDER BY 1", path) {
			n, _ := strconv.ParseInt(s, 10, 64)
			got = append(got, n)
		}
		if !slices.Equal(got, g.valid) {
			t.Errorf("%s: lake lines %v,\nwant %v", name, got, g.valid)
		}
		want := map[string]bool{}
		for line, reason := range g.bad {
			want[fmt.Sprintf("%d|%s", line, reason)] = true
		}
		for _, row := range e.queryStrings("SELECT line, reason_code FROM "+e.quarantineRel()+" WHERE file = ?", path) {
			if !want[row] {
				t.Errorf("%s: unexpected quarantined row %s", name, row)
			}
			delete(want, row)
		}
		if len(want) > 0 {
			t.Errorf("%s: quarantined rows missing: %v", name, want)
		}
	}
}

func TestLineNumbersCSV(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		shape   shape
		files   int
		segment int64
	}{
		{"lf", shape{records: 300, seed: 1}, 1, 0},
		{"crlf bom", shape{crlf: true, bom: true, records: 300, seed: 2}, 1, 0},
		{"three files in one unit", shape{records: 120, seed: 3}, 3, 0},
		{"segments", shape{records: 160, seed: 4}, 1, 700},
		{"crlf segments, two files", shape{crlf: true, records: 80, seed: 5}, 2, 500},
		// The name of the reader's virtual column file_index.
		{"column File_Index, three files", shape{records: 120, seed: 6, note: "File_Index"}, 3, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.in.SegmentBytes = c.segment
			files := map[string]generated{}
			for i := range c.files {
				s := c.shape
				s.seed += uint64(i) * 100
				s.tag = fmt.Sprintf("F%d-", i)
				g := genCSV(s)
				name := fmt.Sprintf("f%d.csv", i)
				e.write(name, g.content)
				files[name] = g
			}
			checkLines(t, e, files, `  - name: lines
    path: `+filepath.Join(e.dir, "in")+`
    format: csv
    columns: {transaction_id: transaction_id, customer_id: customer_id, ts: ts, amount: amount}
    max_quarantine_share: 1
`)
		})
	}
}

// genLines writes a whitespace-delimited or JSON Lines file with blank
// lines, invalid UTF-8 and bad rows.
func genLines(jsonl bool, records int, seed uint64) generated {
	r := rand.New(rand.NewPCG(seed, 9))
	g := generated{bad: map[int64]string{}}
	var b bytes.Buffer
	line := int64(1)
	row := func(id int64, customer, amount string) string {
		if jsonl {
			return fmt.Sprintf(`{"id": "%d", "customer": "%s", "day": "20240301", "dollars": %s}`, id, customer, amount)
		}
		return fmt.Sprintf("%d   %s\t20240301  %s", id, customer, amount)
	}
	for range records {
		switch k := r.IntN(10); {
		case k < 6:
			g.valid = append(g.valid, line)
			b.WriteString(row(line, "C"+strconv.FormatInt(line, 10), "9.99"))
		case k == 6:
			// blank line: not a row
		case k == 7:
			g.bad[line] = "invalid_utf8"
			b.WriteString(row(line, "C\xff", "1.00"))
		case k == 8 && jsonl:
			g.bad[line] = "bad_json"
			b.WriteString(`{"id": "` + strconv.FormatInt(line, 10) + `", "customer": `)
		case k == 8:
			g.bad[line] = "bad_column_count"
			fmt.Fprintf(&b, "%d C%d", line, line)
		default:
			g.bad[line] = "bad_amount"
			b.WriteString(row(line, "C1", `"n/a"`))
		}
		b.WriteString("\n")
		line++
	}
	g.content = b.Bytes()
	return g
}

func TestLineNumbersLineFormats(t *testing.T) {
	t.Parallel()
	for _, jsonl := range []bool{false, true} {
		for _, segment := range []int64{0, 400} {
			t.Run(fmt.Sprintf("jsonl=%t segment=%d", jsonl, segment), func(t *testing.T) {
				e := newEnv(t)
				e.in.SegmentBytes = segment
				g := genLines(jsonl, 200, 11)
				name, entry := "w.txt", `  - name: lines
    path: `+filepath.Join(e.dir, "in")+`
    format: csv
    csv: {delimiter: whitespace, header: false, names: [transaction_id, customer, day, dollars], date_format: "%Y%m%d"}
    columns: {transaction_id: transaction_id, customer_id: customer, ts: day, amount: dollars}
    max_quarantine_share: 1
`
				if jsonl {
					name, entry = "w.jsonl", `  - name: lines
    path: `+filepath.Join(e.dir, "in")+`
    format: jsonl
    csv: {date_format: "%Y%m%d"}
    columns: {transaction_id: id, customer_id: customer, ts: day, amount: dollars}
    max_quarantine_share: 1
`
				}
				e.write(name, g.content)
				checkLines(t, e, map[string]generated{name: g}, entry)
			})
		}
	}
}
