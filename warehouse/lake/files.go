package lake

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/custmart/custmart/jobs/config"
)

// listFiles expands a source path: a file, a glob, or a directory of drops.
func listFiles(src config.Source) ([]string, error) {
	if strings.ContainsAny(src.Path, "*?[") {
		matches, err := filepath.Glob(src.Path)
		if err != nil {
			return nil, fmt.Errorf("source %s: bad glob %q: %w", src.Name, src.Path, err)
		}
		return regularFiles(matches), nil
	}
	info, err := os.Stat(src.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("source %s: path %s does not exist (check sources.path in the config)", src.Name, src.Path)
	}
	if errors.Is(err, os.ErrPermission) {
		return nil, fmt.Errorf("source %s: path %s: permission denied (give the custmart user read access)", src.Name, src.Path)
	}
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", src.Name, err)
	}
	if !info.IsDir() {
		return []string{src.Path}, nil
	}
	entries, err := os.ReadDir(src.Path)
	if err != nil {
		return nil, fmt.Errorf("source %s: read inbox %s: %w", src.Name, src.Path, err)
	}
	var paths []string
	for _, e := range entries {
		// Dot files are partial uploads; truth.json sits beside fixtures.
		if !strings.HasPrefix(e.Name(), ".") && e.Name() != "truth.json" {
			paths = append(paths, filepath.Join(src.Path, e.Name()))
		}
	}
	return regularFiles(paths), nil
}

func regularFiles(paths []string) []string {
	var out []string
	for _, p := range paths {
		if info, err := os.Stat(p); err == nil && info.Mode().IsRegular() {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

func checksum(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return "", 0, fmt.Errorf("%s: permission denied (give the custmart user read access)", path)
		}
		return "", 0, fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// readHeader returns the first line of a (possibly compressed) text file,
// without a BOM or line ending.
func readHeader(path string, src config.Source) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	var r io.Reader = f
	switch compressionOf(path, src) {
	case "gzip":
		gz, err := gzip.NewReader(f)
		if err != nil {
			return "", fmt.Errorf("%s: not a gzip file: %w (check the source's compression)", path, err)
		}
		defer gz.Close()
		r = gz
	case "zstd":
		zr, err := zstd.NewReader(f)
		if err != nil {
			return "", fmt.Errorf("%s: not a zstd file: %w (check the source's compression)", path, err)
		}
		defer zr.Close()
		r = zr
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("%s: read header: %w", path, err)
	}
	line = strings.TrimRight(strings.TrimPrefix(line, "\ufeff"), "\r\n")
	if strings.TrimSpace(line) == "" {
		return "", fmt.Errorf("%s: the first line is empty; a header line was expected (fix the file, or set csv.header: false with csv.names)", path)
	}
	return line, nil
}

func compressionOf(path string, src config.Source) string {
	if src.Compression != "auto" {
		return src.Compression
	}
	switch {
	case strings.HasSuffix(path, ".gz"):
		return "gzip"
	case strings.HasSuffix(path, ".zst"):
		return "zstd"
	}
	return "none"
}
