package lake

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// lineTally counts the physical lines of a text stream as it goes by: a last
// line without a newline counts, and blank lines ("" or "\r") at the end are
// counted apart, because DuckDB's CSV reader skips them.
type lineTally struct {
	newlines int64
	last     byte // last byte seen; 0 before any
	// content is true once a byte other than '\n' or '\r' was seen.
	content bool
	// tailNewlines counts the newlines in the run of '\n' and '\r' bytes that
	// ends the stream so far.
	tailNewlines int64
}

func (t *lineTally) add(p []byte) {
	if len(p) == 0 {
		return
	}
	n := int64(bytes.Count(p, []byte{'\n'}))
	t.newlines += n
	if i := lastContent(p); i >= 0 {
		t.content = true
		t.tailNewlines = int64(bytes.Count(p[i+1:], []byte{'\n'}))
	} else {
		t.tailNewlines += n
	}
	t.last = p[len(p)-1]
}

func lastContent(p []byte) int {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] != '\n' && p[i] != '\r' {
			return i
		}
	}
	return -1
}

// lines is the number of physical lines.
func (t *lineTally) lines() int64 {
	if t.last != 0 && t.last != '\n' {
		return t.newlines + 1
	}
	return t.newlines
}

// trailingBlank is the number of blank lines after the last line with content.
func (t *lineTally) trailingBlank() int64 {
	if !t.content {
		return t.lines()
	}
	blank := t.tailNewlines - 1 // the first newline ends the last line with content
	if t.last == '\r' {
		blank++ // an unterminated "\r" line
	}
	return max(blank, 0)
}

// recordScan is where the records of a delimited text unit start: the
// physical line (1-based, within the unit) of every record, and the line of
// every byte offset asked for (DuckDB reports rejected rows by byte offset).
type recordScan struct {
	starts      []int64
	offsetLines map[int64]int64
}

// scanRecords finds the record starts of a unit the way DuckDB's CSV reader
// splits it: a record starts on a line that begins outside quotes and is not
// blank; a quote character toggles the quoted state (a doubled quote toggles
// twice). For line formats (quote 0) every physical line is a record. The
// header line, when there is one, is not a record. It runs only for units
// whose line numbers cannot be derived from row positions alone.
func scanRecords(path string, quote byte, header bool, offsets []int64) (recordScan, error) {
	f, err := os.Open(path)
	if err != nil {
		return recordScan{}, err
	}
	defer f.Close()
	offsets = slices.Sorted(slices.Values(offsets))
	scan := recordScan{offsetLines: make(map[int64]int64, len(offsets))}
	r := bufio.NewReaderSize(f, 1<<20)
	var (
		lineNo, pos int64
		inQuote     bool
		next        int     // next offset to place
		pending     []int64 // offsets waiting for a line with content
		line        []byte
	)
	for {
		line = line[:0]
		for {
			chunk, err := r.ReadSlice('\n')
			line = append(line, chunk...)
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return recordScan{}, fmt.Errorf("%s: %w", path, err)
			}
			break
		}
		if len(line) == 0 {
			break
		}
		lineNo++
		content := bytes.TrimRight(line, "\r\n")
		// DuckDB may place a rejected row at the line break before it: an
		// offset in a line's break, or on a blank line, belongs to the next
		// line with content.
		if len(content) > 0 {
			for _, o := range pending {
				scan.offsetLines[o] = lineNo
			}
			pending = pending[:0]
		}
		contentEnd, end := pos+int64(len(content)), pos+int64(len(line))
		for next < len(offsets) && offsets[next] < end {
			if offsets[next] < contentEnd {
				scan.offsetLines[offsets[next]] = lineNo
			} else {
				pending = append(pending, offsets[next])
			}
			next++
		}
		pos = end
		switch {
		case quote == 0:
			scan.starts = append(scan.starts, lineNo)
		case !inQuote && len(content) > 0:
			scan.starts = append(scan.starts, lineNo)
		}
		if quote != 0 && bytes.Count(line, []byte{quote})%2 == 1 {
			inQuote = !inQuote
		}
	}
	if header && len(scan.starts) > 0 {
		scan.starts = scan.starts[1:]
	}
	return scan, nil
}

// splitPoint returns the end (exclusive) of the first line that ends at or
// after from in p, where the quote parity of p[:end] (starting from parity)
// is even, so that a cut there falls between records; -1 when p has none.
func splitPoint(p []byte, from int, quote byte, parity int) int {
	start := 0
	for i := from; i < len(p); {
		nl := bytes.IndexByte(p[i:], '\n')
		if nl < 0 {
			return -1
		}
		end := i + nl + 1
		if quote != 0 {
			parity = (parity + bytes.Count(p[start:end], []byte{quote})) % 2
			start = end
		}
		if parity == 0 {
			return end
		}
		i = end
	}
	return -1
}
