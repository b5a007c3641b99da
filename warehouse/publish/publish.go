// Package publish turns the marts the last transform staged into an
// immutable, versioned directory of Parquet files plus a DuckDB file (a hard
// link of the staged one) and an HTML report of them, and switches the
// CURRENT pointer to it atomically. Readers resolve CURRENT once and keep
// reading that version, so they never see a half-published one.
package publish

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/engine"
	"github.com/custmart/custmart/warehouse/lake"
	"github.com/custmart/custmart/warehouse/report"
	"github.com/custmart/custmart/warehouse/transform"
)

// Info is written as _version.json inside each published version.
type Info struct {
	Version     string           `json:"version"`
	AsOf        string           `json:"as_of"`
	PublishedAt time.Time        `json:"published_at"`
	Marts       map[string]int64 `json:"marts"` // mart -> rows
	// Keys are the marts' declared keys, in the order the rows are stored;
	// custmart serve builds its row indexes for the one-column keys.
	Keys map[string][]string `json:"keys,omitempty"`
	// Report is the version's HTML report, a file in its directory.
	Report string `json:"report,omitempty"`
}

const infoFile = "_version.json"

// Publisher publishes the marts of one data directory. The caller holds the
// writer lock.
type Publisher struct {
	Layout warehouse.Layout
	Engine engine.Settings
	// Keep is how many versions stay on disk (the current one always does).
	Keep int
	Now  func() time.Time
}

// Publish copies the marts of the last successful transform into a new
// version and makes it current.
func (p *Publisher) Publish(ctx context.Context) (Info, error) {
	if !transform.WarehouseExists(p.Layout) {
		return Info{}, errors.New("nothing to publish: no transform has run in this data directory (run `custmart transform` or `custmart run`)")
	}
	db, err := engine.Open(ctx, p.Layout.WarehouseDB(), p.Engine)
	if err != nil {
		return Info{}, err
	}
	defer db.Close()
	state, err := transform.LoadState(ctx, db)
	if err != nil {
		return Info{}, err
	}
	if state.Status != "ok" {
		return Info{}, fmt.Errorf("the last transform (as of %s) failed, so the previous marts stay published: %s", state.AsOf, state.Error)
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	if state.Staged == "" {
		return Info{}, errors.New("the last transform staged no marts (it ran under an older custmart): run `custmart transform` again, then publish")
	}
	staged := p.Layout.StagedBuild(state.Staged)
	info := Info{Version: versionName(now()), AsOf: state.AsOf, PublishedAt: now().UTC(), Marts: state.Rows, Keys: state.Keys}
	tmp := filepath.Join(p.Layout.Marts(), ".tmp-"+info.Version)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return info, err
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	if err := writeVersion(ctx, db, staged, tmp, state.Marts); err != nil {
		return info, err
	}
	header := report.Header{Version: info.Version, AsOf: info.AsOf}
	if err := report.WriteFile(ctx, filepath.Join(tmp, warehouse.MartsDBName), p.Engine, header, filepath.Join(tmp, report.FileName)); err != nil {
		return info, fmt.Errorf("publish version %s: %w", info.Version, err)
	}
	info.Report = report.FileName
	raw, _ := json.MarshalIndent(info, "", "  ")
	if err := warehouse.WriteFileAtomic(filepath.Join(tmp, infoFile), raw, 0o644); err != nil {
		return info, err
	}
	if err := warehouse.SyncTree(tmp); err != nil {
		return info, err
	}
	if err := warehouse.RenameDurable(tmp, p.Layout.Version(info.Version)); err != nil {
		return info, fmt.Errorf("publish version %s: %w", info.Version, err)
	}
	done = true
	if err := warehouse.WriteFileAtomic(p.Layout.CurrentPointer(), []byte(info.Version+"\n"), 0o644); err != nil {
		return info, fmt.Errorf("switch current version: %w", err)
	}
	return info, p.prune(info.Version)
}

// versionName sorts in publish order and is safe as a directory name.
func versionName(t time.Time) string {
	return t.UTC().Format("20060102T150405.000Z")
}

// writeVersion links the staged marts file into the version directory dir
// (transform wrote it in key order and never changes it again; a copy where
// links are not possible) and exports each mart to Parquet beside it.
func writeVersion(ctx context.Context, db *sql.DB, staged, dir string, marts []string) error {
	src := filepath.Join(staged, warehouse.MartsDBName)
	if err := warehouse.LinkOrCopy(src, filepath.Join(dir, warehouse.MartsDBName)); err != nil {
		return fmt.Errorf("the staged marts of the last transform: %w (run `custmart transform` again)", err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "ATTACH "+warehouse.Quote(src)+" AS staged (READ_ONLY)"); err != nil {
		return fmt.Errorf("open %s: %w", src, err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "DETACH staged")
	for _, m := range marts {
		stmt := fmt.Sprintf("COPY staged.main.%s TO %s (%s)", warehouse.Ident(m), warehouse.Quote(filepath.Join(dir, m+".parquet")), warehouse.ParquetOptions)
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("publish mart %s: %w", m, err)
		}
	}
	_, err = conn.ExecContext(ctx, "DETACH staged")
	return err
}

// prune removes the oldest versions beyond Keep, never the current one, and
// leftovers of publishes that crashed before their rename.
func (p *Publisher) prune(current string) error {
	versions, err := Versions(p.Layout)
	if err != nil {
		return err
	}
	keep := max(p.Keep, 1)
	for i := 0; i < len(versions)-keep; i++ {
		if versions[i] == current {
			continue
		}
		if err := os.RemoveAll(p.Layout.Version(versions[i])); err != nil {
			return fmt.Errorf("prune version %s: %w", versions[i], err)
		}
	}
	entries, _ := os.ReadDir(p.Layout.Marts())
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			os.RemoveAll(filepath.Join(p.Layout.Marts(), e.Name()))
		}
	}
	return nil
}

// Versions lists the published versions, oldest first.
func Versions(l warehouse.Layout) ([]string, error) {
	entries, err := os.ReadDir(l.Marts())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// ErrNothingPublished is returned when no version has been published yet.
var ErrNothingPublished = errors.New("no marts are published in this data directory yet (run `custmart run` first)")

// Current resolves the CURRENT pointer to a version and its DuckDB file.
func Current(l warehouse.Layout) (version, dbPath string, err error) {
	raw, err := os.ReadFile(l.CurrentPointer())
	if errors.Is(err, os.ErrNotExist) {
		return "", "", ErrNothingPublished
	}
	if err != nil {
		return "", "", err
	}
	version = strings.TrimSpace(string(raw))
	dbPath = filepath.Join(l.Version(version), warehouse.MartsDBName)
	if _, err := os.Stat(dbPath); err != nil {
		return "", "", fmt.Errorf("current version %s is missing its %s: %w", version, warehouse.MartsDBName, err)
	}
	return version, dbPath, nil
}

// CurrentCache resolves the current version like Current, re-reading the
// CURRENT pointer only when a stat shows it was replaced: one system call
// per call instead of five, for the server, which resolves before every
// query.
type CurrentCache struct {
	Layout warehouse.Layout

	mu      sync.Mutex
	pointer os.FileInfo // CURRENT when version and dbPath were read
	version string
	dbPath  string
}

// Current returns the current version and its DuckDB file.
func (c *CurrentCache) Current() (version, dbPath string, err error) {
	fi, err := os.Stat(c.Layout.CurrentPointer())
	if err != nil {
		return Current(c.Layout)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Publish replaces CURRENT by a rename, so a new pointer is a new file.
	if c.pointer != nil && os.SameFile(c.pointer, fi) && c.pointer.ModTime().Equal(fi.ModTime()) && c.pointer.Size() == fi.Size() {
		return c.version, c.dbPath, nil
	}
	version, dbPath, err = Current(c.Layout)
	if err != nil {
		c.pointer = nil
		return "", "", err
	}
	c.pointer, c.version, c.dbPath = fi, version, dbPath
	return version, dbPath, nil
}

// ReadInfo reads a version's _version.json.
func ReadInfo(l warehouse.Layout, version string) (Info, error) {
	return ReadInfoAt(l.Version(version))
}

// ReadInfoAt reads the _version.json of the version directory dir.
func ReadInfoAt(dir string) (Info, error) {
	var info Info
	raw, err := os.ReadFile(filepath.Join(dir, infoFile))
	if err != nil {
		return info, err
	}
	return info, json.Unmarshal(raw, &info)
}

// OpenCurrent opens the current version read-only for ad-hoc SQL: an
// in-memory DuckDB with the version's file attached READ_ONLY as the default
// database, plus lake_transactions, a view over the committed lake files
// (see lake.ReadRelation). It returns the
// version it opened; the caller keeps using that version until it closes.
func OpenCurrent(ctx context.Context, l warehouse.Layout, e engine.Settings) (*sql.DB, string, error) {
	version, dbPath, err := Current(l)
	if err != nil {
		return nil, "", err
	}
	db, err := engine.Open(ctx, "", e)
	if err != nil {
		return nil, "", err
	}
	db.SetMaxOpenConns(1) // the attachment and temp views live on one connection
	stmts := []string{
		fmt.Sprintf("ATTACH %s AS marts (READ_ONLY)", warehouse.Quote(dbPath)),
		"USE marts",
	}
	lakeView, err := lake.ReadRelation(l)
	if err != nil {
		db.Close()
		return nil, "", err
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			db.Close()
			return nil, "", fmt.Errorf("open marts %s: %w", version, err)
		}
	}
	if lakeView != "" {
		// A lake that does not read (a damaged file) leaves the marts usable.
		if _, err := db.ExecContext(ctx, "CREATE TEMP VIEW lake_transactions AS "+lakeView); err != nil {
			msg := fmt.Sprintf("lake: %v; run custmart ingest --repair", err)
			if _, err := db.ExecContext(ctx, "CREATE TEMP VIEW lake_transactions AS "+lake.Unreadable(msg)); err != nil {
				db.Close()
				return nil, "", fmt.Errorf("open marts %s: %w", version, err)
			}
		}
	}
	return db, version, nil
}
