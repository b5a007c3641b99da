package lake

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// listFiles expands a source path: a file, a glob, or a directory of drops.
// It also returns the matched paths it skips, each with why (directories,
// symlink loops, devices): a drop folder holding them needs a look.
func listFiles(src Source) (paths, skipped []string, err error) {
	if strings.ContainsAny(src.Path, "*?[") {
		// A glob matches nothing both in an empty drop folder and in one that
		// is not there (an unmounted share): only the first is a success.
		dir := globRoot(src.Path)
		if info, err := os.Stat(dir); err != nil || !info.IsDir() {
			return nil, nil, fmt.Errorf("source %s: the folder %s of the glob %s does not exist (is the drop folder mounted? check sources.path in the config)", src.Name, dir, src.Path)
		}
		matches, err := filepath.Glob(src.Path)
		if err != nil {
			return nil, nil, fmt.Errorf("source %s: bad glob %q: %w (fix sources.path)", src.Name, src.Path, err)
		}
		paths, skipped = regularFiles(matches)
		return paths, skipped, nil
	}
	info, err := os.Stat(src.Path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, nil, fmt.Errorf("source %s: path %s does not exist (check sources.path in the config, or create the inbox directory)", src.Name, src.Path)
	case errors.Is(err, os.ErrPermission):
		return nil, nil, fmt.Errorf("source %s: path %s: permission denied (give the user running custmart read access to it)", src.Name, src.Path)
	case err != nil:
		return nil, nil, fmt.Errorf("source %s: %w", src.Name, err)
	}
	if !info.IsDir() {
		return []string{src.Path}, nil, nil
	}
	entries, err := os.ReadDir(src.Path)
	if errors.Is(err, os.ErrPermission) {
		return nil, nil, fmt.Errorf("source %s: inbox %s: permission denied (give the user running custmart read and execute access to the directory)", src.Name, src.Path)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("source %s: read inbox %s: %w", src.Name, src.Path, err)
	}
	var names []string
	for _, e := range entries {
		// Dot files are partial uploads; truth.json sits beside fixtures.
		if !strings.HasPrefix(e.Name(), ".") && e.Name() != "truth.json" {
			names = append(names, filepath.Join(src.Path, e.Name()))
		}
	}
	paths, skipped = regularFiles(names)
	return paths, skipped, nil
}

// globRoot is the longest leading part of a glob without wildcards, as a
// directory.
func globRoot(pattern string) string {
	dir := pattern
	for strings.ContainsAny(dir, "*?[") {
		dir = filepath.Dir(dir)
	}
	return dir
}

// regularFiles keeps the paths that are regular files (following symlinks),
// sorted, and describes the others.
func regularFiles(paths []string) (files, skipped []string) {
	for _, p := range paths {
		info, err := os.Stat(p)
		switch {
		case err != nil && errors.Is(err, syscall.ELOOP):
			skipped = append(skipped, p+": a symlink loop")
		case err != nil && errors.Is(err, os.ErrNotExist):
			skipped = append(skipped, p+": a dangling symlink")
		case err != nil:
			skipped = append(skipped, fmt.Sprintf("%s: %v", p, err))
		case info.IsDir():
			skipped = append(skipped, p+": a directory, not a file")
		case !info.Mode().IsRegular():
			skipped = append(skipped, p+": not a regular file ("+info.Mode().Type().String()+")")
		default:
			files = append(files, p)
		}
	}
	sort.Strings(files)
	return files, skipped
}

// headSize is how much of a file's (decompressed) start is kept for sniffing
// its format and reading its header line.
const headSize = 64 << 10

// inputFile is an input file as its first pass found it.
type inputFile struct {
	path     string
	size     int64
	checksum string
	// compression is resolved from the magic bytes: none, gzip or zstd.
	compression string
	head        []byte // the start of the decompressed content
	// identity is the file's, taken before it was hashed; unread says the
	// file was not read at all, its identity matching its inbox record.
	identity fileIdentity
	unread   bool
}

var (
	gzipMagic    = []byte{0x1f, 0x8b}
	zstdMagic    = []byte{0x28, 0xb5, 0x2f, 0xfd}
	parquetMagic = []byte("PAR1")
)

// scanInput checksums a file and reads the start of its content. Errors name
// the file and say what to do.
func scanInput(path string, src Source) (inputFile, error) {
	f, err := os.Open(path)
	switch {
	case errors.Is(err, os.ErrPermission):
		return inputFile{}, fmt.Errorf("%s: permission denied (give the user running custmart read access to the file)", path)
	case errors.Is(err, os.ErrNotExist):
		return inputFile{}, fmt.Errorf("%s: the file disappeared while it was being ingested (was it moved by another process?)", path)
	case err != nil:
		return inputFile{}, fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	taken := time.Now()
	info, err := f.Stat()
	if err != nil {
		return inputFile{}, fmt.Errorf("%s: %w", path, err)
	}
	identity, _ := identityOf(info, taken)
	h := sha256.New()
	raw := make([]byte, headSize)
	n, err := io.ReadFull(f, raw)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return inputFile{}, fmt.Errorf("%s: read: %w", path, err)
	}
	raw = raw[:n]
	h.Write(raw)
	rest, err := io.Copy(h, f)
	if err != nil {
		return inputFile{}, fmt.Errorf("%s: read: %w", path, err)
	}
	in := inputFile{path: path, size: int64(n) + rest, checksum: hex.EncodeToString(h.Sum(nil)), identity: identity}
	if in.size == 0 {
		return in, fmt.Errorf("%s: the file is empty (0 bytes); remove it from the source or fix the export that wrote it", path)
	}
	if in.compression, err = detectCompression(path, raw, src); err != nil {
		return in, err
	}
	if in.head, err = decompressHead(raw, in.compression); err != nil {
		return in, fmt.Errorf("%s: not a valid %s file: %w (check the file, or the source's compression setting)", path, in.compression, err)
	}
	if len(in.head) == 0 {
		return in, fmt.Errorf("%s: the file is empty after %s decompression; remove it or fix the export", path, in.compression)
	}
	return in, checkFormat(in, src)
}

func detectCompression(path string, raw []byte, src Source) (string, error) {
	magic := "none"
	switch {
	case bytes.HasPrefix(raw, gzipMagic):
		magic = "gzip"
	case bytes.HasPrefix(raw, zstdMagic):
		magic = "zstd"
	}
	if src.Compression == "auto" || src.Compression == magic {
		return magic, nil
	}
	if magic == "none" {
		return "", fmt.Errorf("%s: the source says compression: %s but the file is not %s-compressed; set compression: auto or none for source %s", path, src.Compression, src.Compression, src.Name)
	}
	return "", fmt.Errorf("%s: the file is %s-compressed but the source says compression: %s; set compression: auto or %s for source %s", path, magic, src.Compression, magic, src.Name)
}

// decompressHead decompresses as much of the start of a file as raw holds.
func decompressHead(raw []byte, compression string) ([]byte, error) {
	if compression == "none" {
		return raw, nil
	}
	r, err := decompressor(bytes.NewReader(raw), compression)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	head := make([]byte, headSize)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, err
	}
	return head[:n], nil
}

func decompressor(r io.Reader, compression string) (io.ReadCloser, error) {
	switch compression {
	case "gzip":
		return gzip.NewReader(r)
	case "zstd":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	}
	return io.NopCloser(r), nil
}

// checkFormat catches a file whose content does not match the source's format.
func checkFormat(in inputFile, src Source) error {
	isParquet := bytes.HasPrefix(in.head, parquetMagic)
	switch {
	case src.Format == "parquet" && in.compression != "none":
		return fmt.Errorf("%s: the source says format: parquet but the file is %s-compressed text; set the format of source %s to csv or jsonl", in.path, in.compression, src.Name)
	case src.Format == "parquet" && !isParquet:
		return fmt.Errorf("%s: not a Parquet file (it starts with %q); set the format of source %s to csv or jsonl, or fix the file", in.path, firstLine(in.head, 40), src.Name)
	case src.Format != "parquet" && isParquet:
		return fmt.Errorf("%s: this is a Parquet file but source %s says format: %s; set format: parquet", in.path, src.Name, src.Format)
	case src.Format == "jsonl":
		if first := bytes.TrimLeft(bytes.TrimPrefix(in.head, bom), " \t\r\n"); len(first) > 0 && first[0] != '{' {
			return fmt.Errorf("%s: does not look like JSON Lines (the first line is %q; each line must be a JSON object); check the format of source %s", in.path, firstLine(in.head, 60), src.Name)
		}
	}
	return nil
}

var bom = []byte("\ufeff")

// firstLine returns the first line of p without BOM and line ending, cut to
// at most limit bytes (0: no limit).
func firstLine(p []byte, limit int) string {
	p = bytes.TrimPrefix(p, bom)
	if i := bytes.IndexByte(p, '\n'); i >= 0 {
		p = p[:i]
	}
	p = bytes.TrimRight(p, "\r")
	if limit > 0 && len(p) > limit {
		p = p[:limit]
	}
	return string(p)
}

// columnNames returns the source columns of a text input: the header line,
// the configured names, or the keys of its first JSON objects.
func columnNames(in inputFile, src Source) ([]string, error) {
	switch {
	case src.Format == "jsonl":
		return jsonKeys(in.head), nil
	case !src.CSV.Header:
		return src.CSV.Names, nil
	}
	if !bytes.ContainsAny(in.head, "\n") && len(in.head) == headSize {
		return nil, fmt.Errorf("%s: the first line is longer than %d KiB; a header line was expected (set csv.header: false with csv.names if the file has none)", in.path, headSize>>10)
	}
	header := firstLine(in.head, 0)
	if strings.TrimSpace(header) == "" {
		return nil, fmt.Errorf("%s: the first line is empty; a header line was expected (fix the file, or set csv.header: false with csv.names)", in.path)
	}
	if !utf8.ValidString(header) {
		return nil, fmt.Errorf("%s: the header line is not valid UTF-8; re-export the file as UTF-8", in.path)
	}
	var fields []string
	if src.CSV.Delimiter == "whitespace" {
		fields = strings.Fields(header)
	} else {
		fields = splitHeader(header, delimiter(src), src.CSV.Quote)
	}
	if names := src.CSV.Names; len(names) > 0 {
		if len(names) != len(fields) {
			return nil, fmt.Errorf("%s: csv.names lists %d columns but the header line has %d (%s); fix csv.names of source %s", in.path, len(names), len(fields), header, src.Name)
		}
		return names, nil
	}
	seen := map[string]bool{}
	for _, f := range fields {
		if seen[f] {
			return nil, fmt.Errorf("%s: the header names column %q twice; rename one, or set csv.names for source %s", in.path, f, src.Name)
		}
		seen[f] = true
	}
	return fields, nil
}

func delimiter(src Source) string {
	if src.CSV.Delimiter == `\t` {
		return "\t"
	}
	return src.CSV.Delimiter
}

// splitHeader splits a header line into column names, honouring quotes.
func splitHeader(line, delim, quote string) []string {
	var fields []string
	var cur strings.Builder
	inQuote := false
	for i := 0; i < len(line); {
		switch {
		case quote != "" && strings.HasPrefix(line[i:], quote):
			if inQuote && strings.HasPrefix(line[i+len(quote):], quote) {
				cur.WriteString(quote)
				i += 2 * len(quote)
				continue
			}
			inQuote = !inQuote
			i += len(quote)
		case !inQuote && strings.HasPrefix(line[i:], delim):
			fields = append(fields, strings.TrimSpace(cur.String()))
			cur.Reset()
			i += len(delim)
		default:
			cur.WriteByte(line[i])
			i++
		}
	}
	return append(fields, strings.TrimSpace(cur.String()))
}

// jsonKeys returns the sorted union of the keys of the JSON objects on the
// complete lines of head.
func jsonKeys(head []byte) []string {
	keys := map[string]bool{}
	lines := bytes.Split(bytes.TrimPrefix(head, bom), []byte{'\n'})
	if len(head) == headSize {
		lines = lines[:len(lines)-1] // the last one may be cut
	}
	for _, line := range lines {
		var obj map[string]json.RawMessage
		if json.Unmarshal(line, &obj) == nil {
			for k := range obj {
				keys[k] = true
			}
		}
	}
	return slices.Sorted(func(yield func(string) bool) {
		for k := range keys {
			if !yield(k) {
				return
			}
		}
	})
}

// checkMapping fails when the source maps a canonical column to a column the
// input does not have, listing the columns it does have.
func checkMapping(src Source, what string, have []string) error {
	for _, canon := range CanonicalColumns {
		col := src.Columns[canon]
		if col == "" || slices.Contains(have, col) {
			continue
		}
		return fmt.Errorf("%s: source %s maps %s to column %q, which is not there; its columns are: %s (fix columns.%s in the config)",
			what, src.Name, canon, col, strings.Join(have, ", "), canon)
	}
	return nil
}
