package lake

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// An id run is a file of (hash, day) entries sorted by hash: blocks of
// runBlockEntries entries of 12 bytes (hash uint64, day int32 as days since
// 1970-01-01, little-endian), each followed by the CRC-32C of its entries
// (4 KiB a full block; the last block may be shorter), then the fences (the
// first hash of every block, 8 bytes each), then a footer: magic, entry
// count, CRC-32C of the fences, CRC-32C of the footer. A lookup reads the
// footer and the fences (8 bytes per 341 entries), then one block per
// distinct block a looked-up hash falls in; every block read is checked
// against its CRC.
const (
	runMagic        = "CMIDRUN1"
	runEntrySize    = 12
	runBlockEntries = 341
	runBlockSize    = runBlockEntries*runEntrySize + 4 // 4096
	runFooterSize   = 24
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// corruptRunError says a run file is not what its footer or CRCs promise.
type corruptRunError struct {
	path string
	why  string
}

func (e *corruptRunError) Error() string {
	return fmt.Sprintf("id run %s is damaged: %s", e.path, e.why)
}

func isCorruptRun(err error) bool {
	var c *corruptRunError
	return errors.As(err, &c)
}

// runBlocks is the number of blocks of n entries.
func runBlocks(n int64) int64 { return (n + runBlockEntries - 1) / runBlockEntries }

// runDataSize is the size of the blocks of n entries.
func runDataSize(n int64) int64 {
	full, rest := n/runBlockEntries, n%runBlockEntries
	size := full * runBlockSize
	if rest > 0 {
		size += rest*runEntrySize + 4
	}
	return size
}

// runWriter writes a run from entries added in hash order, to a temporary
// file renamed into place by commit.
type runWriter struct {
	f      *os.File
	w      *bufio.Writer
	path   string
	block  []byte
	n      int64
	last   uint64
	fences []uint64
}

func createRun(path string) (*runWriter, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("write id run %s: %w", path, err)
	}
	return &runWriter{f: f, w: bufio.NewWriterSize(f, 1<<20), path: path, block: make([]byte, 0, runBlockSize)}, nil
}

// add appends an entry; hashes must come in ascending order.
func (w *runWriter) add(h uint64, day int32) error {
	if w.n > 0 && h < w.last {
		return fmt.Errorf("write id run %s: hash %d after %d, not in order (please report this)", w.path, h, w.last)
	}
	if len(w.block) == 0 {
		w.fences = append(w.fences, h)
	}
	w.block = binary.LittleEndian.AppendUint64(w.block, h)
	w.block = binary.LittleEndian.AppendUint32(w.block, uint32(day))
	w.last = h
	w.n++
	if len(w.block) == runBlockEntries*runEntrySize {
		return w.flushBlock()
	}
	return nil
}

func (w *runWriter) flushBlock() error {
	if len(w.block) == 0 {
		return nil
	}
	w.block = binary.LittleEndian.AppendUint32(w.block, crc32.Checksum(w.block, castagnoli))
	_, err := w.w.Write(w.block)
	w.block = w.block[:0]
	if err != nil {
		return fmt.Errorf("write id run %s: %w", w.path, err)
	}
	return nil
}

// commit writes the fences and the footer and renames the run into place
// (fsynced; the caller syncs the directory).
func (w *runWriter) commit() error {
	if err := w.flushBlock(); err != nil {
		w.abort()
		return err
	}
	fences := make([]byte, 0, 8*len(w.fences))
	for _, h := range w.fences {
		fences = binary.LittleEndian.AppendUint64(fences, h)
	}
	footer := append([]byte(runMagic), make([]byte, 16)...)
	binary.LittleEndian.PutUint64(footer[8:], uint64(w.n))
	binary.LittleEndian.PutUint32(footer[16:], crc32.Checksum(fences, castagnoli))
	binary.LittleEndian.PutUint32(footer[20:], crc32.Checksum(footer[:20], castagnoli))
	if _, err := w.w.Write(fences); err != nil {
		w.abort()
		return fmt.Errorf("write id run %s: %w", w.path, err)
	}
	if _, err := w.w.Write(footer); err != nil {
		w.abort()
		return fmt.Errorf("write id run %s: %w", w.path, err)
	}
	if err := w.w.Flush(); err != nil {
		w.abort()
		return fmt.Errorf("write id run %s: %w", w.path, err)
	}
	if err := w.f.Sync(); err != nil {
		w.abort()
		return fmt.Errorf("sync id run %s: %w", w.path, err)
	}
	tmp := w.f.Name()
	if err := w.f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write id run %s: %w", w.path, err)
	}
	if err := os.Rename(tmp, w.path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write id run %s: %w", w.path, err)
	}
	return nil
}

func (w *runWriter) abort() {
	w.f.Close()
	os.Remove(w.f.Name())
}

// runReader reads a run whose footer and fences were checked.
type runReader struct {
	f      *os.File
	path   string
	n      int64
	fences []uint64
	// What lookups read: blocks, and bytes including footer and fences.
	blocksRead int64
	bytesRead  int64
}

// openRun opens a run and checks its size, footer and fences.
func openRun(path string) (*runReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r := &runReader{f: f, path: path}
	if err := r.readHead(); err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

func (r *runReader) readHead() error {
	st, err := r.f.Stat()
	if err != nil {
		return err
	}
	if st.Size() < runFooterSize {
		return &corruptRunError{r.path, fmt.Sprintf("%d bytes, shorter than its footer", st.Size())}
	}
	footer := make([]byte, runFooterSize)
	if _, err := r.f.ReadAt(footer, st.Size()-runFooterSize); err != nil {
		return fmt.Errorf("read id run %s: %w", r.path, err)
	}
	r.bytesRead += runFooterSize
	if string(footer[:8]) != runMagic || binary.LittleEndian.Uint32(footer[20:]) != crc32.Checksum(footer[:20], castagnoli) {
		return &corruptRunError{r.path, "bad footer"}
	}
	n := int64(binary.LittleEndian.Uint64(footer[8:]))
	blocks := runBlocks(n)
	if n < 0 || runDataSize(n)+8*blocks+runFooterSize != st.Size() {
		return &corruptRunError{r.path, fmt.Sprintf("%d bytes for %d entries", st.Size(), n)}
	}
	fences := make([]byte, 8*blocks)
	if _, err := r.f.ReadAt(fences, runDataSize(n)); err != nil {
		return fmt.Errorf("read id run %s: %w", r.path, err)
	}
	r.bytesRead += int64(len(fences))
	if crc32.Checksum(fences, castagnoli) != binary.LittleEndian.Uint32(footer[16:]) {
		return &corruptRunError{r.path, "bad fences"}
	}
	r.n = n
	r.fences = make([]uint64, blocks)
	for i := range r.fences {
		r.fences[i] = binary.LittleEndian.Uint64(fences[8*i:])
		if i > 0 && r.fences[i] < r.fences[i-1] {
			return &corruptRunError{r.path, fmt.Sprintf("fence %d out of order", i)}
		}
	}
	return nil
}

func (r *runReader) close() { r.f.Close() }

// blockEntries is the number of entries of block i.
func (r *runReader) blockEntries(i int) int {
	if rest := r.n - int64(i)*runBlockEntries; rest < runBlockEntries {
		return int(rest)
	}
	return runBlockEntries
}

// readBlock reads block i into buf and checks it: its CRC, its first hash
// against the fence, its order.
func (r *runReader) readBlock(i int, buf []byte) ([]byte, error) {
	n := r.blockEntries(i)
	buf = buf[:n*runEntrySize+4]
	if _, err := r.f.ReadAt(buf, int64(i)*runBlockSize); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &corruptRunError{r.path, fmt.Sprintf("block %d cut short", i)}
		}
		return nil, fmt.Errorf("read id run %s: %w", r.path, err)
	}
	r.blocksRead++
	r.bytesRead += int64(len(buf))
	body := buf[:n*runEntrySize]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(buf[len(body):]) {
		return nil, &corruptRunError{r.path, fmt.Sprintf("block %d fails its CRC", i)}
	}
	if binary.LittleEndian.Uint64(body) != r.fences[i] {
		return nil, &corruptRunError{r.path, fmt.Sprintf("block %d does not start at its fence", i)}
	}
	return body, nil
}

func entryAt(body []byte, j int) (uint64, int32) {
	e := body[j*runEntrySize:]
	return binary.LittleEndian.Uint64(e), int32(binary.LittleEndian.Uint32(e[8:]))
}

// lookup calls found for every entry whose hash is in hashes (ascending,
// distinct), reading only the blocks those hashes fall in.
func (r *runReader) lookup(hashes []uint64, found func(h uint64, day int32)) error {
	buf := make([]byte, runBlockSize)
	cached := -1
	var body []byte
	for _, h := range hashes {
		// The last block starting at or before h holds h if any does; a
		// hash repeated across a block boundary starts in an earlier one.
		last := sort.Search(len(r.fences), func(i int) bool { return r.fences[i] > h }) - 1
		if last < 0 {
			continue
		}
		first := last
		for first > 0 && r.fences[first] == h {
			first--
		}
		for b := first; b <= last; b++ {
			if b != cached {
				var err error
				if body, err = r.readBlock(b, buf); err != nil {
					return err
				}
				cached = b
			}
			n := len(body) / runEntrySize
			j := sort.Search(n, func(j int) bool { h2, _ := entryAt(body, j); return h2 >= h })
			for ; j < n; j++ {
				h2, day := entryAt(body, j)
				if h2 != h {
					break
				}
				found(h, day)
			}
		}
	}
	return nil
}

// runCursor reads a run's entries in order, block by block.
type runCursor struct {
	r       *runReader
	block   int
	body    []byte
	j       int
	buf     []byte
	started bool
	h       uint64
	day     int32
}

func (r *runReader) cursor() *runCursor {
	return &runCursor{r: r, buf: make([]byte, runBlockSize)}
}

// next moves to the next entry; it reports false at the end.
func (c *runCursor) next() (bool, error) {
	for c.j*runEntrySize >= len(c.body) {
		if c.block >= len(c.r.fences) {
			return false, nil
		}
		body, err := c.r.readBlock(c.block, c.buf)
		if err != nil {
			return false, err
		}
		c.body, c.j = body, 0
		c.block++
	}
	h, day := entryAt(c.body, c.j)
	if c.started && h < c.h {
		return false, &corruptRunError{c.r.path, fmt.Sprintf("entries out of order in block %d", c.block-1)}
	}
	c.h, c.day, c.started = h, day, true
	c.j++
	return true, nil
}

// mergeRuns writes the entries of the given runs, in hash order and
// without repeated (hash, day) entries, as one run at path. It returns
// the number of entries written.
func mergeRuns(path string, runs []*runReader) (int64, error) {
	w, err := createRun(path)
	if err != nil {
		return 0, err
	}
	var live []*runCursor
	for _, r := range runs {
		c := r.cursor()
		ok, err := c.next()
		if err != nil {
			w.abort()
			return 0, err
		}
		if ok {
			live = append(live, c)
		}
	}
	var lastH uint64
	var lastDay int32
	for len(live) > 0 {
		min := 0
		for i, c := range live[1:] {
			if c.h < live[min].h || (c.h == live[min].h && c.day < live[min].day) {
				min = i + 1
			}
		}
		c := live[min]
		if w.n == 0 || c.h != lastH || c.day != lastDay {
			if err := w.add(c.h, c.day); err != nil {
				w.abort()
				return 0, err
			}
			lastH, lastDay = c.h, c.day
		}
		ok, err := c.next()
		if err != nil {
			w.abort()
			return 0, err
		}
		if !ok {
			live = append(live[:min], live[min+1:]...)
		}
	}
	n := w.n
	if err := w.commit(); err != nil {
		return 0, err
	}
	return n, nil
}
