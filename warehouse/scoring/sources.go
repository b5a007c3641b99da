package scoring

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/transform"
)

// Empty tables for sources that are not configured: the SQL models read the
// same columns either way.
const (
	emptyFeedback = `CREATE OR REPLACE TABLE feedback (source_file VARCHAR, customer_id VARCHAR, date DATE,
  score DOUBLE, scale DOUBLE, score_share DOUBLE)`
	emptyCampaignResponse = `CREATE OR REPLACE TABLE campaign_response (source_file VARCHAR, customer_id VARCHAR,
  campaign_id VARCHAR, date DATE, responded BOOLEAN)`
)

// loadFeedback is the feedback Go model: the answers of the optional
// model.feedback source up to the as-of date, or an empty table.
func loadFeedback(ctx context.Context, conn *sql.Conn, env transform.Env) error {
	f := env.Params.Feedback
	if f == nil {
		_, err := conn.ExecContext(ctx, emptyFeedback)
		return err
	}
	scale := "NULL::DOUBLE"
	if col := f.Columns["scale"]; col != "" {
		scale = fmt.Sprintf("TRY_CAST(%s AS DOUBLE)", warehouse.Ident(col))
	}
	if f.Scale > 0 {
		scale = fmt.Sprintf("coalesce(%s, %g::DOUBLE)", scale, f.Scale)
	}
	stmt := fmt.Sprintf(`CREATE OR REPLACE TABLE feedback AS
SELECT *, score / scale AS score_share
FROM (
  SELECT filename AS source_file, CAST(%s AS VARCHAR) AS customer_id, %s AS date,
    TRY_CAST(%s AS DOUBLE) AS score, %s AS scale
  FROM %s)
WHERE date IS NULL OR date <= DATE %s`,
		warehouse.Ident(f.Columns["customer_id"]), dateExpr(f.Columns["date"]),
		warehouse.Ident(f.Columns["score"]), scale,
		reader(f.SideFile), warehouse.Quote(env.AsOf.Format(time.DateOnly)))
	if _, err := conn.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("feedback: read %s: %w (check model.feedback: the path, the format and that every mapped column exists)", f.Path, err)
	}
	return nil
}

// loadCampaignResponse is the campaign_response Go model: the contacts of
// the optional model.campaign_response source up to the as-of date, or an
// empty table.
func loadCampaignResponse(ctx context.Context, conn *sql.Conn, env transform.Env) error {
	c := env.Params.CampaignResponse
	if c == nil {
		_, err := conn.ExecContext(ctx, emptyCampaignResponse)
		return err
	}
	stmt := fmt.Sprintf(`CREATE OR REPLACE TABLE campaign_response AS
SELECT *
FROM (
  SELECT filename AS source_file, CAST(%s AS VARCHAR) AS customer_id, CAST(%s AS VARCHAR) AS campaign_id,
    %s AS date, TRY_CAST(%s AS BOOLEAN) AS responded
  FROM %s)
WHERE date IS NULL OR date <= DATE %s`,
		warehouse.Ident(c.Columns["customer_id"]), warehouse.Ident(c.Columns["campaign_id"]),
		dateExpr(c.Columns["date"]), warehouse.Ident(c.Columns["responded"]),
		reader(*c), warehouse.Quote(env.AsOf.Format(time.DateOnly)))
	if _, err := conn.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("campaign_response: read %s: %w (check model.campaign_response: the path, the format and that every mapped column exists)", c.Path, err)
	}
	return nil
}

// reader is the DuckDB table function reading a side file, with a filename
// column naming the file of each row.
func reader(f transform.SideFile) string {
	path := warehouse.Quote(f.Path)
	switch f.Format {
	case "jsonl":
		return fmt.Sprintf("read_json(%s, format = 'newline_delimited', filename = true)", path)
	case "parquet":
		return fmt.Sprintf("read_parquet(%s, filename = true)", path)
	default:
		return fmt.Sprintf("read_csv(%s, header = true, all_varchar = true, filename = true)", path)
	}
}

// dateExpr reads a date or a timestamp column as a DATE (NULL when it is neither).
func dateExpr(col string) string {
	c := warehouse.Ident(col)
	return fmt.Sprintf("coalesce(TRY_CAST(%s AS DATE), TRY_CAST(%s AS TIMESTAMP)::DATE)", c, c)
}
