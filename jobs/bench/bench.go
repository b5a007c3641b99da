// Package bench measures custmart end to end: it generates fixtures of a
// given size, runs every stage of the pipeline in its own `custmart` process
// (so each stage's wall time and peak RSS are its own), runs a bare DuckDB
// baseline of the same work over the same files, an incremental daily run, a
// scaling curve, and writes the figures as a table and as JSON.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"
)

// Options say what to measure. Binary and Work are required; zero values of
// the others mean their defaults.
type Options struct {
	// Binary is the custmart executable every stage runs in.
	Binary string
	// Work holds the cached fixtures and the data directories of the runs.
	Work string
	// ResultsDir receives <timestamp>.json; empty writes no file.
	ResultsDir string
	// Rows is the number of transaction lines of the main run (default 10M);
	// the fixtures have one customer per ten lines.
	Rows int64
	// Sizes are the line counts of the scaling curve (default Rows/10,
	// 3*Rows/10 and Rows); Rows is measured once and shared.
	Sizes []int64
	// NoCurve skips the scaling curve.
	NoCurve bool
	// MemoryLimit and Threads are the DuckDB settings of every stage, custmart
	// and bare alike; a memory limit also sets a temp directory under Work so
	// DuckDB can spill.
	MemoryLimit string
	Threads     int
	// Seed of the fixtures.
	Seed int64
	// NoIncremental skips the one-day incremental run; NoBare the baseline;
	// NoOneFile the ingest of the same lines as one file.
	NoIncremental, NoBare, NoOneFile bool
	// Serve, when set, measures the BI server over the main run's marts.
	Serve ServeBenchmark
	// Version is the custmart version recorded in the results.
	Version string
	// Log receives progress lines (nil: discarded).
	Log io.Writer
}

// DefaultRows is the size of the main run: 10 million transaction lines,
// a million customers.
const DefaultRows = 10_000_000

// linesPerCustomer is what the fixtures' default parameters give.
const linesPerCustomer = 10

func (o Options) withDefaults() (Options, error) {
	if o.Binary == "" {
		return o, errors.New("bench: no custmart binary to run the stages in")
	}
	if o.Work == "" {
		return o, errors.New("bench: no work directory: pass --work DIR")
	}
	if o.Rows == 0 {
		o.Rows = DefaultRows
	}
	if o.Rows < linesPerCustomer {
		return o, fmt.Errorf("bench: --rows %d is too small: give at least %d lines", o.Rows, linesPerCustomer)
	}
	if len(o.Sizes) == 0 {
		o.Sizes = []int64{o.Rows / 10, o.Rows * 3 / 10, o.Rows}
	}
	for _, s := range o.Sizes {
		if s < linesPerCustomer {
			return o, fmt.Errorf("bench: --sizes %d is too small: give at least %d lines", s, linesPerCustomer)
		}
	}
	if !slices.Contains(o.Sizes, o.Rows) {
		o.Sizes = append(o.Sizes, o.Rows)
	}
	slices.Sort(o.Sizes)
	o.Sizes = slices.Compact(o.Sizes)
	if o.Log == nil {
		o.Log = io.Discard
	}
	abs, err := filepath.Abs(o.Work)
	if err != nil {
		return o, fmt.Errorf("bench: work directory: %w", err)
	}
	o.Work = abs
	return o, nil
}

// Run measures everything the options ask for. The results are complete up
// to the first failure; the error says which stage failed and shows its log.
func Run(ctx context.Context, opts Options) (*Results, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &bencher{opts: o}
	res := &Results{
		StartedAt: time.Now().UTC(),
		Machine:   machine(o.Version),
		Settings: Settings{Rows: o.Rows, Sizes: o.Sizes, MemoryLimit: o.MemoryLimit, Threads: o.Threads,
			Seed: o.Seed, Work: o.Work},
	}
	err = b.run(ctx, res)
	res.FinishedAt = time.Now().UTC()
	res.Machine.LoadEnd = loadAverage()
	res.Targets = targets(res)
	if o.ResultsDir != "" && (res.Full != nil || err == nil) {
		path, werr := writeResults(o.ResultsDir, res)
		if werr != nil && err == nil {
			err = werr
		}
		res.File = path
	}
	return res, err
}

type bencher struct {
	opts Options
}

func (b *bencher) logf(format string, args ...any) {
	fmt.Fprintf(b.opts.Log, "bench: "+format+"\n", args...)
}

func (b *bencher) run(ctx context.Context, res *Results) error {
	sets := map[int64]fixtureSet{}
	sizes := []int64{b.opts.Rows}
	if !b.opts.NoCurve {
		sizes = b.opts.Sizes
	}
	for _, size := range sizes {
		set, err := b.fixtures(ctx, size)
		if err != nil {
			return err
		}
		sets[size] = set
		res.Fixtures = append(res.Fixtures, set.info)
	}

	main := sets[b.opts.Rows]
	full, dir, err := b.fullRun(ctx, main)
	res.Full = full
	if err != nil {
		return err
	}
	if !b.opts.NoBare {
		bare, err := b.bare(ctx, dir, main)
		res.Bare = bare
		if err != nil {
			return err
		}
		compare(res.Full, bare)
	}
	if !b.opts.NoOneFile {
		one, err := b.oneFileRun(ctx, main, res.Bare)
		res.OneFile = one
		if err != nil {
			return err
		}
	}
	if !b.opts.NoIncremental {
		inc, err := b.incrementalRun(ctx, dir, main, full)
		res.Incremental = inc
		if err != nil {
			return err
		}
	}
	if b.opts.Serve != nil {
		b.logf("serve benchmark over %s", dir.root)
		serve, err := b.opts.Serve(ctx, ServeTarget{Binary: b.opts.Binary, Config: dir.config, DataDir: dir.root,
			Work: filepath.Join(b.opts.Work, "serve"), Log: b.opts.Log})
		res.Serve = serve
		if err != nil {
			return fmt.Errorf("bench: serve: %w", err)
		}
	}
	if b.opts.NoCurve {
		return nil
	}
	for _, size := range b.opts.Sizes {
		if size == b.opts.Rows {
			res.Curve = append(res.Curve, point(full))
			continue
		}
		run, dir, err := b.fullRun(ctx, sets[size])
		if err != nil {
			return err
		}
		res.Curve = append(res.Curve, point(run))
		if err := os.RemoveAll(dir.root); err != nil { // only the main run's data directory is kept
			return fmt.Errorf("bench: remove %s: %w", dir.root, err)
		}
	}
	return nil
}

func machine(version string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version(),
		Version: version, LoadStart: loadAverage(), MemTotalBytes: memTotal()}
	m.Host, _ = os.Hostname()
	return m
}
