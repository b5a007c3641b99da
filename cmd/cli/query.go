package cli

import (
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/spf13/cobra"

	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/clv"
	"github.com/custmart/custmart/warehouse/publish"
)

func (a *app) queryCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   `query "SQL"`,
		Short: "Run read-only SQL over the current published marts (and lake_transactions)",
		Long: `Runs SQL over the current published version of the marts, read-only.
The lake is there too, as the view lake_transactions. Use - to read the SQL from stdin.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "csv" && format != "json" {
				return usagef("--format %q: use table, csv or json", format)
			}
			query := args[0]
			if query == "-" {
				raw, err := io.ReadAll(a.stdin)
				if err != nil {
					return err
				}
				query = string(raw)
			}
			if _, err := a.config(); err != nil {
				return err
			}
			db, _, err := publish.OpenCurrent(cmd.Context(), a.layout(), a.engine())
			if err != nil {
				return err
			}
			defer db.Close()
			// The one pooled connection gets the CLV functions, so analysts can
			// score customers in their queries as the marts do.
			conn, err := db.Conn(cmd.Context())
			if err != nil {
				return err
			}
			defer conn.Close()
			if err := clv.RegisterUDFs(cmd.Context(), conn); err != nil {
				return err
			}
			rows, err := conn.QueryContext(cmd.Context(), query)
			if err != nil {
				return fmt.Errorf("query: %w", err)
			}
			defer rows.Close()
			return writeRows(a.stdout, rows, format)
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, csv or json")
	return cmd
}

// writeRows prints a result set as an aligned table, CSV with a header line,
// or a JSON array of objects.
func writeRows(w io.Writer, rows *sql.Rows, format string) error {
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	var records [][]any
	for rows.Next() {
		vals, err := warehouse.ScanValues(rows, len(cols))
		if err != nil {
			return err
		}
		records = append(records, vals)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("query: %w", err)
	}
	switch format {
	case "csv":
		cw := csv.NewWriter(w)
		if err := cw.Write(cols); err != nil {
			return err
		}
		for _, r := range records {
			line := make([]string, len(r))
			for i, v := range r {
				line[i] = text(v)
			}
			if err := cw.Write(line); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	case "json":
		out := make([]map[string]any, len(records))
		for i, r := range records {
			obj := make(map[string]any, len(cols))
			for j, c := range cols {
				obj[c] = jsonValue(r[j])
			}
			out[i] = obj
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	default:
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
		seps := make([]string, len(cols))
		for i, c := range cols {
			seps[i] = strings.Repeat("-", max(len(c), 3))
		}
		fmt.Fprintln(tw, strings.Join(seps, "\t"))
		for _, r := range records {
			line := make([]string, len(r))
			for i, v := range r {
				line[i] = text(v)
				if v == nil {
					line[i] = "NULL"
				}
			}
			fmt.Fprintln(tw, strings.Join(line, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "(%d rows)\n", len(records))
		return nil
	}
}

// text renders a DuckDB value the way SQL users expect to read it.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32)
	case time.Time:
		if x.Hour() == 0 && x.Minute() == 0 && x.Second() == 0 && x.Nanosecond() == 0 {
			return x.Format(time.DateOnly)
		}
		return x.Format("2006-01-02 15:04:05.999999")
	case duckdb.Decimal:
		return warehouse.DecimalText(x.Value, int(x.Scale))
	case *big.Int:
		return x.String()
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = text(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	default:
		return fmt.Sprint(x)
	}
}

func jsonValue(v any) any {
	switch x := v.(type) {
	case duckdb.Decimal:
		return json.Number(warehouse.DecimalText(x.Value, int(x.Scale)))
	case *big.Int:
		return json.Number(x.String())
	case time.Time:
		return text(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonValue(e)
		}
		return out
	default:
		return v
	}
}
