package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/engine"
)

// Steps of the bare DuckDB baseline: the least SQL that does the work of the
// pipeline over the same input files, with no validation, quarantine,
// manifest, partitioning, incremental state or checks. It writes Parquet
// with the pipeline's options (warehouse.ParquetOptions), like for like.
const (
	BareCopy    = "copy"    // every CSV file to one typed zstd Parquet file, one COPY
	BareSummary = "summary" // customer summary (customer_profile's facts) over that Parquet
	BareRFM     = "rfm"     // recency, frequency, monetary and quintile scores over that Parquet
	BareExport  = "export"  // both tables to Parquet
)

// BareSteps lists the steps in the order they run.
var BareSteps = []string{BareCopy, BareSummary, BareRFM, BareExport}

// BareDir is where the baseline writes under a data directory.
func BareDir(dataDir string) string { return filepath.Join(dataDir, "bare") }

// fixtureColumns are the typed columns of the fixture day files.
const fixtureColumns = `{'transaction_id': 'VARCHAR', 'order_id': 'VARCHAR', 'customer_id': 'VARCHAR',
  'ts': 'TIMESTAMP', 'product_id': 'VARCHAR', 'quantity': 'DECIMAL(18,3)', 'unit_price': 'DECIMAL(18,4)',
  'amount': 'DECIMAL(18,2)', 'currency': 'VARCHAR', 'channel': 'VARCHAR', 'store_id': 'VARCHAR'}`

// RunBare runs one step of the baseline over the *.csv files of inbox (in
// the fixtures' format) as of asOf, writing under BareDir(dataDir), and
// returns the rows it wrote. Steps after copy read its Parquet file.
func RunBare(ctx context.Context, step, inbox, dataDir string, asOf time.Time, e engine.Settings) (int64, error) {
	dir := BareDir(dataDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("bare %s: %w", step, err)
	}
	db, err := engine.Open(ctx, filepath.Join(dir, "bare.duckdb"), e)
	if err != nil {
		return 0, fmt.Errorf("bare %s: %w", step, err)
	}
	defer db.Close()
	parquet := warehouse.Quote(filepath.Join(dir, "transactions.parquet"))
	nextDay := warehouse.Quote(asOf.AddDate(0, 0, 1).Format(time.DateOnly))
	day := warehouse.Quote(asOf.Format(time.DateOnly))
	var stmts []string
	var count string
	switch step {
	case BareCopy:
		stmts = []string{fmt.Sprintf(`COPY (
  SELECT transaction_id, order_id, customer_id, ts, amount, quantity, unit_price, currency, channel, store_id, product_id,
         amount < 0 OR quantity < 0 OR starts_with(order_id, 'R') AS is_refund
  FROM read_csv(%s, header = true, auto_detect = false, columns = %s))
TO %s (%s)`, warehouse.Quote(filepath.Join(inbox, "*.csv")), fixtureColumns, parquet, warehouse.ParquetOptions)}
		count = "SELECT count(*) FROM read_parquet(" + parquet + ")"
	case BareSummary:
		stmts = []string{fmt.Sprintf(`CREATE OR REPLACE TABLE customer_summary AS
SELECT customer_id,
  CAST(min(ts) FILTER (WHERE NOT is_refund) AS DATE) AS first_purchase,
  CAST(max(ts) FILTER (WHERE NOT is_refund) AS DATE) AS last_purchase,
  count(DISTINCT order_id) FILTER (WHERE NOT is_refund) AS orders,
  count(DISTINCT CAST(ts AS DATE)) FILTER (WHERE NOT is_refund) AS purchase_days,
  sum(quantity) FILTER (WHERE NOT is_refund) AS items,
  sum(amount) FILTER (WHERE NOT is_refund) AS gross_revenue,
  coalesce(-sum(amount) FILTER (WHERE is_refund), 0) AS refunds,
  sum(amount) AS net_revenue
FROM read_parquet(%s)
WHERE ts < DATE %s
GROUP BY customer_id
HAVING count(*) FILTER (WHERE NOT is_refund) > 0`, parquet, nextDay)}
		count = "SELECT count(*) FROM customer_summary"
	case BareRFM:
		stmts = []string{fmt.Sprintf(`CREATE OR REPLACE TABLE rfm AS
WITH base AS (
  SELECT customer_id,
    DATE %s - CAST(max(ts) FILTER (WHERE NOT is_refund) AS DATE) AS recency_days,
    count(DISTINCT order_id) FILTER (WHERE NOT is_refund) AS orders,
    sum(amount) AS monetary
  FROM read_parquet(%s)
  WHERE ts < DATE %s
  GROUP BY customer_id
  HAVING count(*) FILTER (WHERE NOT is_refund) > 0),
cuts AS (
  SELECT quantile_cont(recency_days, [0.2, 0.4, 0.6, 0.8]) AS r_cuts,
         quantile_cont(orders, [0.2, 0.4, 0.6, 0.8]) AS f_cuts,
         quantile_cont(monetary, [0.2, 0.4, 0.6, 0.8]) AS m_cuts
  FROM base)
SELECT b.customer_id, b.recency_days, b.orders, b.monetary,
  1 + len(list_filter(c.r_cuts, x -> b.recency_days < x)) AS r_score,
  1 + len(list_filter(c.f_cuts, x -> b.orders > x)) AS f_score,
  1 + len(list_filter(c.m_cuts, x -> b.monetary > x)) AS m_score
FROM base b, cuts c`, day, parquet, nextDay)}
		count = "SELECT count(*) FROM rfm"
	case BareExport:
		for _, t := range []string{"customer_summary", "rfm"} {
			stmts = append(stmts, fmt.Sprintf("COPY %s TO %s (%s)", t, warehouse.Quote(filepath.Join(dir, t+".parquet")), warehouse.ParquetOptions))
		}
		count = "SELECT (SELECT count(*) FROM customer_summary) + (SELECT count(*) FROM rfm)"
	default:
		return 0, fmt.Errorf("bare: unknown step %q: use one of %v", step, BareSteps)
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return 0, fmt.Errorf("bare %s: %w", step, err)
		}
	}
	var rows int64
	if err := db.QueryRowContext(ctx, count).Scan(&rows); err != nil {
		return 0, fmt.Errorf("bare %s: count rows: %w", step, err)
	}
	return rows, nil
}
