package lake

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/custmart/custmart/warehouse"
)

// Batch and file statuses in the manifest.
const (
	StatusCommitted = "committed" // batch: its files are in the lake
	StatusFailed    = "failed"    // batch or file: nothing was loaded
	StatusLoaded    = "loaded"    // file: its rows are in the lake
)

// Batch is the manifest record of one ingest of one or more input files of a
// source. Writing the committed record is the commit point: files staged
// before it are rolled back by recovery, files it lists are rolled forward.
type Batch struct {
	BatchID string      `json:"batch_id"`
	Source  string      `json:"source"`
	Status  string      `json:"status"`
	Files   []FileEntry `json:"files"`
	Dates   []string    `json:"dates"`
	Moves   []Move      `json:"moves"`
	// Deletes are lake files removed when the batch is applied: partitions
	// rewritten without the rows of files this batch replaces.
	Deletes []string `json:"deletes,omitempty"`
	// WatermarkFrom and WatermarkTo bound the watermark values of a database
	// batch: (from, to]. The source's state is derived from the latest
	// committed batch when it is behind, so a crash between the commit and
	// the state update does not read the rows again.
	WatermarkFrom string    `json:"watermark_from,omitempty"`
	WatermarkTo   string    `json:"watermark_to,omitempty"`
	StartedAt     time.Time `json:"started_at"`
	FinishedAt    time.Time `json:"finished_at"`
}

// FileEntry is what one input file became.
type FileEntry struct {
	File            string `json:"file"`
	Checksum        string `json:"checksum"`
	Size            int64  `json:"size"`
	Status          string `json:"status"`
	RowsRead        int64  `json:"rows_read"`
	RowsLoaded      int64  `json:"rows_loaded"`
	RowsQuarantined int64  `json:"rows_quarantined"`
	RowsDuplicate   int64  `json:"rows_duplicate"`
	// RowsRejected are the valid rows of a file that did not load (over the
	// quarantine share, an unclosed quote): read = loaded + quarantined +
	// duplicate + rejected.
	RowsRejected int64 `json:"rows_rejected"`
	// Lines are the file's physical data lines, QuarantinedLines those its
	// quarantined rows span; their ratio is checked against
	// max_quarantine_share.
	Lines            int64            `json:"lines,omitempty"`
	QuarantinedLines int64            `json:"quarantined_lines,omitempty"`
	AmountLoaded     string           `json:"amount_loaded"`
	Reasons          map[string]int64 `json:"reasons,omitempty"`
	Dates            []string         `json:"dates,omitempty"`
	// Replaces is the batch that held this file's previous content.
	Replaces string `json:"replaces,omitempty"`
	Error    string `json:"error,omitempty"`
}

// Move is one staged file and its final place, both relative to the lake.
type Move struct {
	From string `json:"from"`
	To   string `json:"to"`
	// Rows the file holds, from its footer when staged (0 in records written
	// before custmart kept them); Verify checks the file in place against it.
	Rows int64 `json:"rows,omitempty"`
}

// LiveFile is a loaded file whose rows are in the lake now.
type LiveFile struct {
	BatchID string
	Source  string
	FileEntry
}

// Manifest is the set of batch records under lake/_manifest.
type Manifest struct {
	layout  warehouse.Layout
	batches []Batch
}

// LoadManifest reads every batch record.
func LoadManifest(l warehouse.Layout) (*Manifest, error) {
	m := &Manifest{layout: l}
	entries, err := os.ReadDir(l.Manifest())
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(l.Manifest(), e.Name())
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read manifest %s: %w", path, err)
		}
		var b Batch
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, fmt.Errorf("manifest record %s is corrupt: %w (move it aside and re-run the ingest)", path, err)
		}
		m.batches = append(m.batches, b)
	}
	sort.Slice(m.batches, func(i, j int) bool { return m.batches[i].BatchID < m.batches[j].BatchID })
	return m, nil
}

// Batches returns the records in commit order.
func (m *Manifest) Batches() []Batch { return m.batches }

// Live returns, per source and input file, the loaded entry whose rows are in
// the lake: the latest committed one (a later load of a changed file
// replaces the earlier).
func (m *Manifest) Live() []LiveFile {
	latest := map[[2]string]LiveFile{}
	var order [][2]string
	for _, b := range m.batches {
		if b.Status != StatusCommitted {
			continue
		}
		for _, f := range b.Files {
			if f.Status != StatusLoaded {
				continue
			}
			key := [2]string{b.Source, f.File}
			if _, seen := latest[key]; !seen {
				order = append(order, key)
			}
			latest[key] = LiveFile{BatchID: b.BatchID, Source: b.Source, FileEntry: f}
		}
	}
	out := make([]LiveFile, len(order))
	for i, k := range order {
		out[i] = latest[k]
	}
	return out
}

func (m *Manifest) record(b Batch) error {
	raw, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(m.layout.Manifest(), b.BatchID+".json")
	if err := warehouse.WriteFileAtomic(path, raw, 0o644); err != nil {
		return fmt.Errorf("commit batch %s: %w", b.BatchID, err)
	}
	m.batches = append(m.batches, b)
	return nil
}

func (m *Manifest) find(id string) (Batch, bool) {
	for _, b := range m.batches {
		if b.BatchID == id {
			return b, true
		}
	}
	return Batch{}, false
}

// Recover finishes what a crashed ingest left: staged batches with a commit
// record are rolled forward (moved into place, replaced files removed), staged
// batches without one are rolled back (deleted). It is idempotent and runs
// under the writer lock before any ingest or transform.
func Recover(l warehouse.Layout) error {
	entries, err := os.ReadDir(l.Staging())
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(entries) == 0) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("recover lake: %w", err)
	}
	m, err := LoadManifest(l)
	if err != nil {
		return err
	}
	for _, e := range entries {
		dir := filepath.Join(l.Staging(), e.Name())
		// A failed batch commits its quarantine alone.
		if b, ok := m.find(e.Name()); ok && (b.Status == StatusCommitted || b.Status == StatusFailed && len(b.Moves) > 0) {
			if err := m.apply(b); err != nil {
				return fmt.Errorf("roll forward batch %s: %w", b.BatchID, err)
			}
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("roll back batch %s: %w", e.Name(), err)
		}
	}
	return warehouse.SyncDir(l.Staging())
}

// apply moves a committed batch's staged files into the lake and deletes the
// files it supersedes. Every step can be repeated after a crash.
func (m *Manifest) apply(b Batch) error {
	lake := m.layout.Lake()
	for _, mv := range b.Moves {
		src, dst := filepath.Join(lake, mv.From), filepath.Join(lake, mv.To)
		if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
			if _, err := os.Stat(dst); err == nil {
				continue // moved before the crash
			}
			return fmt.Errorf("staged file %s is missing and %s was never written", src, dst)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.Rename(src, dst); err != nil {
			return err
		}
	}
	for _, d := range b.Deletes {
		path := filepath.Join(lake, d)
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	// The moves are durable before the staged batch (the roll-forward's
	// source) goes away.
	if err := syncFS(lake); err != nil {
		return err
	}
	return os.RemoveAll(filepath.Join(m.layout.Staging(), b.BatchID))
}

// syncFS makes everything written to the file system holding path durable:
// files, and the directory entries of renames and removals. One call costs
// far less than an fsync of each of the hundreds of day partitions a batch
// can touch.
func syncFS(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}
