package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/custmart/custmart/fixtures"
	"github.com/custmart/custmart/jobs"
	models "github.com/custmart/custmart/sql"
	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/publish"
)

// measure is the cost of one process.
type measure struct {
	wall    time.Duration
	cpu     time.Duration // user + system time of the child: less sensitive than wall time to other work on the machine
	peakRSS int64         // bytes: the child's maximum resident set size
}

// child runs the custmart binary with args in its own process, its output
// going to logFile, and measures its wall time and peak RSS (ru_maxrss of
// the waited-for child).
func (b *bencher) child(ctx context.Context, logFile string, args ...string) (measure, error) {
	if err := os.MkdirAll(filepath.Dir(logFile), 0o755); err != nil {
		return measure{}, fmt.Errorf("bench: %w", err)
	}
	log, err := os.Create(logFile)
	if err != nil {
		return measure{}, fmt.Errorf("bench: %w", err)
	}
	defer log.Close()
	cmd := exec.CommandContext(ctx, b.opts.Binary, args...)
	cmd.Stdout, cmd.Stderr = log, log
	start := time.Now()
	err = cmd.Run()
	m := measure{wall: time.Since(start)}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			m.peakRSS = maxRSSBytes(ru)
			m.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	if err != nil {
		return m, fmt.Errorf("bench: custmart %s: %w; the end of its log %s:\n%s", strings.Join(args, " "), err, logFile, tail(logFile, 20))
	}
	return m, nil
}

// maxRSSBytes converts ru_maxrss, which Linux reports in KiB and macOS in bytes.
func maxRSSBytes(ru *syscall.Rusage) int64 {
	if runtime.GOOS == "darwin" {
		return int64(ru.Maxrss)
	}
	return int64(ru.Maxrss) * 1024
}

func tail(path string, lines int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	all := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

// reportStage is the row of `custmart report` on the published version.
const reportStage = "(report)"

// pipelineStages are run one process each, in this order.
var pipelineStages = []string{"ingest", "transform", "publish"}

// pipeline runs ingest, transform and publish as of asOf, each in its own
// process, and returns one stage per step plus a row per model.
func (b *bencher) pipeline(ctx context.Context, d dataDir, asOf time.Time, label string) ([]Stage, error) {
	kinds, err := modelKinds()
	if err != nil {
		return nil, err
	}
	history := jobs.NewHistory(warehouse.NewLayout(d.root))
	var stages []Stage
	var lines int64
	for _, step := range pipelineStages {
		args := []string{step, "--config", d.config, "--data-dir", d.root, "--as-of", asOf.Format(time.DateOnly), "--log-format", "json"}
		m, err := b.child(ctx, filepath.Join(d.root, "bench-logs", label+"-"+step+".log"), args...)
		if err != nil {
			return stages, err
		}
		rec, err := lastRecord(history)
		if err != nil {
			return stages, err
		}
		st := Stage{Name: step, Kind: KindStage, Seconds: m.wall.Seconds(), CPUSeconds: m.cpu.Seconds(), PeakRSSBytes: m.peakRSS}
		var built []Stage
		switch step {
		case "ingest":
			lines = rec.RowsIn
			st.Rows = lines
		case "transform":
			st.Rows = lines
			for _, mt := range rec.Models {
				kind := KindModel
				if kinds[mt.Name] == models.Go {
					kind = KindGo
				}
				built = append(built, Stage{Name: mt.Name, Kind: kind, Rows: mt.Rows, Seconds: float64(mt.DurationMS) / 1000})
			}
			built = append(built, Stage{Name: "(stage marts)", Kind: KindStep, Seconds: float64(rec.StagingMS) / 1000})
		case "publish":
			st.Rows, err = publishedRows(d.root, rec.Version)
			if err != nil {
				return stages, err
			}
			// Publish writes the report as part of the version; rendering it
			// again alone times it.
			rm, err := b.child(ctx, filepath.Join(d.root, "bench-logs", label+"-report.log"), "report", "--config", d.config, "--data-dir", d.root,
				"--out", filepath.Join(d.root, "bench-logs", label+"-report.html"))
			if err != nil {
				return stages, err
			}
			built = append(built, Stage{Name: reportStage, Kind: KindStep, Seconds: rm.wall.Seconds(), CPUSeconds: rm.cpu.Seconds(), PeakRSSBytes: rm.peakRSS})
		}
		st.rate()
		for i := range built {
			built[i].rate()
		}
		b.logf("%s %s: %d rows in %.1f s (%.1f s CPU), peak RSS %s", label, step, st.Rows, st.Seconds, st.CPUSeconds, warehouse.FormatBytes(st.PeakRSSBytes))
		stages = append(stages, st)
		stages = append(stages, built...)
	}
	total := Stage{Name: "end to end", Kind: KindTotal, Rows: lines}
	for _, s := range stages {
		if s.Kind == KindStage {
			total.Seconds += s.Seconds
			total.CPUSeconds += s.CPUSeconds
			total.PeakRSSBytes = max(total.PeakRSSBytes, s.PeakRSSBytes)
		}
	}
	total.rate()
	return append(stages, total), nil
}

// modelKinds maps every model to its materialization, to tell fits (Go
// models) from SQL models.
func modelKinds() (map[string]string, error) {
	ms, err := models.Load()
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	kinds := map[string]string{}
	for _, m := range ms {
		kinds[m.Name] = m.Materialized
	}
	return kinds, nil
}

func lastRecord(h *jobs.History) (jobs.Record, error) {
	recs, err := h.List(jobs.Filter{})
	if err != nil {
		return jobs.Record{}, fmt.Errorf("bench: read run history: %w", err)
	}
	if len(recs) == 0 {
		return jobs.Record{}, fmt.Errorf("bench: the stage left no run record")
	}
	rec := recs[len(recs)-1]
	if rec.Status != jobs.StatusSuccess {
		return rec, fmt.Errorf("bench: run %s: %s: %s", rec.ID, rec.Status, rec.Error)
	}
	return rec, nil
}

// publishedRows sums the rows of the marts of a published version.
func publishedRows(root, version string) (int64, error) {
	info, err := publish.ReadInfo(warehouse.NewLayout(root), version)
	if err != nil {
		return 0, fmt.Errorf("bench: published version %s: %w", version, err)
	}
	var n int64
	for _, rows := range info.Marts {
		n += rows
	}
	return n, nil
}

// fullRun runs the pipeline over every day of the set but the last.
func (b *bencher) fullRun(ctx context.Context, set fixtureSet) (*RunResult, dataDir, error) {
	name := fmt.Sprintf("lines-%d", set.info.Lines)
	if b.opts.MemoryLimit != "" { // keep the unconstrained run's directory for comparison
		name += "-memory-" + strings.ToLower(b.opts.MemoryLimit)
	}
	d, err := b.newDataDir(set, name)
	if err != nil {
		return nil, d, err
	}
	asOf := set.summary.End.AddDate(0, 0, -1)
	b.logf("full run: %d customers as of %s in %s", set.info.Customers, asOf.Format(time.DateOnly), d.root)
	stages, err := b.pipeline(ctx, d, asOf, "full")
	run := &RunResult{Customers: set.info.Customers, AsOf: asOf.Format(time.DateOnly), Stages: stages}
	if ingest, ok := run.stage("ingest"); ok {
		run.Lines, run.NewLines = ingest.Rows, ingest.Rows
	}
	return run, d, err
}

// incrementalRun adds the held-back last day to the inbox of the full run
// and runs the pipeline as of that day.
func (b *bencher) incrementalRun(ctx context.Context, d dataDir, set fixtureSet, full *RunResult) (*RunResult, error) {
	if err := d.add(set, set.lastDay()); err != nil {
		return nil, err
	}
	asOf := set.summary.End
	b.logf("incremental run: + %s as of %s", set.lastDay(), asOf.Format(time.DateOnly))
	stages, err := b.pipeline(ctx, d, asOf, "incremental")
	run := &RunResult{Customers: set.info.Customers, AsOf: asOf.Format(time.DateOnly), Stages: stages}
	if ingest, ok := run.stage("ingest"); ok {
		run.NewLines = ingest.Rows
		run.Lines = full.Lines + ingest.Rows
	}
	if err != nil {
		return run, err
	}
	fullTotal, _ := full.stage("end to end")
	for i := range run.Stages {
		s := &run.Stages[i]
		if f, ok := full.stage(s.Name); ok && f.Seconds > 0 {
			s.ShareOfFull = s.Seconds / f.Seconds
		}
	}
	if t, ok := run.stage("end to end"); ok && fullTotal.Seconds > 0 {
		run.ShareOfFull = t.Seconds / fullTotal.Seconds
		if fullTotal.CPUSeconds > 0 {
			run.CPUShareOfFull = t.CPUSeconds / fullTotal.CPUSeconds
		}
	}
	return run, nil
}

func point(run *RunResult) Point {
	p := Point{Lines: run.Lines, Customers: run.Customers}
	for _, s := range run.Stages {
		switch s.Name {
		case "ingest":
			p.IngestSeconds = s.Seconds
		case "transform":
			p.TransformSeconds = s.Seconds
		case "publish":
			p.PublishSeconds = s.Seconds
		case "end to end":
			p.Seconds, p.CPUSeconds, p.PeakRSSBytes = s.Seconds, s.CPUSeconds, s.PeakRSSBytes
		}
	}
	if p.Lines > 0 {
		p.MicrosPerLine = p.Seconds * 1e6 / float64(p.Lines)
		p.CPUMicrosPerLine = p.CPUSeconds * 1e6 / float64(p.Lines)
	}
	return p
}

// bareStages are the steps of the bare DuckDB baseline and the custmart
// stage each one stands against.
var bareStages = []struct{ name, against string }{
	{BareCopy, "ingest"}, {BareSummary, "transform"}, {BareRFM, "transform"}, {BareExport, "publish"},
}

// bare runs the baseline over the inbox of the full run, each step in its
// own process with the same engine settings.
func (b *bencher) bare(ctx context.Context, d dataDir, set fixtureSet) ([]Stage, error) {
	var stages []Stage
	full := set.summary.End.AddDate(0, 0, -1).Format(time.DateOnly)
	var lines int64
	for _, s := range bareStages {
		args := []string{"bench", "bare", s.name, "--config", d.config, "--data-dir", d.root, "--as-of", full}
		m, err := b.child(ctx, filepath.Join(d.root, "bench-logs", "bare-"+s.name+".log"), args...)
		if err != nil {
			return stages, err
		}
		rows, err := bareRows(filepath.Join(d.root, "bench-logs", "bare-"+s.name+".log"))
		if err != nil {
			return stages, err
		}
		if s.name == BareCopy {
			lines = rows
		}
		st := Stage{Name: s.name, Kind: KindBare, Rows: rows, Seconds: m.wall.Seconds(), CPUSeconds: m.cpu.Seconds(), PeakRSSBytes: m.peakRSS, Against: s.against}
		st.rate()
		b.logf("bare %s: %d rows in %.1f s (%.1f s CPU), peak RSS %s", s.name, st.Rows, st.Seconds, st.CPUSeconds, warehouse.FormatBytes(st.PeakRSSBytes))
		stages = append(stages, st)
	}
	total := Stage{Name: "end to end", Kind: KindTotal, Rows: lines}
	for _, s := range stages {
		total.Seconds += s.Seconds
		total.CPUSeconds += s.CPUSeconds
		total.PeakRSSBytes = max(total.PeakRSSBytes, s.PeakRSSBytes)
	}
	total.rate()
	return append(stages, total), nil
}

// bareRows reads the row count a bare step prints as its last line.
func bareRows(logFile string) (int64, error) {
	raw, err := os.ReadFile(logFile)
	if err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	lines := bytes.Split(bytes.TrimSpace(raw), []byte("\n"))
	var rows int64
	if _, err := fmt.Sscanf(string(lines[len(lines)-1]), "rows %d", &rows); err != nil {
		return 0, fmt.Errorf("bench: %s does not end with the bare step's row count: %w", logFile, err)
	}
	return rows, nil
}

// compare sets, on the full run's stages, the bare time of the same work
// and the ratio custmart / bare.
func compare(full *RunResult, bare []Stage) {
	wall, cpu := map[string]float64{}, map[string]float64{}
	for _, s := range bare {
		name := s.Name
		if s.Kind == KindBare {
			name = s.Against
		}
		wall[name] += s.Seconds
		cpu[name] += s.CPUSeconds
	}
	for i := range full.Stages {
		s := &full.Stages[i]
		if t := wall[s.Name]; t > 0 && (s.Kind == KindStage || s.Kind == KindTotal) {
			s.BareSeconds, s.Ratio = t, s.Seconds/t
			if c := cpu[s.Name]; c > 0 {
				s.CPURatio = s.CPUSeconds / c
			}
		}
	}
}

// oneFileRun ingests the lines of the full run as one CSV file, the days in
// order under one header, in a data directory of its own, and compares it
// with the bare COPY of the day files.
func (b *bencher) oneFileRun(ctx context.Context, set fixtureSet, bare []Stage) (*Stage, error) {
	d := dataDir{root: filepath.Join(b.opts.Work, "runs", fmt.Sprintf("one-file-lines-%d", set.info.Lines))}
	d.inbox = filepath.Join(d.root, "inbox")
	d.config = filepath.Join(d.root, "custmart.yaml")
	if err := os.RemoveAll(d.root); err != nil {
		return nil, fmt.Errorf("bench: clear %s: %w", d.root, err)
	}
	if err := os.MkdirAll(d.inbox, 0o755); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if err := concatDays(set, filepath.Join(d.inbox, "history.csv")); err != nil {
		return nil, err
	}
	if err := b.writeConfig(d); err != nil {
		return nil, err
	}
	asOf := set.summary.End.AddDate(0, 0, -1)
	b.logf("one file: ingest of %s", filepath.Join(d.inbox, "history.csv"))
	args := []string{"ingest", "--config", d.config, "--data-dir", d.root, "--as-of", asOf.Format(time.DateOnly), "--log-format", "json"}
	m, err := b.child(ctx, filepath.Join(d.root, "bench-logs", "one-file-ingest.log"), args...)
	if err != nil {
		return nil, err
	}
	rec, err := lastRecord(jobs.NewHistory(warehouse.NewLayout(d.root)))
	if err != nil {
		return nil, err
	}
	st := &Stage{Name: "ingest (one file)", Kind: KindStage, Rows: rec.RowsIn, Seconds: m.wall.Seconds(), CPUSeconds: m.cpu.Seconds(), PeakRSSBytes: m.peakRSS}
	st.rate()
	for _, s := range bare {
		if s.Name == BareCopy && s.Seconds > 0 {
			st.BareSeconds, st.Ratio = s.Seconds, st.Seconds/s.Seconds
			if s.CPUSeconds > 0 {
				st.CPURatio = st.CPUSeconds / s.CPUSeconds
			}
		}
	}
	b.logf("one file ingest: %d rows in %.1f s (%.1f s CPU), peak RSS %s", st.Rows, st.Seconds, st.CPUSeconds, warehouse.FormatBytes(st.PeakRSSBytes))
	return st, nil
}

// concatDays writes the day files of the set but the held-back last day to
// path as one CSV with one header.
func concatDays(set fixtureSet, path string) error {
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer out.Close()
	w := bufio.NewWriterSize(out, 1<<20)
	header := true
	for day := set.summary.Start; day.Before(set.summary.End); day = day.AddDate(0, 0, 1) {
		raw, err := os.ReadFile(filepath.Join(set.dir, fixtures.DayFile(day)))
		if errors.Is(err, fs.ErrNotExist) {
			continue // a day without sales has no file
		}
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		if !header {
			if i := bytes.IndexByte(raw, '\n'); i >= 0 {
				raw = raw[i+1:]
			}
		}
		header = false
		if _, err := w.Write(raw); err != nil {
			return fmt.Errorf("bench: write %s: %w", path, err)
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("bench: write %s: %w", path, err)
	}
	return out.Close()
}
