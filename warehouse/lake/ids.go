package lake

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/custmart/custmart/warehouse"
)

// The duplicate check reads an id index instead of the lake's
// transaction_id column: per source and committed batch, a file
// lake/_ids/<source>/<engine>/<batch>.parquet holding hash(transaction_id)
// and the day partition of every row the batch placed. A new row whose
// hash is in the index is compared, by its id, with the rows of the
// source in the days the index names, and only then counted a duplicate:
// a hash match alone rejects nothing. Rows a later batch replaced or a
// repair dropped stay in the index; they only cost that comparison. The
// index is written after the batch commits; a batch without its file (a
// crash in between, a lake older than the index, a deleted _ids folder,
// another DuckDB version, whose hash differs) gets it rebuilt from the
// batch's lake files before the check.

// idIndexDir is the index folder of a source for this engine's hash.
func idIndexDir(ctx context.Context, conn *sql.Conn, l warehouse.Layout, source string) (string, error) {
	var version string
	if err := conn.QueryRowContext(ctx, "SELECT version()").Scan(&version); err != nil {
		return "", fmt.Errorf("id index: %w", err)
	}
	return filepath.Join(l.Lake(), "_ids", source, "duckdb-"+version), nil
}

// batchTransactionFiles are the transaction files in place that hold rows
// a batch loaded (its own, and partitions later rewritten without a
// replaced file's rows, which are named after it), relative to the lake.
func batchTransactionFiles(placed []Move, batchID string) []string {
	var files []string
	for _, mv := range placed {
		if base := filepath.Base(mv.To); !isQuarantine(mv.To) && strings.HasPrefix(base, batchID+"-") {
			files = append(files, mv.To)
		}
	}
	return files
}

// writeIDIndex writes the index file of a batch from the given lake files
// (relative to the lake), atomically: a reader sees it whole or not at all.
func writeIDIndex(ctx context.Context, conn *sql.Conn, l warehouse.Layout, dir, batchID string, files []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("id index: %w", err)
	}
	path := filepath.Join(dir, batchID+".parquet")
	tmp := filepath.Join(dir, "."+batchID+".parquet.tmp")
	rows := "SELECT NULL::UBIGINT AS h, NULL::DATE AS day WHERE false"
	if len(files) > 0 {
		abs := make([]string, len(files))
		for i, f := range files {
			abs[i] = filepath.Join(l.Lake(), f)
		}
		rows = fmt.Sprintf(`SELECT hash(transaction_id) AS h, CAST(date AS DATE) AS day
FROM read_parquet(%s, hive_partitioning=true) WHERE transaction_id IS NOT NULL`, fileList(abs))
	}
	stmt := fmt.Sprintf("COPY (%s ORDER BY h) TO %s (FORMAT parquet, COMPRESSION zstd)", rows, warehouse.Quote(tmp))
	if _, err := conn.ExecContext(ctx, stmt); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("id index of batch %s: %w", batchID, err)
	}
	if err := syncFile(tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("id index of batch %s: %w", batchID, err)
	}
	return warehouse.SyncDir(dir)
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// idIndex returns the index files of the source, first rebuilding from the
// lake those of committed batches that lack one. A dry run builds them in
// its scratch directory and leaves the lake as it is.
func (b *batchRun) idIndex(ctx context.Context, conn *sql.Conn, m *Manifest) ([]string, error) {
	dir, err := idIndexDir(ctx, conn, b.Layout, b.src.Name)
	if err != nil {
		return nil, err
	}
	var files []string
	var placed []Move
	for _, batch := range m.Batches() {
		if batch.Source != b.src.Name || batch.Status != StatusCommitted || !placesTransactions(batch) {
			continue
		}
		path := filepath.Join(dir, batch.BatchID+".parquet")
		if _, err := os.Stat(path); err == nil {
			files = append(files, path)
			continue
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("id index: %w", err)
		}
		if placed == nil {
			placed = m.Files()
		}
		lakeFiles := batchTransactionFiles(placed, batch.BatchID)
		lakeFiles = deleteLost(lakeFiles, b.lost, b.Layout)
		into := dir
		if b.DryRun {
			into = filepath.Join(b.stage, "ids")
		}
		b.debug("rebuild id index", "of", batch.BatchID, "files", len(lakeFiles))
		if err := writeIDIndex(ctx, conn, b.Layout, into, batch.BatchID, lakeFiles); err != nil {
			return nil, err
		}
		files = append(files, filepath.Join(into, batch.BatchID+".parquet"))
	}
	return files, nil
}

func placesTransactions(b Batch) bool {
	for _, mv := range b.Moves {
		if strings.HasPrefix(mv.To, "transactions"+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// deleteLost drops the files a repair removes unread, and those not there
// (their rows are not in the lake to be duplicated).
func deleteLost(files []string, lost map[string]bool, l warehouse.Layout) []string {
	var out []string
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(l.Lake(), f)); err == nil && !lost[f] {
			out = append(out, f)
		}
	}
	return out
}

// indexCommitted writes the index file of a batch just committed, from its
// files now in the lake. A failure only means the next ingest rebuilds it.
func (b *batchRun) indexCommitted(ctx context.Context, conn *sql.Conn, m *Manifest, batch Batch) {
	if b.src.Columns["transaction_id"] == "" || !placesTransactions(batch) {
		return
	}
	dir, err := idIndexDir(ctx, conn, b.Layout, b.src.Name)
	if err == nil {
		err = writeIDIndex(ctx, conn, b.Layout, dir, batch.BatchID, batchTransactionFiles(m.Files(), batch.BatchID))
	}
	if err != nil && b.Logger != nil {
		b.Logger.Warn("write id index; the next ingest rebuilds it", "source", b.src.Name, "batch", batch.BatchID, "error", err)
	}
}
