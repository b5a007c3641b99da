// Package cli is the custmart command line. Do is the whole program with its
// I/O injected, so every command is testable in-process.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/custmart/custmart/jobs"
	"github.com/custmart/custmart/jobs/config"
	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/engine"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1 // the work failed
	ExitUsage   = 2 // bad usage or bad configuration
)

// Version is set at build time with -ldflags "-X .../cmd/cli.Version=...".
var Version = "dev"

// usageError marks errors that are the caller's to fix: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// app is the state shared by every command: global flags and what they load.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer

	configPath string
	dataDir    string
	asOf       string
	logFormat  string
	// verbose logs at debug level and lists every input file.
	verbose bool

	logger *slog.Logger
	cfg    *config.Config
}

// Do runs the custmart command line and returns the exit code.
func Do(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return DoContext(ctx, args, stdin, stdout, stderr)
}

// DoContext is Do with a caller-controlled context (signals cancel it in Do).
func DoContext(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(stderr, "error:", err)
	var ue usageError
	var ce *config.Error
	if errors.As(err, &ue) || errors.As(err, &ce) || isCobraUsage(err) {
		return ExitUsage
	}
	return ExitFailure
}

// isCobraUsage recognises cobra's own argument and flag errors.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "invalid argument", "flag needs an argument", "accepts ", "requires at least", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "custmart",
		Short: "Batch customer-value warehouse: raw transactions to RFM, CLV and loyalty marts",
		Long: `custmart ingests raw sales transactions into a Parquet lake, computes RFM,
customer lifetime value and loyalty models with DuckDB SQL, and publishes
versioned marts that BI tools query.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return a.setup()
		},
	}
	f := root.PersistentFlags()
	f.StringVar(&a.configPath, "config", "", "configuration file (default: custmart.yaml in the working directory if present, else built-in defaults)")
	f.StringVar(&a.dataDir, "data-dir", "./data", "data directory: lake, warehouse, published marts, run history")
	f.StringVar(&a.asOf, "as-of", "", "logical date YYYY-MM-DD every model is computed as of (default: today, UTC)")
	f.StringVar(&a.logFormat, "log-format", "text", "log format on stderr: text or json")
	f.BoolVarP(&a.verbose, "verbose", "v", false, "debug logs (one line per input file) and every input file in ingest's table")
	root.AddCommand(
		a.runCommand(), a.ingestCommand(), a.transformCommand(), a.publishCommand(),
		a.queryCommand(), a.reportCommand(), a.fixturesCommand(), a.initCommand(), a.versionCommand(),
		a.benchCommand(),
		a.scheduleCommand(), a.backfillCommand(), a.runsCommand(), a.serveCommand(),
	)
	return root
}

func (a *app) setup() error {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if a.verbose {
		opts.Level = slog.LevelDebug
	}
	switch a.logFormat {
	case "text":
		a.logger = slog.New(slog.NewTextHandler(a.stderr, opts))
	case "json":
		a.logger = slog.New(slog.NewJSONHandler(a.stderr, opts))
	default:
		return usagef("--log-format %q: use text or json", a.logFormat)
	}
	return nil
}

// config loads the configuration once, for commands that need it.
func (a *app) config() (*config.Config, error) {
	if a.cfg != nil {
		return a.cfg, nil
	}
	c, err := config.Load(a.configPath, a.dataDir)
	if err != nil {
		return nil, err
	}
	a.cfg = c
	return c, nil
}

func (a *app) layout() warehouse.Layout { return warehouse.NewLayout(a.dataDir) }

// logicalDate parses --as-of; the default is today in UTC.
func (a *app) logicalDate() (time.Time, error) {
	if a.asOf == "" {
		now := time.Now().UTC()
		return time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC), nil
	}
	t, err := time.Parse(time.DateOnly, a.asOf)
	if err != nil {
		return t, usagef("--as-of %q is not a date; write YYYY-MM-DD", a.asOf)
	}
	return t, nil
}

func (a *app) pipeline() (*jobs.Pipeline, error) {
	c, err := a.config()
	if err != nil {
		return nil, err
	}
	return &jobs.Pipeline{Config: c, Layout: a.layout(), Logger: a.logger, GoModels: goModels(), Hooks: hooks()}, nil
}

func (a *app) engine() engine.Settings {
	if a.cfg == nil {
		return engine.Settings{}
	}
	return a.cfg.Warehouse.Engine()
}

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the custmart version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintln(a.stdout, "custmart", Version)
			return nil
		},
	}
}

func (a *app) initCommand() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "init [FILE]",
		Short: "Write a commented example configuration (default custmart.yaml)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := config.DefaultFile
			if len(args) == 1 {
				path = args[0]
			}
			if _, err := os.Stat(path); err == nil && !force {
				return usagef("%s already exists; pass --force to overwrite it", path)
			}
			if err := warehouse.WriteFileAtomic(path, config.Example, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "wrote %s; edit its sources, then run: custmart run --config %s\n", path, path)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	return cmd
}
