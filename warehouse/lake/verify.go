package lake

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/custmart/custmart/warehouse"
)

// Files returns the lake files, relative to the lake, that the batches of
// the manifest leave in place: the moves of every applied batch (committed
// ones, and the quarantine of failed ones) minus the files later batches
// delete. They are sorted by path.
func (m *Manifest) Files() []Move {
	placed := map[string]Move{}
	for _, b := range m.batches {
		if b.Status != StatusCommitted && b.Status != StatusFailed {
			continue
		}
		for _, mv := range b.Moves {
			placed[mv.To] = mv
		}
		for _, d := range b.Deletes {
			delete(placed, d)
		}
	}
	out := make([]Move, 0, len(placed))
	for _, mv := range placed {
		out = append(out, mv)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].To < out[j].To })
	return out
}

// QuarantineFiles returns the quarantine files in place, relative to the lake.
func (m *Manifest) QuarantineFiles() []string {
	var out []string
	for _, mv := range m.Files() {
		if isQuarantine(mv.To) {
			out = append(out, mv.To)
		}
	}
	return out
}

// quarantineDir holds the quarantine files, under the lake.
const quarantineDir = "quarantine"

func isQuarantine(rel string) bool {
	return strings.HasPrefix(rel, quarantineDir+string(filepath.Separator))
}

// DamageError says how the lake's files differ from what its manifest
// records, and which source files a repair reads again.
type DamageError struct {
	// Missing are files the manifest places that are gone, relative to the lake.
	Missing []string
	// Damaged are files that do not read back whole, with why.
	Damaged map[string]string
	// Unexpected are transaction files no batch wrote: readers of the lake
	// would count their rows.
	Unexpected []string
	// LakeRows are the rows of the readable transaction files in place,
	// ManifestRows those the live inputs loaded.
	LakeRows, ManifestRows int64
	// Affected are the live inputs that had rows in a missing or damaged file.
	Affected []LiveFile
}

// lost are the missing and damaged files, sorted.
func (e *DamageError) lost() []string {
	out := slices.Clone(e.Missing)
	for f := range e.Damaged {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// listedAtMost is how many files of each kind a damage message names.
const listedAtMost = 10

func (e *DamageError) Error() string {
	var b strings.Builder
	b.WriteString("the lake does not match its manifest (lake/_manifest):")
	list := func(kind string, files []string, detail func(string) string) {
		for i, f := range files {
			if i == listedAtMost {
				fmt.Fprintf(&b, "\n  ... and %d more %s files", len(files)-listedAtMost, kind)
				break
			}
			fmt.Fprintf(&b, "\n  %s: lake/%s%s", kind, filepath.ToSlash(f), detail(f))
		}
	}
	list("missing", e.Missing, func(string) string { return "" })
	damaged := make([]string, 0, len(e.Damaged))
	for f := range e.Damaged {
		damaged = append(damaged, f)
	}
	sort.Strings(damaged)
	list("damaged", damaged, func(f string) string { return ": " + e.Damaged[f] })
	list("unexpected", e.Unexpected, func(string) string {
		return " (written by no committed batch; custmart ingest --repair sets it aside)"
	})
	if e.LakeRows != e.ManifestRows {
		fmt.Fprintf(&b, "\n  rows: the lake's transaction files hold %d, the committed batches loaded %d", e.LakeRows, e.ManifestRows)
	}
	switch {
	case len(e.Affected) > 0:
		files := make([]string, len(e.Affected))
		for i, lf := range e.Affected {
			files[i] = lf.File
		}
		fmt.Fprintf(&b, "\nrun `custmart ingest --repair` to read these source files again: %s", strings.Join(files, ", "))
	case len(e.Unexpected) > 0 || len(e.Missing) > 0 || len(e.Damaged) > 0:
		b.WriteString("\nrun `custmart ingest --repair` to set aside what no batch wrote and drop what no live input held")
	default:
		b.WriteString("\nno file is named by the manifest's per-file counts (batches written before custmart recorded them); restore the lake from a backup, or re-ingest into a new data directory")
	}
	return b.String()
}

// Verify checks the lake's files against the committed manifest, reading
// Parquet footers only: every file the batches placed is there and whole,
// holds the rows its batch wrote, no other transaction file is in the lake,
// and the transaction files hold the rows the live inputs loaded. It
// returns a *DamageError when they differ. The caller holds the writer lock
// and has run Recover.
func Verify(ctx context.Context, conn *sql.Conn, l warehouse.Layout, m *Manifest) error {
	placed := m.Files()
	dmg := &DamageError{Damaged: map[string]string{}}
	var present []string
	expected := map[string]bool{}
	for _, mv := range placed {
		expected[mv.To] = true
		if _, err := os.Stat(filepath.Join(l.Lake(), mv.To)); errors.Is(err, os.ErrNotExist) {
			dmg.Missing = append(dmg.Missing, mv.To)
		} else {
			present = append(present, mv.To)
		}
	}
	rows, err := footerRows(ctx, conn, l, present, dmg.Damaged)
	if err != nil {
		return err
	}
	for _, mv := range placed {
		n, ok := rows[mv.To]
		if !ok {
			continue
		}
		if mv.Rows > 0 && n != mv.Rows {
			dmg.Damaged[mv.To] = fmt.Sprintf("holds %d rows, its batch wrote %d", n, mv.Rows)
			continue
		}
		if !isQuarantine(mv.To) {
			dmg.LakeRows += n
		}
	}
	inLake, err := filepath.Glob(l.TransactionsGlob())
	if err != nil {
		return err
	}
	for _, f := range inLake {
		rel, _ := filepath.Rel(l.Lake(), f)
		if !expected[rel] {
			dmg.Unexpected = append(dmg.Unexpected, rel)
		}
	}
	live := m.Live()
	for _, lf := range live {
		dmg.ManifestRows += lf.RowsLoaded
	}
	if len(dmg.Missing) == 0 && len(dmg.Damaged) == 0 && len(dmg.Unexpected) == 0 && dmg.LakeRows == dmg.ManifestRows {
		return nil
	}
	dmg.Affected = affectedInputs(m, live, dmg.lost())
	return dmg
}

// footerRows reads the row counts of the given lake files from their
// footers. A file whose footer does not read goes into damaged.
func footerRows(ctx context.Context, conn *sql.Conn, l warehouse.Layout, files []string, damaged map[string]string) (map[string]int64, error) {
	rows := map[string]int64{}
	const chunk = 1000
	for start := 0; start < len(files); start += chunk {
		part := files[start:min(start+chunk, len(files))]
		err := readFooters(ctx, conn, l, part, rows)
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// One file spoils the whole read: find which, one by one.
		for _, f := range part {
			if err := readFooters(ctx, conn, l, []string{f}, rows); err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				damaged[f] = footerError(err)
			}
		}
	}
	return rows, nil
}

func readFooters(ctx context.Context, conn *sql.Conn, l warehouse.Layout, files []string, into map[string]int64) error {
	abs := make([]string, len(files))
	byPath := make(map[string]string, len(files))
	for i, f := range files {
		abs[i] = filepath.Join(l.Lake(), f)
		byPath[abs[i]] = f
	}
	rows, err := conn.QueryContext(ctx, "SELECT file_name, num_rows FROM parquet_file_metadata("+fileList(abs)+")")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			return err
		}
		into[byPath[name]] = n
	}
	return rows.Err()
}

func footerError(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "magic bytes") {
		return "not a whole Parquet file (its footer is missing: truncated or overwritten)"
	}
	return msg
}

// affectedInputs returns the live inputs that had rows in the lost files: a
// transaction file holds rows of its batch's inputs on its day (its name
// starts with the batch id), a quarantine file the rejected rows of its
// batch's inputs.
func affectedInputs(m *Manifest, live []LiveFile, lost []string) []LiveFile {
	hit := map[[2]string]bool{}
	var out []LiveFile
	for _, rel := range lost {
		id := ownerBatch(m, rel)
		day := strings.TrimPrefix(filepath.Base(filepath.Dir(rel)), "date=")
		for _, lf := range live {
			held := lf.BatchID == id && (isQuarantine(rel) && lf.RowsQuarantined > 0 || !isQuarantine(rel) && slices.Contains(lf.Dates, day))
			key := [2]string{lf.Source, lf.File}
			if held && !hit[key] {
				hit[key] = true
				out = append(out, lf)
			}
		}
	}
	return out
}

// ownerBatch is the batch whose rows a lake file holds: its name starts
// with the batch id (a rewrite keeps the id of the batch it rewrites).
func ownerBatch(m *Manifest, rel string) string {
	base := strings.TrimSuffix(filepath.Base(rel), ".parquet")
	for _, b := range m.batches {
		if base == b.BatchID || strings.HasPrefix(base, b.BatchID+"-") {
			return b.BatchID
		}
	}
	return ""
}

// ReadRelation is the lake's transactions as a reader outside the writer
// lock (custmart query) sees them: the files the committed batches placed,
// listed from the manifest rather than globbed, so the files of a batch
// being applied are never half seen (a file removed by a concurrent replace
// fails the read, loudly). While a committed batch is not all in place yet
// (being applied, or left so by a crash), every read fails saying so. It is
// "" when the lake holds no transactions.
func ReadRelation(l warehouse.Layout) (string, error) {
	m, err := LoadManifest(l)
	if err != nil {
		return "", err
	}
	for _, b := range m.batches {
		if b.Status != StatusCommitted {
			continue
		}
		if _, err := os.Stat(filepath.Join(l.Staging(), b.BatchID)); err == nil {
			return Unreadable(fmt.Sprintf("lake: batch %s of source %s is committed but not all in place yet; run custmart ingest (or wait for the running one) to finish it", b.BatchID, b.Source)), nil
		}
	}
	var files, missing []string
	for _, mv := range m.Files() {
		if isQuarantine(mv.To) {
			continue
		}
		path := filepath.Join(l.Lake(), mv.To)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			missing = append(missing, "lake/"+filepath.ToSlash(mv.To))
		}
		files = append(files, path)
	}
	if len(missing) > 0 {
		return Unreadable(fmt.Sprintf("lake: %d committed file(s) are missing (%s); run custmart ingest --repair",
			len(missing), strings.Join(missing[:min(len(missing), listedAtMost)], ", "))), nil
	}
	if len(files) == 0 {
		return "", nil
	}
	return fmt.Sprintf("SELECT * FROM read_parquet(%s, hive_partitioning=true)", fileList(files)), nil
}

// Unreadable is a relation with the columns ReadRelation gives whose every
// read fails with msg.
func Unreadable(msg string) string {
	return failingRelation(append(slices.Clip(TransactionSchema), "date DATE"), msg)
}
