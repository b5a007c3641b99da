package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/custmart/custmart/warehouse"
)

// Print writes the results as tables.
func Print(w io.Writer, r *Results) {
	m := r.Machine
	fmt.Fprintf(w, "custmart bench %s: custmart %s, %s, %s, %d CPUs, %s RAM\n", r.StartedAt.Format(time.RFC3339),
		m.Version, m.Go, m.OS, m.CPUs, warehouse.FormatBytes(m.MemTotalBytes))
	fmt.Fprintf(w, "load average %.2f at start, %.2f at end (other work on the machine slows every figure)\n",
		m.LoadStart[0], m.LoadEnd[0])
	limit := r.Settings.MemoryLimit
	if limit == "" {
		limit = "DuckDB default (80% of RAM)"
	}
	threads := "DuckDB default (all CPUs)"
	if r.Settings.Threads > 0 {
		threads = fmt.Sprint(r.Settings.Threads)
	}
	fmt.Fprintf(w, "memory_limit %s, threads %s; every stage runs in its own process\n", limit, threads)

	if f := r.Full; f != nil {
		fmt.Fprintf(w, "\nFull run: %s lines, %s customers, as of %s (every day but the last)\n", count(f.Lines), count(int64(f.Customers)), f.AsOf)
		printStages(w, f.Stages, true, false)
	}
	if len(r.Bare) > 0 {
		fmt.Fprintln(w, "\nBare DuckDB baseline over the same files and engine settings:")
		fmt.Fprintln(w, "  copy: CSV to one typed Parquet file in one COPY; summary and rfm: plain SQL over that Parquet; export: both to Parquet")
		printStages(w, r.Bare, false, false)
	}
	if s := r.OneFile; s != nil {
		fmt.Fprintln(w, "\nOne file: the same lines as one CSV (a history export), ingest only:")
		printStages(w, []Stage{*s}, true, false)
	}
	if inc := r.Incremental; inc != nil {
		fmt.Fprintf(w, "\nIncremental run: one more day, %s new lines (%s in the lake), as of %s\n", count(inc.NewLines), count(inc.Lines), inc.AsOf)
		printStages(w, inc.Stages, false, true)
		if inc.ShareOfFull > 0 {
			fmt.Fprintf(w, "incremental end to end = %.1f%% of the full run (%.1f%% by CPU)\n", inc.ShareOfFull*100, inc.CPUShareOfFull*100)
		}
	}
	if len(r.Serve) > 0 {
		printServe(w, r.Serve)
	}
	if len(r.Curve) > 0 {
		fmt.Fprintln(w, "\nScaling curve (full pipeline, separate data directories):")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "lines\tcustomers\tingest\ttransform\tpublish\tend to end\tµs/line\tCPU µs/line\tpeak RSS\t")
		for _, p := range r.Curve {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%.2f\t%s\t\n", count(p.Lines), count(int64(p.Customers)),
				seconds(p.IngestSeconds), seconds(p.TransformSeconds), seconds(p.PublishSeconds), seconds(p.Seconds),
				p.MicrosPerLine, p.CPUMicrosPerLine, warehouse.FormatBytes(p.PeakRSSBytes))
		}
		tw.Flush()
	}
	if len(r.Targets) > 0 {
		fmt.Fprintln(w, "\nTargets:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, t := range r.Targets {
			verdict := "met"
			if !t.Met {
				verdict = "MISSED"
			}
			fmt.Fprintf(tw, "  %s\t%s\t< %s\t%s\n", t.Name, targetValue(t.Value, t.Unit), targetValue(t.Limit, t.Unit), verdict)
		}
		tw.Flush()
	}
	if r.File != "" {
		fmt.Fprintf(w, "\nresults: %s\n", r.File)
	}
}

func printStages(w io.Writer, stages []Stage, withBare, withShare bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := "stage\t\trows\twall\tCPU\trows/s\tpeak RSS\t"
	if withBare {
		header += "bare\tx bare\tCPU x bare\t"
	}
	if withShare {
		header += "of full\t"
	}
	fmt.Fprintln(tw, header)
	for _, s := range stages {
		name, kind := s.Name, ""
		switch s.Kind {
		case KindModel, KindGo, KindStep:
			name, kind = "  "+s.Name, s.Kind
		}
		rss, cpu := "", ""
		if s.PeakRSSBytes > 0 {
			rss = warehouse.FormatBytes(s.PeakRSSBytes)
		}
		if s.CPUSeconds > 0 {
			cpu = seconds(s.CPUSeconds)
		}
		line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t", name, kind, count(s.Rows), seconds(s.Seconds), cpu, count(int64(s.RowsPerSecond)), rss)
		if withBare {
			if s.Ratio > 0 {
				line += fmt.Sprintf("%s\t%.2f\t%.2f\t", seconds(s.BareSeconds), s.Ratio, s.CPURatio)
			} else {
				line += "\t\t\t"
			}
		}
		if withShare {
			if s.ShareOfFull > 0 {
				line += fmt.Sprintf("%.1f%%\t", s.ShareOfFull*100)
			} else {
				line += "\t"
			}
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
}

func printServe(w io.Writer, results []ServeResult) {
	fmt.Fprintln(w, "\nServing (PostgreSQL protocol over loopback):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "query\tserver\tclients\tqueries\tp50 ms\tp99 ms\tqueries/s\tp50 x postgres\t")
	for _, s := range results {
		ratio := ""
		for _, pg := range results {
			if s.Server != "postgres" && pg.Server == "postgres" && pg.Query == s.Query && pg.Clients == s.Clients && pg.P50MS > 0 {
				ratio = fmt.Sprintf("%.2f", s.P50MS/pg.P50MS)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.3f\t%.3f\t%.0f\t%s\t\n", s.Query, s.Server, s.Clients, s.Queries, s.P50MS, s.P99MS, s.QPS, ratio)
	}
	tw.Flush()
}

func targetValue(v float64, unit string) string {
	switch unit {
	case "bytes":
		return warehouse.FormatBytes(int64(v))
	case "share":
		return fmt.Sprintf("%.1f%%", v*100)
	case "s":
		return seconds(v)
	}
	return fmt.Sprintf("%.2f%s", v, unit)
}

func seconds(s float64) string {
	if s < 10 {
		return fmt.Sprintf("%.2f s", s)
	}
	return fmt.Sprintf("%.1f s", s)
}

// count writes n with thousands separators.
func count(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
