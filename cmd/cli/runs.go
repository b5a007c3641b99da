package cli

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/custmart/custmart/jobs"
	"github.com/custmart/custmart/jobs/metrics"
)

var runStatuses = []string{jobs.StatusRunning, jobs.StatusSuccess, jobs.StatusFailed, jobs.StatusCanceled, jobs.StatusAbandoned, jobs.StatusSkipped}

func (a *app) runsCommand() *cobra.Command {
	var job, status, since, format string
	var limit int
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List the run history, oldest first (reads runs/*.json; works while `custmart schedule` runs)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f := jobs.Filter{Job: job, Status: status}
			if status != "" && !slices.Contains(runStatuses, status) {
				return usagef("--status %q: use one of %s", status, strings.Join(runStatuses, ", "))
			}
			if since != "" {
				t, err := metrics.ParseSince(since, time.Now())
				if err != nil {
					return usagef("--%v", err)
				}
				f.Since = t
			}
			if format != "table" && format != "json" {
				return usagef("--format %q: use table or json", format)
			}
			records, err := jobs.NewHistory(a.layout()).List(f)
			if err != nil {
				return err
			}
			if limit > 0 && len(records) > limit {
				records = records[len(records)-limit:]
			}
			if format == "json" {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if records == nil {
					records = []jobs.Record{}
				}
				return enc.Encode(records)
			}
			if len(records) == 0 {
				fmt.Fprintf(a.stdout, "no runs match in %s\n", a.layout().Runs())
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tJOB\tLOGICAL DATE\tATTEMPT\tTRIGGER\tSTATUS\tSTARTED (UTC)\tDURATION\tROWS IN\tROWS OUT\tQUARANTINED\tERROR")
			for _, r := range records {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n",
					r.ID, r.Job, r.LogicalDate, r.Attempt, orDash(r.Trigger), r.Status, r.StartedAt.UTC().Format(time.DateTime),
					r.Duration().Round(time.Millisecond), r.RowsIn, r.RowsOut, r.RowsQuarantined, shorten(r.Error, 60))
			}
			return tw.Flush()
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&job, "job", "", "only runs of this job (cli for commands such as `custmart run`)")
	fl.StringVar(&status, "status", "", "only runs with this status: "+strings.Join(runStatuses, ", "))
	fl.StringVar(&since, "since", "", "only runs started since a date (2025-01-31), a time (RFC 3339) or a duration ago (24h, 7d)")
	fl.IntVar(&limit, "limit", 50, "show the latest N matching runs; 0 for all")
	fl.StringVar(&format, "format", "table", "output: table or json")
	cmd.AddCommand(a.runsShowCommand())
	return cmd
}

func (a *app) runsShowCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one run: its figures, per-model timings and full error",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := jobs.NewHistory(a.layout()).Get(args[0])
			if err != nil {
				return err
			}
			switch format {
			case "json":
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			case "text":
			default:
				return usagef("--format %q: use text or json", format)
			}
			w := a.stdout
			field := func(name, value string) { fmt.Fprintf(w, "%-17s %s\n", name+":", value) }
			field("run", r.ID)
			field("job", r.Job)
			field("logical date", r.LogicalDate)
			field("attempt", fmt.Sprint(r.Attempt))
			field("trigger", orDash(r.Trigger))
			if r.ScheduledAt != nil {
				field("scheduled at", r.ScheduledAt.UTC().Format(time.RFC3339))
			}
			field("steps", strings.Join(r.Steps, ", "))
			field("status", r.Status)
			field("started", r.StartedAt.UTC().Format(time.RFC3339Nano))
			if r.FinishedAt != nil {
				field("finished", r.FinishedAt.UTC().Format(time.RFC3339Nano))
			}
			field("duration", r.Duration().Round(time.Millisecond).String())
			field("pid", fmt.Sprint(r.PID))
			field("rows in", fmt.Sprint(r.RowsIn))
			field("rows out", fmt.Sprint(r.RowsOut))
			field("rows quarantined", fmt.Sprint(r.RowsQuarantined))
			if r.Version != "" {
				field("published", r.Version)
			}
			if r.Error != "" {
				field("error", r.Error)
			}
			if len(r.Models) > 0 {
				fmt.Fprintln(w, "models:")
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
				fmt.Fprintln(tw, "  model\trows\tduration\t")
				for _, m := range r.Models {
					fmt.Fprintf(tw, "  %s\t%d\t%s\t\n", m.Name, m.Rows, time.Duration(m.DurationMS)*time.Millisecond)
				}
				return tw.Flush()
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output: text or json")
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func shorten(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
