package cli

import (
	"github.com/spf13/cobra"

	"github.com/custmart/custmart/jobs/scheduler"
)

func (a *app) scheduleCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "schedule",
		Short: "Run the configured jobs on their schedules, in the foreground, until SIGTERM or SIGINT",
		Long: `schedule runs the jobs of the configuration on their cron schedules, one run
at a time, and logs each run's start, end, status and figures.

A run covers one interval of its job's schedule and is for a logical date: the
day, in the job's time zone, on which the interval starts. A job "0 2 * * *"
running on the 2nd is the run for the 1st (its pipeline runs --as-of the 1st).
A job waits until the jobs it depends on succeeded for the same logical date.
Failed runs are retried with exponential backoff; after downtime, missed
intervals are caught up (catch_up: all or latest).

On SIGTERM or SIGINT no new run starts; a running run may finish within
scheduler.shutdown_grace, then it is canceled and rolled back; the exit code is 0.
Runs left behind by a killed process are marked abandoned at the next start.
http.listen serves /metrics, /healthz, /runs and /report; alerts.webhook gets failures,
recoveries and stale marts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := a.pipeline()
			if err != nil {
				return err
			}
			d := &scheduler.Daemon{Config: p.Config, Pipeline: p, Logger: a.logger}
			return d.Run(cmd.Context())
		},
	}
}
