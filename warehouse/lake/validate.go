package lake

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/custmart/custmart/jobs/config"
	"github.com/custmart/custmart/warehouse"
)

// LakeColumns is the canonical schema of the lake's transaction files, as
// selected from the checked table. The Hive partition column `date` (the
// transaction's day) is added by the directory layout.
var LakeColumns = []string{
	"transaction_id", "order_id", "customer_id", "ts", "amount", "quantity", "unit_price",
	"currency", "channel", "store_id", "product_id", "is_refund", "source", "batch_id",
	"file AS source_file", "line AS source_line",
}

// Reason codes of quarantined rows.
var ReasonCodes = []string{
	"invalid_utf8", "bad_column_count", "malformed_row", "bad_json",
	"missing_customer_id", "missing_ts", "bad_ts", "ts_in_future", "ts_before_floor",
	"missing_amount", "bad_amount", "bad_quantity", "bad_unit_price", "bad_currency",
}

// validate turns raw_rows into the checked table: typed canonical columns,
// reason_code and message for rejected rows, and duplicate for rows whose
// transaction_id was seen earlier in the file or in the lake. It is one
// set-based DuckDB statement; no Go code touches individual rows.
func (in *Ingester) validate(ctx context.Context, conn *sql.Conn, src config.Source, batchID string, files []candidate) error {
	col := func(canon string) string {
		if c, ok := src.Columns[canon]; ok && c != "" {
			return "NULLIF(trim(" + warehouse.Ident(c) + "), '')"
		}
		return "NULL::VARCHAR"
	}
	name := func(canon string) string { return warehouse.Quote(src.Columns[canon]) }

	tsParse := "TRY_CAST(v_ts AS TIMESTAMP)"
	switch {
	case src.CSV.TimestampFormat != "":
		tsParse = fmt.Sprintf("TRY_STRPTIME(v_ts, %s)", warehouse.Quote(src.CSV.TimestampFormat))
	case src.CSV.DateFormat != "":
		tsParse = fmt.Sprintf("TRY_STRPTIME(v_ts, %s)", warehouse.Quote(src.CSV.DateFormat))
	}
	if src.CSV.TimestampFormat != "" && src.CSV.DateFormat != "" {
		tsParse = fmt.Sprintf("coalesce(TRY_STRPTIME(v_ts, %s), TRY_STRPTIME(v_ts, %s))",
			warehouse.Quote(src.CSV.TimestampFormat), warehouse.Quote(src.CSV.DateFormat))
	}
	amount := "TRY_CAST(v_amount AS DECIMAL(18,2))"
	amountMissing := "v_amount IS NULL"
	if src.Columns["amount"] == "" {
		amount = "TRY_CAST(TRY_CAST(v_quantity AS DECIMAL(18,3)) * TRY_CAST(v_unit_price AS DECIMAL(18,4)) AS DECIMAL(18,2))"
		amountMissing = "v_quantity IS NULL OR v_unit_price IS NULL"
	}
	// A timestamp is in the future when it is after the later of the logical
	// date and today: a backfill as of a past date still lands the real data
	// that followed it (later runs and holdout checks need it); models only
	// ever read up to their as-of date.
	horizon := in.AsOf
	if today := in.now().UTC().Truncate(24 * time.Hour); today.After(horizon) {
		horizon = today
	}
	latest := horizon.AddDate(0, 0, 1).Add(src.FutureTolerance.D())
	currencyCheck := "false"
	if len(src.Currencies) > 0 {
		quoted := make([]string, len(src.Currencies))
		for i, c := range src.Currencies {
			quoted[i] = warehouse.Quote(strings.ToUpper(c))
		}
		currencyCheck = fmt.Sprintf("v_currency IS NOT NULL AND upper(v_currency) NOT IN (%s)", strings.Join(quoted, ", "))
	}
	refund := "coalesce(amount < 0, false) OR coalesce(quantity < 0, false)"
	if src.CancellationPattern != "" {
		refund += fmt.Sprintf(" OR coalesce(regexp_matches(order_id, %s), false)", warehouse.Quote(src.CancellationPattern))
	}

	stmt := fmt.Sprintf(`
CREATE OR REPLACE TEMP TABLE checked AS
WITH v AS (
  SELECT file, line, raw, reader_reason, reader_message,
    %[1]s AS v_transaction_id, %[2]s AS v_order_id, %[3]s AS v_customer_id, %[4]s AS v_ts,
    %[5]s AS v_amount, %[6]s AS v_quantity, %[7]s AS v_unit_price, %[8]s AS v_currency,
    %[9]s AS v_channel, %[10]s AS v_store_id, %[11]s AS v_product_id
  FROM raw_rows),
t AS (
  SELECT *, %[12]s AS ts, %[13]s AS amount,
    TRY_CAST(v_quantity AS DECIMAL(18,3)) AS quantity,
    TRY_CAST(v_unit_price AS DECIMAL(18,4)) AS unit_price
  FROM v),
r AS (
  SELECT *, CASE
    WHEN reader_reason IS NOT NULL THEN reader_reason
    WHEN v_customer_id IS NULL THEN 'missing_customer_id'
    WHEN v_ts IS NULL THEN 'missing_ts'
    WHEN ts IS NULL THEN 'bad_ts'
    WHEN ts >= %[14]s::TIMESTAMP THEN 'ts_in_future'
    WHEN ts < %[15]s::TIMESTAMP THEN 'ts_before_floor'
    WHEN %[16]s THEN 'missing_amount'
    WHEN amount IS NULL THEN 'bad_amount'
    WHEN v_quantity IS NOT NULL AND quantity IS NULL THEN 'bad_quantity'
    WHEN v_unit_price IS NOT NULL AND unit_price IS NULL THEN 'bad_unit_price'
    WHEN %[17]s THEN 'bad_currency'
  END AS reason_code
  FROM t)
SELECT file, line, raw, reason_code,
  CASE reason_code
    WHEN 'missing_customer_id' THEN format('column {} is empty', %[18]s)
    WHEN 'missing_ts' THEN format('column {} is empty', %[19]s)
    WHEN 'bad_ts' THEN format('column {}: {} is not a timestamp in the configured format', %[19]s, v_ts)
    WHEN 'ts_in_future' THEN format('column {}: {} is after %[20]s plus future_tolerance', %[19]s, v_ts)
    WHEN 'ts_before_floor' THEN format('column {}: {} is before not_before %[21]s', %[19]s, v_ts)
    WHEN 'missing_amount' THEN format('column {} is empty', %[22]s)
    WHEN 'bad_amount' THEN format('column {}: {} is not an amount', %[22]s, coalesce(v_amount, v_quantity || ' * ' || v_unit_price))
    WHEN 'bad_quantity' THEN format('column {}: {} is not a number', %[23]s, v_quantity)
    WHEN 'bad_unit_price' THEN format('column {}: {} is not a number', %[24]s, v_unit_price)
    WHEN 'bad_currency' THEN format('column {}: {} is not an allowed currency', %[25]s, v_currency)
    WHEN 'bad_column_count' THEN coalesce(reader_message, 'wrong number of columns')
    WHEN 'bad_json' THEN 'not a JSON object'
    ELSE reader_message END AS message,
  v_transaction_id AS transaction_id, v_order_id AS order_id, v_customer_id AS customer_id,
  ts, amount, quantity, unit_price, upper(v_currency) AS currency, v_channel AS channel,
  v_store_id AS store_id, v_product_id AS product_id,
  reason_code IS NULL AND (%[26]s) AS is_refund,
  %[27]s AS source, %[28]s AS batch_id,
  false AS duplicate
FROM r`,
		col("transaction_id"), col("order_id"), col("customer_id"), col("ts"),
		col("amount"), col("quantity"), col("unit_price"), col("currency"),
		col("channel"), col("store_id"), col("product_id"),
		tsParse, amount,
		warehouse.Quote(latest.Format(time.DateTime)), warehouse.Quote(src.NotBefore),
		amountMissing, currencyCheck,
		name("customer_id"), name("ts"), horizon.Format(time.DateOnly), src.NotBefore,
		warehouse.Quote(amountSourceName(src)), name("quantity"), name("unit_price"), name("currency"),
		refund, warehouse.Quote(src.Name), warehouse.Quote(batchID))
	if _, err := conn.ExecContext(ctx, stmt); err != nil {
		return err
	}
	return in.markDuplicates(ctx, conn, src, files)
}

func amountSourceName(src config.Source) string {
	if c := src.Columns["amount"]; c != "" {
		return c
	}
	return src.Columns["quantity"] + " * " + src.Columns["unit_price"]
}

// markDuplicates flags valid rows whose transaction_id appeared earlier in the
// batch or is already in the lake for this source (ignoring the rows of the
// files this batch replaces). Sources without transaction ids keep identical
// rows: they are separate purchases.
func (in *Ingester) markDuplicates(ctx context.Context, conn *sql.Conn, src config.Source, files []candidate) error {
	if src.Columns["transaction_id"] == "" {
		return nil
	}
	seen := "SELECT NULL::VARCHAR AS transaction_id WHERE false"
	if lakeFiles, err := filepath.Glob(in.Layout.TransactionsGlob()); err == nil && len(lakeFiles) > 0 {
		exclude := []string{"false"}
		for _, f := range files {
			if f.replaces != "" {
				exclude = append(exclude, fmt.Sprintf("(batch_id = %s AND source_file = %s)", warehouse.Quote(f.replaces), warehouse.Quote(f.path)))
			}
		}
		seen = fmt.Sprintf(`SELECT transaction_id FROM read_parquet(%s, hive_partitioning=false)
WHERE source = %s AND transaction_id IS NOT NULL AND NOT (%s)`,
			warehouse.Quote(in.Layout.TransactionsGlob()), warehouse.Quote(src.Name), strings.Join(exclude, " OR "))
	}
	stmt := fmt.Sprintf(`
UPDATE checked SET duplicate = true
WHERE (file, line) IN (
  SELECT (file, line) FROM (
    SELECT file, line, transaction_id, row_number() OVER (PARTITION BY transaction_id ORDER BY file, line) AS nth
    FROM checked WHERE reason_code IS NULL AND transaction_id IS NOT NULL)
  WHERE nth > 1 OR transaction_id IN (%s))`, seen)
	_, err := conn.ExecContext(ctx, stmt)
	return err
}
