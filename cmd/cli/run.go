package cli

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/custmart/custmart/jobs"
	"github.com/custmart/custmart/warehouse/lake"
	"github.com/custmart/custmart/warehouse/publish"
)

func (a *app) runCommand() *cobra.Command {
	var fullRefresh bool
	var holdoutFrom string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the whole pipeline once: ingest, transform, publish",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.applyHoldout(holdoutFrom); err != nil {
				return err
			}
			out, err := a.runSteps(cmd.Context(), jobs.Options{Steps: []string{"ingest", "transform", "publish"}, FullRefresh: fullRefresh})
			if err != nil {
				return err
			}
			return a.printRunSummary(cmd.Context(), out)
		},
	}
	cmd.Flags().BoolVar(&fullRefresh, "full-refresh", false, "rebuild incremental models from the whole lake")
	cmd.Flags().StringVar(&holdoutFrom, "holdout-from", "", holdoutUsage)
	return cmd
}

func (a *app) ingestCommand() *cobra.Command {
	var sources []string
	var dryRun, repair, verify bool
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Load new input files of the configured sources into the Parquet lake",
		Long: `Load new input files of the configured sources into the Parquet lake.

With --repair, make the lake match its manifest instead: the source files
whose rows were in a missing or damaged lake file are read again (each must
still have the content it was ingested with), and transaction files no batch
wrote are moved to lake/_set_aside.

A file whose path, size, mtime, ctime and inode match its record from the
last ingest is not read again; with --verify every file is hashed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if repair && dryRun {
				return fmt.Errorf("--repair and --dry-run cannot be combined")
			}
			if repair && verify {
				return fmt.Errorf("--repair and --verify cannot be combined (a repair hashes every file it reads again)")
			}
			ctx := cmd.Context()
			// A progress bar on a terminal (log lines go around it), else
			// progress as log lines.
			var bar *lake.Bar
			if f, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				bar = lake.NewBar(f)
				opts := &slog.HandlerOptions{Level: slog.LevelInfo}
				if a.verbose {
					opts.Level = slog.LevelDebug
				}
				if a.logFormat == "json" {
					a.logger = slog.New(slog.NewJSONHandler(bar, opts))
				} else {
					a.logger = slog.New(slog.NewTextHandler(bar, opts))
				}
				ctx = lake.WithProgress(ctx, bar.Report)
			} else {
				ctx = lake.WithProgress(ctx, lake.LogProgress(a.logger, 2*time.Second))
			}
			out, err := a.runSteps(ctx, jobs.Options{Steps: []string{"ingest"}, Sources: sources, DryRun: dryRun, Repair: repair, Verify: verify})
			if bar != nil {
				bar.Done()
			}
			if repair {
				printRepair(a.stdout, out.Ingest, err)
			} else {
				printIngest(a.stdout, out.Ingest, dryRun, a.verbose)
			}
			return err
		},
	}
	cmd.Flags().StringSliceVar(&sources, "source", nil, "ingest only these sources (repeatable)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "validate and count, write nothing")
	cmd.Flags().BoolVar(&repair, "repair", false, "re-read the source files of missing or damaged lake files; set aside files no batch wrote")
	cmd.Flags().BoolVar(&verify, "verify", false, "hash every input file, even those whose size, times and inode match their last ingest")
	return cmd
}

func (a *app) transformCommand() *cobra.Command {
	var fullRefresh bool
	var holdoutFrom string
	cmd := &cobra.Command{
		Use:   "transform",
		Short: "Build the models as of the logical date into the warehouse",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.applyHoldout(holdoutFrom); err != nil {
				return err
			}
			out, err := a.runSteps(cmd.Context(), jobs.Options{Steps: []string{"transform"}, FullRefresh: fullRefresh})
			printTransform(a.stdout, out)
			return err
		},
	}
	cmd.Flags().BoolVar(&fullRefresh, "full-refresh", false, "rebuild incremental models from the whole lake")
	cmd.Flags().StringVar(&holdoutFrom, "holdout-from", "", holdoutUsage)
	return cmd
}

func (a *app) publishCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "publish",
		Short: "Publish the marts of the last successful transform as a new version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := a.runSteps(cmd.Context(), jobs.Options{Steps: []string{"publish"}})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "published version %s (as of %s): %d marts in %s\n",
				out.Published.Version, out.Published.AsOf, len(out.Published.Marts), a.layout().Version(out.Published.Version))
			return nil
		},
	}
}

func (a *app) runSteps(ctx context.Context, opts jobs.Options) (jobs.Outcome, error) {
	asOf, err := a.logicalDate()
	if err != nil {
		return jobs.Outcome{}, err
	}
	p, err := a.pipeline()
	if err != nil {
		return jobs.Outcome{}, err
	}
	opts.AsOf = asOf
	return p.Run(ctx, opts)
}

// listedFiles is how many input files ingest's table lists one by one;
// above it (and without --verbose) it has one row per source and status.
const listedFiles = 20

func printRepair(w io.Writer, r lake.Report, err error) {
	if err == nil && len(r.Files)+len(r.Dropped)+len(r.SetAside) == 0 {
		fmt.Fprintln(w, "repair: the lake matches its manifest; nothing to repair")
		return
	}
	for _, f := range r.Dropped {
		fmt.Fprintf(w, "dropped lake/%s\n", filepath.ToSlash(f))
	}
	for _, f := range r.SetAside {
		fmt.Fprintf(w, "set aside lake/%s -> lake/_set_aside/%s\n", filepath.ToSlash(f), filepath.ToSlash(f))
	}
	if len(r.Files) > 0 {
		printIngest(w, r, false, true)
	}
}

func printIngest(w io.Writer, r lake.Report, dryRun, verbose bool) {
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "skipped %s\n", s)
	}
	if len(r.Files) == 0 {
		fmt.Fprintln(w, "ingest: no new input files")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "source\tfile\tstatus\tread\tloaded\tquarantined\tduplicate\trejected\treasons")
	rows := r.Files
	if len(rows) > listedFiles && !verbose {
		rows = bySourceAndStatus(rows)
	}
	for _, f := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", f.Source, filepath.Base(f.File), f.Status,
			f.RowsRead, f.RowsLoaded, f.RowsQuarantined, f.RowsDuplicate, f.RowsRejected, reasonList(f.Reasons))
	}
	read, loaded, quarantined, dup := r.Totals()
	fmt.Fprintf(tw, "total\t%d files\t\t%d\t%d\t%d\t%d\t%d\t\n", len(r.Files), read, loaded, quarantined, dup, r.Rejected())
	tw.Flush()
	if len(rows) < len(r.Files) {
		fmt.Fprintln(w, "(one row per source and status; every file: --verbose, or the ingest_log mart)")
	}
	if unread := r.Unread(); unread > 0 {
		fmt.Fprintf(w, "%d skipped files not read: their size, times and inode match their last ingest (--verify hashes every file)\n", unread)
	}
	if !dryRun {
		return
	}
	reasons := map[string]int64{}
	for _, f := range r.Files {
		for k, v := range f.Reasons {
			reasons[k] += v
		}
	}
	fmt.Fprintf(w, "dry run: %d rows would be loaded, %d quarantined, %d skipped as duplicates; nothing was written\n", loaded, quarantined, dup)
	if len(reasons) > 0 {
		fmt.Fprintln(w, "would quarantine, by reason:")
		for _, k := range slices.Sorted(maps.Keys(reasons)) {
			fmt.Fprintf(w, "  %-22s %d\n", k, reasons[k])
		}
	}
	if failed := r.Failed(); len(failed) > lake.SummarizeAbove && !verbose {
		for _, line := range lake.FailureSummary(failed) {
			fmt.Fprintf(w, "would not load %s\n", line)
		}
	} else {
		for _, f := range failed {
			fmt.Fprintf(w, "would not load %s: %s\n", filepath.Base(f.File), f.Message)
		}
	}
}

// bySourceAndStatus sums the files' results per source and status; the
// file column says how many files each row holds.
func bySourceAndStatus(files []lake.FileResult) []lake.FileResult {
	var out []lake.FileResult
	at := map[[2]string]int{}
	counts := map[[2]string]int{}
	for _, f := range files {
		key := [2]string{f.Source, f.Status}
		i, ok := at[key]
		if !ok {
			i = len(out)
			at[key] = i
			out = append(out, lake.FileResult{Source: f.Source, Status: f.Status, Reasons: map[string]int64{}})
		}
		g := &out[i]
		counts[key]++
		g.RowsRead += f.RowsRead
		g.RowsLoaded += f.RowsLoaded
		g.RowsQuarantined += f.RowsQuarantined
		g.RowsDuplicate += f.RowsDuplicate
		g.RowsRejected += f.RowsRejected
		for k, v := range f.Reasons {
			g.Reasons[k] += v
		}
	}
	for i := range out {
		out[i].File = fmt.Sprintf("%d files", counts[[2]string{out[i].Source, out[i].Status}])
	}
	return out
}

// reasonList renders quarantine reasons as "bad_ts=2 missing_amount=1".
func reasonList(reasons map[string]int64) string {
	parts := make([]string, 0, len(reasons))
	for _, k := range slices.Sorted(maps.Keys(reasons)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, reasons[k]))
	}
	return strings.Join(parts, " ")
}

func printTransform(w io.Writer, out jobs.Outcome) {
	for _, m := range out.Transform.Models {
		detail := ""
		if m.ChangedDays >= 0 {
			detail = fmt.Sprintf(" (%d changed days)", m.ChangedDays)
		}
		if m.ChangedKeys >= 0 {
			detail = fmt.Sprintf(" (%d changed keys)", m.ChangedKeys)
		}
		rows := fmt.Sprintf("%10d rows", m.Rows)
		if m.Materialized == "view" {
			rows = fmt.Sprintf("%15s", "")
		}
		fmt.Fprintf(w, "  %-22s %-18s %s %8s%s\n", m.Name, m.Materialized, rows, m.Duration.Round(time.Millisecond), detail)
	}
}

// printRunSummary tells a newcomer what the run produced and how to look at it.
func (a *app) printRunSummary(ctx context.Context, out jobs.Outcome) error {
	w := a.stdout
	rec := out.Record
	read, loaded, quarantined, dup := out.Ingest.Totals()
	fmt.Fprintf(w, "custmart run as of %s: %s in %s\n\n", rec.LogicalDate, rec.Status, rec.Duration().Round(time.Millisecond))
	statuses := map[string]int{}
	for _, f := range out.Ingest.Files {
		statuses[f.Status]++
	}
	fmt.Fprintf(w, "ingest     %d files (%d loaded, %d already in the lake", len(out.Ingest.Files), statuses[lake.FileLoaded], statuses[lake.FileSkipped])
	if unread := out.Ingest.Unread(); unread > 0 {
		fmt.Fprintf(w, ", %d of them unchanged and not read", unread)
	}
	fmt.Fprintf(w, "): %d rows read, %d loaded, %d quarantined, %d duplicate", read, loaded, quarantined, dup)
	if rejected := out.Ingest.Rejected(); rejected > 0 {
		fmt.Fprintf(w, ", %d rejected", rejected)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "transform  %d models\n", len(out.Transform.Models))
	printTransform(w, out)
	fmt.Fprintf(w, "publish    version %s, %d marts in %s\n\n", out.Published.Version, len(out.Published.Marts), a.layout().Version(out.Published.Version))

	db, _, err := publish.OpenCurrent(ctx, a.layout(), a.engine())
	if err != nil {
		return err
	}
	defer db.Close()
	var customers, orders int64
	var revenue string
	if err := db.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(orders), 0), coalesce(sum(net_revenue), 0)::VARCHAR FROM customer_profile`).Scan(&customers, &orders, &revenue); err != nil {
		return err
	}
	fmt.Fprintf(w, "customers  %d\norders     %d\nrevenue    %s\n", customers, orders, revenue)
	var guestOrders int64
	var guestRevenue string
	if err := db.QueryRowContext(ctx, `SELECT coalesce(sum(guest_orders), 0), coalesce(sum(guest_revenue), 0)::VARCHAR FROM daily_sales`).Scan(&guestOrders, &guestRevenue); err != nil {
		return err
	}
	if guestOrders > 0 || guestRevenue != "0.00" {
		fmt.Fprintf(w, "guests     %d orders, revenue %s (in daily_sales; not in the per-customer marts)\n", guestOrders, guestRevenue)
	}
	fmt.Fprint(w, "\nsegments\n")
	rows, err := db.QueryContext(ctx, `SELECT segment, count(*) FROM rfm GROUP BY 1 ORDER BY 2 DESC, 1`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var seg string
		var n int64
		if err := rows.Scan(&seg, &n); err != nil {
			return err
		}
		fmt.Fprintf(w, "  %-20s %8d\n", seg, n)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if err := printTiers(ctx, w, db); err != nil {
		return err
	}
	marts := make([]string, 0, len(out.Published.Marts))
	for m := range out.Published.Marts {
		marts = append(marts, m)
	}
	sort.Strings(marts)
	fmt.Fprintf(w, "\nmarts: %s\n", strings.Join(marts, ", "))
	fmt.Fprintf(w, "query them:\n  custmart query --data-dir %s \"SELECT segment, count(*) FROM rfm GROUP BY 1\"\n", a.dataDir)
	if out.Published.Report != "" {
		fmt.Fprintf(w, "report: %s\n", filepath.Join(a.layout().Version(out.Published.Version), out.Published.Report))
	}
	return nil
}

// printTiers shows the customer pyramid with historical and predicted CLV.
func printTiers(ctx context.Context, w io.Writer, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `SELECT tier, count(*), coalesce(sum(clv_historical), 0)::DECIMAL(18,2)::VARCHAR,
  coalesce(sum(clv_predicted), 0)::DECIMAL(18,2)::VARCHAR
FROM customer_value GROUP BY tier ORDER BY list_position(['Platinum', 'Gold', 'Iron', 'Lead'], tier)`)
	if err != nil {
		return err
	}
	defer rows.Close()
	fmt.Fprintf(w, "\nvalue tiers           customers  clv_historical   clv_predicted\n")
	for rows.Next() {
		var tier, hist, pred string
		var n int64
		if err := rows.Scan(&tier, &n, &hist, &pred); err != nil {
			return err
		}
		fmt.Fprintf(w, "  %-20s %8d %15s %15s\n", tier, n, hist, pred)
	}
	return rows.Err()
}
