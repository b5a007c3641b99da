package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/custmart/custmart/jobs/bench"
)

func (a *app) benchCommand() *cobra.Command {
	var opts bench.Options
	var rows string
	var sizes []string
	var curve, incremental, bare, oneFile, serve bool
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure every stage at scale against a bare DuckDB baseline; write the figures as a table and JSON",
		Long: `bench generates fixtures (cached under --work), then runs ingest, transform and
publish each in its own custmart process over every day but the last, and
prints wall time, rows/s and peak RSS per stage and per model. In the same run
it times a bare DuckDB baseline of the same work (CSV to Parquet in one COPY,
customer summary and RFM as plain SQL over that Parquet, export to Parquet) and
prints custmart / bare; then adds the last day and runs again (the incremental
daily run), ingests the same lines as one CSV file (a history export,
--one-file), and runs the pipeline at each --sizes for the scaling curve.
The results also go to --results/<timestamp>.json.

The defaults are the figures of docs/SCALING.md: 10M lines, 1M customers.
  custmart bench                               default run (make bench)
  custmart bench --rows 1M --curve=false       a quick look
  custmart bench --memory-limit 1GiB --curve=false
                                               bigger than memory: DuckDB spills to --work/spill`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.Rows, err = parseCount(rows); err != nil {
				return usagef("--rows %q: %v", rows, err)
			}
			for _, s := range sizes {
				n, err := parseCount(s)
				if err != nil {
					return usagef("--sizes %q: %v", s, err)
				}
				opts.Sizes = append(opts.Sizes, n)
			}
			if serve {
				opts.Serve = bench.MeasureServe
			}
			if opts.Binary, err = os.Executable(); err != nil {
				return fmt.Errorf("bench: find the custmart binary to run the stages in: %w", err)
			}
			opts.NoCurve, opts.NoIncremental, opts.NoBare, opts.NoOneFile = !curve, !incremental, !bare, !oneFile
			opts.Version, opts.Log = Version, a.stderr
			res, err := bench.Run(cmd.Context(), opts)
			if res != nil {
				bench.Print(a.stdout, res)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&rows, "rows", "10M", "transaction lines of the main run (k and M suffixes); one customer per 10 lines")
	f.StringSliceVar(&sizes, "sizes", nil, "line counts of the scaling curve (default rows/10, 3*rows/10, rows)")
	f.BoolVar(&curve, "curve", true, "run the scaling curve")
	f.BoolVar(&incremental, "incremental", true, "add the held-back last day and run again")
	f.BoolVar(&bare, "bare", true, "run the bare DuckDB baseline")
	f.BoolVar(&oneFile, "one-file", true, "ingest the same lines as one CSV file (a history export) too")
	f.BoolVar(&serve, "serve", true, "measure the BI server (custmart serve vs PostgreSQL 15) over the marts of the main run")
	f.StringVar(&opts.Work, "work", defaultBenchWork(), "fixture cache and data directories of the runs")
	f.StringVar(&opts.ResultsDir, "results", "bench-results", "directory of the JSON results")
	f.StringVar(&opts.MemoryLimit, "memory-limit", "", "DuckDB memory_limit of every stage, e.g. 1GiB (spills to <work>/spill)")
	f.IntVar(&opts.Threads, "threads", 0, "DuckDB threads of every stage (default: all CPUs)")
	f.Int64Var(&opts.Seed, "seed", 1, "fixture seed")
	cmd.AddCommand(a.benchBareCommand())
	return cmd
}

// benchBareCommand runs one step of the bare baseline in its own process, so
// the bench measures it like a custmart stage.
func (a *app) benchBareCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "bare STEP",
		Short:  "Run one step of the bare DuckDB baseline (" + strings.Join(bench.BareSteps, ", ") + ")",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.config()
			if err != nil {
				return err
			}
			asOf, err := a.logicalDate()
			if err != nil {
				return err
			}
			rows, err := bench.RunBare(cmd.Context(), args[0], c.Sources[0].Path, a.dataDir, asOf, a.engine())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "rows %d\n", rows)
			return nil
		},
	}
}

func defaultBenchWork() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "bench-work"
	}
	return filepath.Join(dir, "custmart", "bench")
}

// parseCount reads 10M, 300k or 1000000.
func parseCount(s string) (int64, error) {
	mult := int64(1)
	t := strings.ReplaceAll(strings.TrimSpace(s), "_", "")
	switch {
	case strings.HasSuffix(t, "k"), strings.HasSuffix(t, "K"):
		mult, t = 1_000, t[:len(t)-1]
	case strings.HasSuffix(t, "M"), strings.HasSuffix(t, "m"):
		mult, t = 1_000_000, t[:len(t)-1]
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("not a positive count; write e.g. 10M, 300k or 1000000")
	}
	return int64(n * float64(mult)), nil
}
