package lake

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// repairPlan is what a repair batch of one source does besides loading its
// inputs: each input replaces the rows its live batch loaded, and the lost
// lake files go, unread.
type repairPlan struct {
	replaces map[string]LiveFile // input path -> its live entry
	lost     map[string]bool     // lake files, relative to the lake
}

// replacing returns the live entry a repair loads path in place of.
func (p *repairPlan) replacing(path string) (LiveFile, bool) {
	if p == nil {
		return LiveFile{}, false
	}
	lf, ok := p.replaces[path]
	return lf, ok
}

// Repair makes the lake match its manifest again. The source files whose
// rows were in missing or damaged lake files are read again, each replacing
// what its batch loaded, in one batch per source; the lost files are
// dropped; transaction files no batch wrote are moved to lake/_set_aside.
// Every affected source file must still be there with the content it had
// when it was ingested, else nothing is changed. The caller holds the
// writer lock.
func (in *Ingester) Repair(ctx context.Context, sources []Source) (Report, error) {
	var report Report
	if err := Recover(in.Layout); err != nil {
		return report, err
	}
	scratch, db, err := in.start(ctx)
	if err != nil {
		return report, err
	}
	defer in.stop(scratch, db)
	conn, err := in.conn(ctx, db)
	if err != nil {
		return report, err
	}
	defer conn.Close()
	m, err := LoadManifest(in.Layout)
	if err != nil {
		return report, err
	}
	var dmg *DamageError
	if err := Verify(ctx, conn, in.Layout, m); !errors.As(err, &dmg) {
		return report, err // nil: nothing to repair
	}
	plans, err := planRepair(m, dmg, sources)
	if err != nil {
		return report, err
	}
	for _, rel := range dmg.Unexpected {
		if err := in.setAside(rel); err != nil {
			return report, err
		}
		report.SetAside = append(report.SetAside, rel)
	}
	progress := newTracker(ctx)
	for _, src := range sources {
		plan, ok := plans[src.Name]
		if !ok {
			continue
		}
		var results []FileResult
		if len(plan.replaces) == 0 {
			err = in.dropLost(m, src, plan)
		} else {
			paths := make([]string, 0, len(plan.replaces))
			for p := range plan.replaces {
				paths = append(paths, p)
			}
			slices.Sort(paths)
			results, err = in.ingestPaths(ctx, db, src, paths, scratch, progress, inboxScan{repair: plan})
		}
		report.Files = append(report.Files, results...)
		if err != nil {
			return report, err
		}
		if failed := (Report{Files: results}).Failed(); len(failed) > 0 {
			return report, fmt.Errorf("repair: %d source file(s) of %s did not load again:\n  %s", len(failed), src.Name, strings.Join(FailureSummary(failed), "\n  "))
		}
		for rel := range plan.lost {
			report.Dropped = append(report.Dropped, rel)
		}
	}
	slices.Sort(report.Dropped)
	if m, err = LoadManifest(in.Layout); err != nil {
		return report, err
	}
	if err := Verify(ctx, conn, in.Layout, m); err != nil {
		return report, fmt.Errorf("repair: the lake still differs after the repair: %w", err)
	}
	return report, nil
}

// planRepair groups the affected inputs and the lost files by source, and
// refuses, before anything changes, when a source file cannot be read
// again as it was.
func planRepair(m *Manifest, dmg *DamageError, sources []Source) (map[string]*repairPlan, error) {
	bySource := map[string]Source{}
	for _, s := range sources {
		bySource[s.Name] = s
	}
	plans := map[string]*repairPlan{}
	plan := func(source string) *repairPlan {
		if plans[source] == nil {
			plans[source] = &repairPlan{replaces: map[string]LiveFile{}, lost: map[string]bool{}}
		}
		return plans[source]
	}
	var problems []string
	for _, lf := range dmg.Affected {
		src, ok := bySource[lf.Source]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s: its source %s is not in the configuration (or not selected with --source)", lf.File, lf.Source))
		case src.Postgres != nil:
			problems = append(problems, fmt.Sprintf("%s: rows of a database batch cannot be read again (the source's rows may have changed); restore the lake's files of batch %s from a backup", lf.File, lf.BatchID))
		default:
			if err := sameContent(lf, src); err != nil {
				problems = append(problems, err.Error())
				continue
			}
			plan(lf.Source).replaces[lf.File] = lf
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("repair: nothing was changed; these source files cannot be read again:\n  %s\n%w", strings.Join(problems, "\n  "), dmg)
	}
	for _, rel := range dmg.lost() {
		source := ""
		if b, ok := m.find(ownerBatch(m, rel)); ok {
			source = b.Source
		}
		if _, ok := bySource[source]; !ok {
			return nil, fmt.Errorf("repair: lake/%s belongs to no configured source; restore it from a backup", rel)
		}
		plan(source).lost[rel] = true
	}
	return plans, nil
}

// sameContent checks that an input is still there as it was ingested.
func sameContent(lf LiveFile, src Source) error {
	f, err := scanInput(lf.File, src)
	switch {
	case errors.Is(err, os.ErrNotExist) || err != nil && f.checksum == "":
		return fmt.Errorf("%s is gone; restore it (sha256 %s) and run the repair again", lf.File, lf.Checksum)
	case f.checksum != lf.Checksum:
		return fmt.Errorf("%s changed since batch %s loaded it; restore that content (sha256 %s) and run the repair again", lf.File, lf.BatchID, lf.Checksum)
	}
	return nil
}

// dropLost commits a batch that only removes lost files whose rows no live
// input holds (the quarantine of a failed batch, say).
func (in *Ingester) dropLost(m *Manifest, src Source, plan *repairPlan) error {
	now := time.Now().UTC()
	b := Batch{BatchID: newBatchID(), Source: src.Name, Status: StatusCommitted, StartedAt: now, FinishedAt: now}
	for rel := range plan.lost {
		b.Deletes = append(b.Deletes, rel)
	}
	slices.Sort(b.Deletes)
	if err := m.record(b); err != nil {
		return err
	}
	return m.apply(b)
}

// setAside moves a lake file no batch wrote out of the readers' way, to the
// same place under lake/_set_aside.
func (in *Ingester) setAside(rel string) error {
	dst := filepath.Join(in.Layout.Lake(), "_set_aside", rel)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(in.Layout.Lake(), rel), dst); err != nil {
		return fmt.Errorf("set aside lake/%s: %w", rel, err)
	}
	return syncFS(in.Layout.Lake())
}
