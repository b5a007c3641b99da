package cli

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/custmart/custmart/fixtures"
)

func (a *app) fixturesCommand() *cobra.Command {
	var opts fixtures.Options
	var start string
	cmd := &cobra.Command{
		Use:   "fixtures",
		Short: "Write realistic sample transaction files, one CSV per day, and their true model parameters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Out == "" {
				opts.Out = a.layout().Inbox()
			}
			if start != "" {
				t, err := time.Parse(time.DateOnly, start)
				if err != nil {
					return usagef("--start %q is not a date; write YYYY-MM-DD", start)
				}
				opts.Start = t
			}
			if opts.Customers < 1 {
				return usagef("--customers must be at least 1")
			}
			sum, err := fixtures.Generate(cmd.Context(), opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "wrote %d files to %s: %d customers, %d lines, %d orders, %d refund lines, amount %s\n",
				sum.Files, opts.Out, sum.Customers, sum.Lines, sum.Orders, sum.RefundLines, sum.Amount())
			fmt.Fprintf(a.stdout, "period %s to %s; true parameters in %s\n",
				sum.Start.Format(time.DateOnly), sum.End.Format(time.DateOnly), filepath.Base(sum.Truth))
			fmt.Fprintf(a.stdout, "next: custmart run --data-dir %s --as-of %s\n", a.dataDir, sum.End.Format(time.DateOnly))
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.Customers, "customers", 3000, "number of customers")
	f.Int64Var(&opts.Seed, "seed", 42, "random seed; the same seed writes the same files")
	f.StringVar(&opts.Out, "out", "", "output directory (default <data-dir>/inbox, the built-in sample source)")
	f.StringVar(&start, "start", "", "first day YYYY-MM-DD (default "+fixtures.DefaultStart().Format(time.DateOnly)+")")
	f.IntVar(&opts.Days, "days", 0, fmt.Sprintf("length of the period in days (default %d)", fixtures.DefaultDays))
	f.BoolVar(&opts.Overwrite, "overwrite", false, "replace the files of an earlier run in the output directory")
	return cmd
}
