package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/custmart/custmart/jobs"
	"github.com/custmart/custmart/jobs/scheduler"
)

func (a *app) backfillCommand() *cobra.Command {
	var job, from, to string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "backfill --job NAME --from DATE --to DATE",
		Short: "Run a job for a range of logical dates, upstream jobs first; resumes after a failure",
		Long: `backfill runs a job for every logical date from --from to --to (inclusive), in
order, and for each date first the jobs it depends on. Runs that already
succeeded for their date are skipped, so after a failure the same command
resumes where it stopped. Re-running a date replaces its outputs; nothing is
duplicated. --dry-run lists the runs without running them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fromDate, err := time.Parse(time.DateOnly, from)
			if err != nil {
				return usagef("--from %q is not a date; write YYYY-MM-DD", from)
			}
			toDate, err := time.Parse(time.DateOnly, to)
			if err != nil {
				return usagef("--to %q is not a date; write YYYY-MM-DD", to)
			}
			if toDate.Before(fromDate) {
				return usagef("--to %s is before --from %s", to, from)
			}
			cfg, err := a.config()
			if err != nil {
				return err
			}
			if _, ok := cfg.Job(job); !ok {
				return usagef("--job %q is not in the configuration (%s); declare it under jobs:", job, configName(cfg.Path))
			}
			js, err := scheduler.Jobs(cfg)
			if err != nil {
				return err
			}
			plan, err := scheduler.PlanBackfill(js, job, fromDate, toDate, jobs.NewHistory(a.layout()))
			if err != nil {
				return err
			}
			todo := 0
			for _, r := range plan {
				if r.Done == "" {
					todo++
				}
			}
			if dryRun {
				tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "LOGICAL DATE\tJOB\tACTION")
				for _, r := range plan {
					action := "run"
					if r.Done != "" {
						action = "skip: succeeded in run " + r.Done
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Date(), r.Job, action)
				}
				tw.Flush()
				fmt.Fprintf(a.stdout, "dry run: %d runs to do, %d already succeeded; nothing was run\n", todo, len(plan)-todo)
				return nil
			}
			p, err := a.pipeline()
			if err != nil {
				return err
			}
			b := &scheduler.Backfiller{Jobs: js, Execute: scheduler.PipelineExecutor(p, js), Logger: a.logger}
			n, err := b.Run(cmd.Context(), plan)
			fmt.Fprintf(a.stdout, "backfill of %s from %s to %s: %d of %d runs done now, %d had already succeeded\n",
				job, from, to, n, todo, len(plan)-todo)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&job, "job", "", "job to backfill (its upstream jobs run first for each date)")
	f.StringVar(&from, "from", "", "first logical date YYYY-MM-DD")
	f.StringVar(&to, "to", "", "last logical date YYYY-MM-DD (inclusive)")
	f.BoolVar(&dryRun, "dry-run", false, "list the runs, run nothing")
	for _, name := range []string{"job", "from", "to"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

func configName(path string) string {
	if path == "" {
		return "built-in defaults, which have no jobs; pass --config"
	}
	return path
}
