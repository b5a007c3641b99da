package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/publish"
	"github.com/custmart/custmart/warehouse/report"
)

func (a *app) reportCommand() *cobra.Command {
	var version, out string
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Write the HTML report of the current (or a named) marts version",
		Long: `Writes one self-contained HTML file with charts of a published marts version:
the customer pyramid, RFM segments and grid, the value matrices, cohort retention,
the CLV distributions, the model diagnostics, daily sales, quarantined rows and the
last runs. Publish writes it into every version as report.html; this command
writes it again, by default in the same place.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := a.config(); err != nil {
				return err
			}
			l := a.layout()
			if version == "" {
				v, _, err := publish.Current(l)
				if err != nil {
					return err
				}
				version = v
			}
			dbPath := filepath.Join(l.Version(version), warehouse.MartsDBName)
			if _, err := os.Stat(dbPath); err != nil {
				return usagef("--version %s: no such published version in %s (see the directories of %s)", version, l.Marts(), l.Marts())
			}
			info, err := publish.ReadInfo(l, version)
			if err != nil {
				return fmt.Errorf("version %s: %w", version, err)
			}
			if out == "" {
				out = filepath.Join(l.Version(version), report.FileName)
			}
			if err := report.WriteFile(cmd.Context(), dbPath, a.engine(), report.Header{Version: version, AsOf: info.AsOf}, out); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "report of version %s (as of %s): %s\n", version, info.AsOf, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&version, "version", "", "marts version (default: the current one)")
	cmd.Flags().StringVar(&out, "out", "", "output file (default: <data-dir>/marts/<version>/report.html)")
	return cmd
}
