package transform

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	models "github.com/custmart/custmart/sql"
	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/lake"
)

// setup creates the state tables, sets the run's parameters as DuckDB
// variables (models read them with getvariable) and writes the parameter
// tables of the configuration.
func setup(ctx context.Context, conn *sql.Conn, m Params, asOf time.Time) error {
	holdout := "NULL::DATE"
	if m.HoldoutFrom != "" {
		holdout = "DATE " + warehouse.Quote(m.HoldoutFrom)
	}
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS _custmart_models (name VARCHAR PRIMARY KEY, hash VARCHAR, built_at TIMESTAMP)`,
		`CREATE TABLE IF NOT EXISTS _custmart_partitions (model VARCHAR, day DATE, fingerprint VARCHAR)`,
		`CREATE TABLE IF NOT EXISTS _custmart_state (key VARCHAR PRIMARY KEY, value VARCHAR)`,
		// Models never rely on row order, and keeping it costs memory on big builds.
		"SET preserve_insertion_order = false",
		"SET VARIABLE as_of = DATE " + warehouse.Quote(asOf.Format(time.DateOnly)),
		"SET VARIABLE time_unit = " + warehouse.Quote(m.TimeUnit),
		fmt.Sprintf("SET VARIABLE unit_days = %g::DOUBLE", m.UnitDays()),
		fmt.Sprintf("SET VARIABLE horizon = %g::DOUBLE", m.Horizon),
		fmt.Sprintf("SET VARIABLE margin_rate = %g::DOUBLE", m.MarginRate),
		fmt.Sprintf("SET VARIABLE cost_per_order = %g::DOUBLE", m.CostPerOrder),
		fmt.Sprintf("SET VARIABLE cost_per_customer_year = %g::DOUBLE", m.CostPerCustomerYr),
		fmt.Sprintf("SET VARIABLE acquisition_cost = %g::DOUBLE", m.AcquisitionCost),
		fmt.Sprintf("SET VARIABLE discount_rate = %g::DOUBLE", m.DiscountRate),
		"SET VARIABLE monetary = " + warehouse.Quote(m.Monetary),
		"SET VARIABLE predictive_model = " + warehouse.Quote(m.PredictiveModel),
		fmt.Sprintf("SET VARIABLE tier_platinum = %g::DOUBLE", m.Tiers.Platinum),
		fmt.Sprintf("SET VARIABLE tier_gold = %g::DOUBLE", m.Tiers.Gold),
		fmt.Sprintf("SET VARIABLE tier_iron = %g::DOUBLE", m.Tiers.Iron),
		fmt.Sprintf("SET VARIABLE cycle_bands = [%g, %g]::DOUBLE[]", m.CycleBands[0], m.CycleBands[1]),
		fmt.Sprintf("SET VARIABLE amount_bands = [%g, %g]::DOUBLE[]", m.AmountBands[0], m.AmountBands[1]),
		"SET VARIABLE holdout_from = " + holdout,
		`CREATE OR REPLACE TEMP TABLE param_rfm_segments (ord INTEGER, segment VARCHAR,
  r_lo INTEGER, r_hi INTEGER, f_lo INTEGER, f_hi INTEGER, m_lo INTEGER, m_hi INTEGER)`,
	}
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("setup: %s: %w", firstLine(s), err)
		}
	}
	for i, r := range m.RFMSegments {
		if _, err := conn.ExecContext(ctx, `INSERT INTO param_rfm_segments VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			i+1, r.Segment, r.R[0], r.R[1], r.F[0], r.F[1], r.M[0], r.M[1]); err != nil {
			return fmt.Errorf("setup: rfm segments: %w", err)
		}
	}
	return nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// defineLakeSources creates the relations models read the lake through:
// lake_transactions (every transaction file), lake_batches (the manifest)
// and lake_quarantine (rejected rows of live batches).
func defineLakeSources(ctx context.Context, conn *sql.Conn, l warehouse.Layout, manifest *lake.Manifest, parts map[string][]string) error {
	txView := lake.EmptyRelation(lake.TransactionSchema)
	if len(parts) > 0 {
		txView = fmt.Sprintf("SELECT * EXCLUDE (date) FROM read_parquet(%s, hive_partitioning=true)", warehouse.Quote(l.TransactionsGlob()))
	}
	live := map[[2]string]bool{}
	for _, lf := range manifest.Live() {
		live[[2]string{lf.BatchID, lf.File}] = true
	}
	// Every batch's quarantine is read, failed ones' too (they show why a
	// file was refused); the quarantine model keeps what is current.
	var quarantineFiles []string
	for _, f := range manifest.QuarantineFiles() {
		quarantineFiles = append(quarantineFiles, warehouse.Quote(filepath.Join(l.Lake(), f)))
	}
	qView := lake.EmptyRelation(lake.QuarantineSchema)
	if len(quarantineFiles) > 0 {
		qView = fmt.Sprintf("SELECT * FROM read_parquet([%s])", strings.Join(quarantineFiles, ", "))
	}
	stmts := []string{
		"CREATE OR REPLACE TEMP VIEW lake_transactions AS " + txView,
		"CREATE OR REPLACE TEMP VIEW lake_quarantine AS " + qView,
		`CREATE OR REPLACE TEMP TABLE lake_batches (batch_id VARCHAR, source VARCHAR, file VARCHAR, checksum VARCHAR,
  size_bytes BIGINT, status VARCHAR, rows_read BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT,
  rows_duplicate BIGINT, amount_loaded DECIMAL(18,2), live BOOLEAN, error VARCHAR,
  started_at TIMESTAMP, finished_at TIMESTAMP, rows_rejected BIGINT)`,
	}
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("lake sources: %w", err)
		}
	}
	batches := &batchInsert{conn: conn, table: "lake_batches", row: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::DECIMAL(18,2), ?, ?, ?, ?, ?)"}
	for _, b := range manifest.Batches() {
		for _, f := range b.Files {
			amount := sql.NullString{String: f.AmountLoaded, Valid: f.AmountLoaded != ""}
			if err := batches.add(ctx, b.BatchID, b.Source, f.File, f.Checksum, f.Size, f.Status, f.RowsRead, f.RowsLoaded,
				f.RowsQuarantined, f.RowsDuplicate, amount, live[[2]string{b.BatchID, f.File}],
				nullString(f.Error), b.StartedAt, b.FinishedAt, f.RowsRejected); err != nil {
				return fmt.Errorf("lake sources: manifest: %w", err)
			}
		}
	}
	if err := batches.flush(ctx); err != nil {
		return fmt.Errorf("lake sources: manifest: %w", err)
	}
	return nil
}

// batchInsert inserts rows into a table many per statement: one INSERT per
// row costs about 0.7 ms, and the manifest and the partition state grow by
// rows every day.
type batchInsert struct {
	conn  *sql.Conn
	table string
	row   string // one row's placeholders, e.g. "(?, ?::DATE)"
	rows  int
	args  []any
}

// batchInsertRows bounds the parameters of one statement.
const batchInsertRows = 100

func (b *batchInsert) add(ctx context.Context, values ...any) error {
	b.args = append(b.args, values...)
	b.rows++
	if b.rows == batchInsertRows {
		return b.flush(ctx)
	}
	return nil
}

// flush inserts the rows added since the last flush.
func (b *batchInsert) flush(ctx context.Context) error {
	if b.rows == 0 {
		return nil
	}
	rows := strings.TrimSuffix(strings.Repeat(b.row+", ", b.rows), ", ")
	if _, err := b.conn.ExecContext(ctx, "INSERT INTO "+b.table+" VALUES "+rows, b.args...); err != nil {
		return err
	}
	b.rows, b.args = 0, b.args[:0]
	return nil
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// defineDelta points lake_transactions_delta at the files of the changed days
// and fills changed_days, for incremental models.
func defineDelta(ctx context.Context, conn *sql.Conn, parts map[string][]string, changed []string) error {
	var files, days []string
	for _, d := range changed {
		days = append(days, "(DATE "+warehouse.Quote(d)+")")
		for _, f := range parts[d] {
			files = append(files, warehouse.Quote(f))
		}
	}
	view := lake.EmptyRelation(lake.TransactionSchema)
	if len(files) > 0 {
		view = fmt.Sprintf("SELECT * FROM read_parquet([%s], hive_partitioning=false)", strings.Join(files, ", "))
	}
	stmts := []string{
		"CREATE OR REPLACE TEMP VIEW lake_transactions_delta AS " + view,
		"CREATE OR REPLACE TEMP TABLE changed_days (day DATE)",
	}
	if len(days) > 0 {
		stmts = append(stmts, "INSERT INTO changed_days VALUES "+strings.Join(days, ", "))
	}
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("incremental delta: %w", err)
		}
	}
	return nil
}

// runChecks evaluates the model's declared checks; the first failure wins.
// changedOnly, for an incremental model that rebuilt only the days in
// changed_days (or an incremental_by_key one only the keys in changed_keys),
// limits the row checks to those: the other rows are the ones that passed
// before, unchanged (a changed definition rebuilds all). The row conditions
// (not_null, accepted_values, range) are counted in one scan of the model
// rather than one scan each: customer_value has fourteen.
func runChecks(ctx context.Context, conn *sql.Conn, m models.Model, changedOnly bool) error {
	changed := "SELECT day FROM changed_days"
	if m.Materialized == models.IncrementalByKey {
		changed = "SELECT " + warehouse.Ident(m.Partition) + " FROM changed_keys"
	}
	table := warehouse.Ident(m.Name)
	scoped := table
	if changedOnly {
		scoped = fmt.Sprintf("(SELECT * FROM %s WHERE %s IN (%s))", table, warehouse.Ident(m.Partition), changed)
	}
	rowFailing, err := countRowFailures(ctx, conn, m.Checks, scoped)
	if err != nil {
		return err
	}
	for i, c := range m.Checks {
		from := table
		if rowScoped(c, m.Partition) {
			from = scoped
		}
		query, err := checkQuery(from, c)
		if err != nil {
			return fmt.Errorf("check %s %s: %w", c.Kind, c.Args, err)
		}
		failing, counted := rowFailing[i]
		if !counted {
			if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM ("+query+")").Scan(&failing); err != nil {
				return fmt.Errorf("check %s %s: %w", c.Kind, c.Args, err)
			}
		}
		if failing == 0 {
			continue
		}
		sample, err := sampleRows(ctx, conn, query)
		if err != nil {
			return err
		}
		return &CheckError{Model: m.Name, Check: c, Failing: failing, Sample: sample}
	}
	return nil
}

// countRowFailures counts, in one scan of scoped, the rows failing each row
// condition among checks, by index in checks.
func countRowFailures(ctx context.Context, conn *sql.Conn, checks []models.Check, scoped string) (map[int]int64, error) {
	var index []int
	var counts []string
	for i, c := range checks {
		cond, ok, err := rowCondition(c)
		if err != nil {
			return nil, fmt.Errorf("check %s %s: %w", c.Kind, c.Args, err)
		}
		if ok {
			index = append(index, i)
			counts = append(counts, "count(*) FILTER (WHERE "+cond+")")
		}
	}
	if len(index) == 0 {
		return nil, nil
	}
	failing := make([]int64, len(index))
	dest := make([]any, len(index))
	for i := range failing {
		dest[i] = &failing[i]
	}
	if err := conn.QueryRowContext(ctx, "SELECT "+strings.Join(counts, ", ")+" FROM "+scoped).Scan(dest...); err != nil {
		// Each check then runs on its own, and the one at fault names itself.
		return nil, nil
	}
	out := make(map[int]int64, len(index))
	for k, i := range index {
		out[i] = failing[k]
	}
	return out, nil
}

// rowScoped reports whether check c holds for a table when it holds for each
// of its partitions: row checks, and uniqueness of a key that includes the
// partition column.
func rowScoped(c models.Check, partition string) bool {
	switch c.Kind {
	case "not_null", "accepted_values", "range":
		return true
	case "unique":
		return slices.Contains(splitCols(c.Args), partition)
	}
	return false
}

// checkQuery compiles a check on the relation t into a query returning the
// failing rows.
func checkQuery(t string, c models.Check) (string, error) {
	if cond, ok, err := rowCondition(c); ok || err != nil {
		return fmt.Sprintf("SELECT * FROM %s WHERE %s", t, cond), err
	}
	switch c.Kind {
	case "unique":
		cols := splitCols(c.Args)
		quoted := make([]string, len(cols))
		for i, col := range cols {
			quoted[i] = warehouse.Ident(col)
		}
		list := strings.Join(quoted, ", ")
		return fmt.Sprintf("SELECT %s, count(*) AS n FROM %s GROUP BY %s HAVING count(*) > 1", list, t, list), nil
	case "row_count":
		f := strings.Fields(c.Args)
		if len(f) == 0 || len(f) > 2 {
			return "", fmt.Errorf("write row_count <min> [max]")
		}
		cond := "count(*) < " + f[0]
		if len(f) == 2 {
			cond += " OR count(*) > " + f[1]
		}
		return fmt.Sprintf("SELECT count(*) AS rows FROM %s HAVING %s", t, cond), nil
	case "sql":
		return c.Args, nil
	}
	return "", fmt.Errorf("unknown check kind %s", c.Kind)
}

// rowCondition is the condition a row fails a row check by (ok false for
// the other kinds).
func rowCondition(c models.Check) (cond string, ok bool, err error) {
	switch c.Kind {
	case "not_null":
		var conds []string
		for _, col := range splitCols(c.Args) {
			conds = append(conds, warehouse.Ident(col)+" IS NULL")
		}
		return strings.Join(conds, " OR "), true, nil
	case "accepted_values":
		col, values, ok := strings.Cut(c.Args, ":")
		if !ok {
			return "", false, fmt.Errorf("write accepted_values <column>: <value> | <value> ...")
		}
		var quoted []string
		for _, v := range strings.Split(values, "|") {
			quoted = append(quoted, warehouse.Quote(strings.TrimSpace(v)))
		}
		return fmt.Sprintf("%s NOT IN (%s)", warehouse.Ident(strings.TrimSpace(col)), strings.Join(quoted, ", ")), true, nil
	case "range":
		f := strings.Fields(c.Args)
		if len(f) != 3 {
			return "", false, fmt.Errorf("write range <column> <min|NULL> <max|NULL>")
		}
		return fmt.Sprintf("%s < %s OR %s > %s", warehouse.Ident(f[0]), f[1], warehouse.Ident(f[0]), f[2]), true, nil
	}
	return "", false, nil
}

func splitCols(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func sampleRows(ctx context.Context, conn *sql.Conn, query string) ([]string, error) {
	rows, err := conn.QueryContext(ctx, "SELECT * FROM ("+query+") LIMIT 5")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []string
	for rows.Next() {
		vals, err := warehouse.ScanValues(rows, len(cols))
		if err != nil {
			return nil, err
		}
		parts := make([]string, len(cols))
		for i, c := range cols {
			parts[i] = fmt.Sprintf("%s=%v", c, vals[i])
		}
		out = append(out, strings.Join(parts, ", "))
	}
	return out, rows.Err()
}
