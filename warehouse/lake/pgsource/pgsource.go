// Package pgsource reads a PostgreSQL table or query incrementally: the rows
// whose watermark column is above the last value read, in watermark order,
// as text, streamed with pgx.
package pgsource

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/custmart/custmart/warehouse"
)

// Settings say which rows of which database a source reads: the rows of
// Table, or of Query, whose Watermark column is above the last one
// committed, in watermark order, committed in batches of about BatchSize
// rows (rows sharing a watermark value stay in one batch).
type Settings struct {
	// DSNEnv names the environment variable holding the connection string,
	// so that no password is written in the configuration.
	DSNEnv    string
	Table     string // schema.name; or else Query
	Query     string
	Watermark string // an increasing column such as updated_at or id
	BatchSize int
}

// Validate checks the settings; fields are named by their configuration keys.
func (s Settings) Validate() error {
	if s.DSNEnv == "" {
		return warehouse.InvalidSetting("dsn_env", "missing", "name the environment variable holding the connection string")
	}
	if (s.Table == "") == (s.Query == "") {
		return warehouse.InvalidSetting("", "give exactly one of table or query", "set postgres.table: schema.name or postgres.query: SELECT ...")
	}
	if s.Watermark == "" {
		return warehouse.InvalidSetting("watermark", "missing", "name an increasing column such as updated_at or id")
	}
	if s.BatchSize < 1 {
		return warehouse.InvalidSetting("batch_size", fmt.Sprintf("%d is not a batch size", s.BatchSize), "give the rows per committed batch, e.g. 50000")
	}
	return nil
}

// connectTimeout bounds the connection attempt when the DSN sets none.
const connectTimeout = 10 * time.Second

// Reader streams the new rows of a source. Values returns the current row's
// values as text (nil for NULL) and Watermark its watermark as text; both
// are valid until the next call to Next.
type Reader struct {
	source string
	conn   *pgx.Conn
	rows   pgx.Rows
	names  []string
	values [][]byte
	mark   string
	what   string
}

// Open connects to the source's database and starts reading the rows whose
// watermark is greater than after (all rows when after is empty). Rows with
// a NULL watermark are never read.
func Open(ctx context.Context, source string, pg Settings, after string) (*Reader, error) {
	dsn := os.Getenv(pg.DSNEnv)
	if dsn == "" {
		return nil, fmt.Errorf("source %s: environment variable %s is empty; set it to the database's connection string (postgres://user:password@host:5432/db)", source, pg.DSNEnv)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("source %s: the connection string in %s is not valid: %v (use postgres://user:password@host:5432/db)", source, pg.DSNEnv, err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = connectTimeout
	}
	// Timestamps come out in UTC, and the stored watermark reads back the same.
	cfg.RuntimeParams["timezone"] = "UTC"
	cfg.RuntimeParams["datestyle"] = "ISO, YMD"
	r := &Reader{source: source, what: describe(pg)}
	r.conn, err = pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("source %s: cannot connect to PostgreSQL at %s:%d (connection string from %s): %v; check that the database is up and reachable, and the credentials",
			source, cfg.Host, cfg.Port, pg.DSNEnv, connectCause(err))
	}
	if err := r.start(ctx, pg, after); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func describe(pg Settings) string {
	if pg.Table != "" {
		return pg.Table
	}
	return "query"
}

func connectCause(err error) error {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) && errors.Unwrap(ce) != nil {
		return errors.Unwrap(ce)
	}
	return err
}

func (r *Reader) start(ctx context.Context, pg Settings, after string) error {
	rel := "(" + pg.Query + ")"
	if pg.Table != "" {
		rel = pgx.Identifier(strings.Split(pg.Table, ".")).Sanitize()
	}
	rel += " AS q"
	probe, err := r.conn.Query(ctx, "SELECT * FROM "+rel+" LIMIT 0")
	if err != nil {
		return fmt.Errorf("source %s: cannot read %s: %v (check postgres.table or postgres.query)", r.source, r.what, err)
	}
	for _, f := range probe.FieldDescriptions() {
		r.names = append(r.names, f.Name)
	}
	probe.Close()
	if err := probe.Err(); err != nil {
		return fmt.Errorf("source %s: cannot read %s: %v (check postgres.table or postgres.query)", r.source, r.what, err)
	}
	if !slices.Contains(r.names, pg.Watermark) {
		return fmt.Errorf("source %s: watermark column %q is not a column of %s; its columns are: %s (fix postgres.watermark)",
			r.source, pg.Watermark, r.what, strings.Join(r.names, ", "))
	}
	wm := "q." + pgx.Identifier{pg.Watermark}.Sanitize()
	where := wm + " IS NOT NULL"
	if after != "" {
		// A literal of unknown type takes the watermark column's type.
		where += " AND " + wm + " > '" + strings.ReplaceAll(after, "'", "''") + "'"
	}
	query := fmt.Sprintf("SELECT q.*, (%s)::text FROM %s WHERE %s ORDER BY %s", wm, rel, where, wm)
	r.rows, err = r.conn.Query(ctx, query, pgx.QueryResultFormats{pgx.TextFormatCode})
	if err != nil {
		return fmt.Errorf("source %s: read %s: %v", r.source, r.what, err)
	}
	return nil
}

// Columns are the source's column names.
func (r *Reader) Columns() []string { return r.names }

// Next advances to the next row; false at the end or on an error (see Err).
func (r *Reader) Next() bool {
	if !r.rows.Next() {
		return false
	}
	raw := r.rows.RawValues()
	r.values = raw[:len(r.names)]
	r.mark = string(raw[len(r.names)])
	return true
}

// Values are the current row's values as text; nil is NULL.
func (r *Reader) Values() [][]byte { return r.values }

// Watermark is the current row's watermark as text.
func (r *Reader) Watermark() string { return r.mark }

// Err is the error that ended the rows, if any.
func (r *Reader) Err() error {
	if r.rows == nil {
		return nil
	}
	if err := r.rows.Err(); err != nil {
		return fmt.Errorf("source %s: reading %s from PostgreSQL failed: %v (is the database still up? the next ingest resumes from the last committed batch)", r.source, r.what, err)
	}
	return nil
}

// Close ends the query and the connection.
func (r *Reader) Close() {
	if r.rows != nil {
		r.rows.Close()
	}
	if r.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.conn.Close(ctx)
	}
}
