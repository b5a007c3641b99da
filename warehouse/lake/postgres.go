package lake

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/lake/pgsource"
)

// SourceState is what lake/_state/<source>.json records for a database
// source: the watermark up to which its rows are in the lake.
type SourceState struct {
	Source    string    `json:"source"`
	Watermark string    `json:"watermark"`
	BatchID   string    `json:"batch_id"`
	UpdatedAt time.Time `json:"updated_at"`
}

func statePath(l warehouse.Layout, source string) string {
	return filepath.Join(l.SourceState(), source+".json")
}

// LoadState reads a database source's state; the zero state when it has none.
func LoadState(l warehouse.Layout, source string) (SourceState, error) {
	raw, err := os.ReadFile(statePath(l, source))
	if errors.Is(err, os.ErrNotExist) {
		return SourceState{Source: source}, nil
	}
	if err != nil {
		return SourceState{}, fmt.Errorf("read state of source %s: %w", source, err)
	}
	var s SourceState
	if err := json.Unmarshal(raw, &s); err != nil {
		return SourceState{}, fmt.Errorf("state file %s is corrupt: %w (delete it; the watermark is then taken from the manifest)", statePath(l, source), err)
	}
	return s, nil
}

func saveState(l warehouse.Layout, s SourceState) error {
	s.UpdatedAt = time.Now().UTC()
	raw, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return warehouse.WriteFileAtomic(statePath(l, s.Source), raw, 0o644)
}

// currentState returns the source's state, advanced to its latest committed
// batch when the state file is behind it (a crash after the commit and
// before the state was saved).
func currentState(l warehouse.Layout, m *Manifest, source string) (SourceState, bool, error) {
	s, err := LoadState(l, source)
	if err != nil {
		return s, false, err
	}
	repaired := false
	for _, b := range m.Batches() { // in commit order
		if b.Source == source && b.Status == StatusCommitted && b.WatermarkTo != "" && b.BatchID > s.BatchID {
			s.Watermark, s.BatchID, repaired = b.WatermarkTo, b.BatchID, true
		}
	}
	return s, repaired, nil
}

// ingestPostgres reads the rows of a database source above its watermark in
// batches of about batch_size rows (never splitting rows that share a
// watermark value), and loads each batch like a file: appended to DuckDB in
// bulk, validated, staged, committed. The watermark is saved after each
// commit.
func (in *Ingester) ingestPostgres(ctx context.Context, db *sql.DB, src Source, scratch string, progress *tracker) ([]FileResult, error) {
	manifest, err := LoadManifest(in.Layout)
	if err != nil {
		return nil, err
	}
	state, repaired, err := currentState(in.Layout, manifest, src.Name)
	if err != nil {
		return nil, err
	}
	if repaired && !in.DryRun {
		if err := saveState(in.Layout, state); err != nil {
			return nil, err
		}
	}
	r, err := pgsource.Open(ctx, src.Name, *src.Postgres, state.Watermark)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	what := "postgres:" + src.Name
	if err := checkMapping(src, what, r.Columns()); err != nil {
		return nil, err
	}
	conn, err := in.conn(ctx, db)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var results []FileResult
	for more := r.Next(); more; {
		b := in.newBatch(src, scratch, progress)
		table := "pg_rows_" + b.id[len(b.id)-8:]
		b.watermarkFrom = state.Watermark
		b.watermarkTo, more, err = appendBatch(ctx, conn, table, r, src.Postgres.BatchSize)
		if err != nil {
			return results, fmt.Errorf("source %s: load rows into DuckDB: %w", src.Name, err)
		}
		res, err := in.loadDatabaseBatch(ctx, conn, b, table, r.Columns(), manifest)
		results = append(results, res...)
		if err != nil {
			return results, err
		}
		if len(res) == 0 || res[0].Status == FileFailed {
			// The watermark stays before this batch: it is read again next time.
			return results, nil
		}
		state.Watermark, state.BatchID = b.watermarkTo, b.id
		if !in.DryRun {
			if err := saveState(in.Layout, state); err != nil {
				return results, fmt.Errorf("source %s: batch %s is in the lake but its watermark was not saved (the next ingest takes it from the manifest): %w", src.Name, b.id, err)
			}
		}
	}
	return results, r.Err()
}

func (in *Ingester) loadDatabaseBatch(ctx context.Context, conn *sql.Conn, b *batchRun, table string, names []string, m *Manifest) ([]FileResult, error) {
	defer b.cleanup()
	defer conn.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+warehouse.Ident(table))
	name := fmt.Sprintf("postgres:%s/%s (%s, %s]", b.src.Name, b.src.Postgres.Table, b.watermarkFrom, b.watermarkTo)
	if b.src.Postgres.Table == "" {
		name = fmt.Sprintf("postgres:%s/query (%s, %s]", b.src.Name, b.watermarkFrom, b.watermarkTo)
	}
	item := &input{inputFile: inputFile{path: name}, name: name, names: names}
	b.inputs = []*input{item}
	if err := os.MkdirAll(b.stage, 0o755); err != nil {
		return nil, fmt.Errorf("stage batch: %w", err)
	}
	b.read(ctx, conn, &unit{seq: b.nextSeq(), table: table, parts: []*part{{in: item, firstLine: 1}}})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	results, err := b.finish(ctx, conn, m)
	for _, r := range results {
		b.logResult(r)
	}
	return results, err
}

// appendBatch appends rows from r (positioned on a row) into a new table
// (line, <columns as VARCHAR>) through DuckDB's appender until size rows are
// in and the watermark changes. It returns the last watermark, and whether r
// is positioned on a row of the next batch.
func appendBatch(ctx context.Context, conn *sql.Conn, table string, r *pgsource.Reader, size int) (last string, more bool, err error) {
	cols := "line BIGINT"
	for _, name := range r.Columns() {
		cols += ", " + warehouse.Ident(name) + " VARCHAR"
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TABLE %s (%s)", warehouse.Ident(table), cols)); err != nil {
		return "", false, err
	}
	var n int64
	err = conn.Raw(func(dc any) error {
		a, err := duckdb.NewAppenderFromConn(dc.(driver.Conn), "", table)
		if err != nil {
			return err
		}
		row := make([]driver.Value, len(r.Columns())+1)
		for {
			if n >= int64(size) && r.Watermark() != last {
				more = true
				break
			}
			n++
			row[0] = n
			for i, v := range r.Values() {
				row[i+1] = nil
				if v != nil {
					row[i+1] = string(v)
				}
			}
			if err := a.AppendRow(row...); err != nil {
				a.Close()
				return err
			}
			last = r.Watermark()
			if !r.Next() {
				break
			}
			if n%4096 == 0 && ctx.Err() != nil {
				a.Close()
				return ctx.Err()
			}
		}
		return a.Close()
	})
	if err == nil {
		err = r.Err()
	}
	return last, more, err
}
