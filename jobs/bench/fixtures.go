package bench

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/custmart/custmart/fixtures"
	"github.com/custmart/custmart/jobs/config"
	"github.com/custmart/custmart/warehouse"
	"gopkg.in/yaml.v3"
)

// fixtureSet is one generated set of day files, cached under the work
// directory: the same size and seed give the same files, so repeated runs
// reuse them.
type fixtureSet struct {
	dir     string
	summary fixtures.Summary
	info    FixtureInfo
}

func (b *bencher) fixtures(ctx context.Context, lines int64) (fixtureSet, error) {
	customers := int(max(lines/linesPerCustomer, 1))
	dir := filepath.Join(b.opts.Work, "fixtures", fmt.Sprintf("customers-%d-seed-%d", customers, b.opts.Seed))
	// Generate writes truth.json last: its presence means the set is complete.
	if s, err := fixtures.ReadTruth(dir); err == nil && s.Customers == customers && s.Seed == b.opts.Seed {
		b.logf("fixtures: %d customers, %d lines: cached in %s", customers, s.Lines, dir)
		return fixtureSet{dir: dir, summary: s, info: FixtureInfo{Customers: customers, Lines: s.Lines, Dir: dir, Cached: true}}, nil
	}
	b.logf("fixtures: generating %d customers (about %d lines) into %s", customers, lines, dir)
	start := time.Now()
	s, err := fixtures.Generate(ctx, fixtures.Options{Customers: customers, Seed: b.opts.Seed, Out: dir, Overwrite: true})
	if err != nil {
		return fixtureSet{}, fmt.Errorf("bench: %w", err)
	}
	took := time.Since(start)
	b.logf("fixtures: %d lines in %s", s.Lines, took.Round(time.Millisecond))
	return fixtureSet{dir: dir, summary: s, info: FixtureInfo{Customers: customers, Lines: s.Lines, Dir: dir, GenerateSeconds: took.Seconds()}}, nil
}

// lastDay is the held-back day file: the full run loads every day but the
// last one, the incremental run adds it.
func (f fixtureSet) lastDay() string { return fixtures.DayFile(f.summary.End) }

// dataDir is the data directory of one run with its configuration file.
type dataDir struct {
	root, inbox, config string
}

// newDataDir makes an empty data directory whose inbox links every day file
// of the set but the held-back last day, and writes its configuration: one
// source reading the inbox, and the engine settings of the bench.
func (b *bencher) newDataDir(set fixtureSet, name string) (dataDir, error) {
	d := dataDir{root: filepath.Join(b.opts.Work, "runs", name)}
	d.inbox = filepath.Join(d.root, "inbox")
	d.config = filepath.Join(d.root, "custmart.yaml")
	if err := os.RemoveAll(d.root); err != nil {
		return d, fmt.Errorf("bench: clear %s: %w", d.root, err)
	}
	if err := os.MkdirAll(d.inbox, 0o755); err != nil {
		return d, fmt.Errorf("bench: %w", err)
	}
	for day := set.summary.Start; day.Before(set.summary.End); day = day.AddDate(0, 0, 1) {
		if err := d.add(set, fixtures.DayFile(day)); err != nil {
			return d, err
		}
	}
	return d, b.writeConfig(d)
}

// add puts one day file of the set into the inbox: a hard link (the
// fixtures are never modified), or a copy across file systems.
func (d dataDir) add(set fixtureSet, name string) error {
	src, dst := filepath.Join(set.dir, name), filepath.Join(d.inbox, name)
	err := warehouse.LinkOrCopy(src, dst)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // a day without sales has no file
	}
	if err != nil {
		return fmt.Errorf("bench: copy %s: %w", src, err)
	}
	return nil
}

// writeConfig writes the run's configuration and loads it back, so a
// configuration error shows before any stage runs.
func (b *bencher) writeConfig(d dataDir) error {
	src := config.SampleSource(d.root)
	wh := map[string]any{}
	if b.opts.MemoryLimit != "" {
		wh["memory_limit"] = b.opts.MemoryLimit
		wh["temp_directory"] = filepath.Join(b.opts.Work, "spill")
	}
	if b.opts.Threads > 0 {
		wh["threads"] = b.opts.Threads
	}
	doc := map[string]any{
		"version": config.CurrentVersion,
		"sources": []map[string]any{{
			"name": "bench", "path": d.inbox, "format": "csv",
			"columns": src.Columns, "cancellation_pattern": src.CancellationPattern,
		}},
	}
	if len(wh) > 0 {
		doc["warehouse"] = wh
	}
	raw, err := yaml.Marshal(doc)
	if err != nil {
		return err
	}
	if err := os.WriteFile(d.config, raw, 0o644); err != nil {
		return fmt.Errorf("bench: write config: %w", err)
	}
	if _, err := config.Load(d.config, d.root); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}
