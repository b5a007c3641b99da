package transform

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/custmart/custmart/warehouse"
)

// stageMarts writes the run's published marts, each in its declared key
// order, to a new DuckDB file under <data-dir>/staged/<build>/, which
// publish links into a version. It returns the build's name and the marts'
// row counts. A crash leaves at most a .tmp- directory, which the next
// transform removes.
func stageMarts(ctx context.Context, conn *sql.Conn, l warehouse.Layout, res Result) (string, map[string]int64, error) {
	build := time.Now().UTC().Format("20060102T150405.000000Z")
	tmp := filepath.Join(l.Staged(), ".tmp-"+build)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", nil, err
	}
	if err := writeStaged(ctx, conn, filepath.Join(tmp, warehouse.MartsDBName), res); err != nil {
		os.RemoveAll(tmp)
		return "", nil, fmt.Errorf("stage marts: %w", err)
	}
	rows := map[string]int64{}
	for _, m := range res.Marts {
		var n int64
		if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM "+warehouse.Ident(m)).Scan(&n); err != nil {
			os.RemoveAll(tmp)
			return "", nil, err
		}
		rows[m] = n
	}
	if err := warehouse.SyncTree(tmp); err != nil {
		os.RemoveAll(tmp)
		return "", nil, err
	}
	if err := warehouse.RenameDurable(tmp, l.StagedBuild(build)); err != nil {
		os.RemoveAll(tmp)
		return "", nil, fmt.Errorf("stage marts: %w", err)
	}
	return build, rows, nil
}

func writeStaged(ctx context.Context, conn *sql.Conn, path string, res Result) error {
	if _, err := conn.ExecContext(ctx, "ATTACH "+warehouse.Quote(path)+" AS staged"); err != nil {
		return err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "DETACH staged")
	for _, m := range res.Marts {
		order := ""
		if keys := res.Keys[m]; len(keys) > 0 {
			quoted := make([]string, len(keys))
			for i, k := range keys {
				quoted[i] = warehouse.Ident(k)
			}
			order = " ORDER BY " + strings.Join(quoted, ", ")
		}
		t := warehouse.Ident(m)
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("CREATE TABLE staged.main.%s AS SELECT * FROM %s%s", t, t, order)); err != nil {
			return fmt.Errorf("mart %s: %w", m, err)
		}
	}
	if _, err := conn.ExecContext(ctx, "CHECKPOINT staged"); err != nil {
		return err
	}
	_, err := conn.ExecContext(ctx, "DETACH staged")
	return err
}

// pruneStaged removes every staged build but keep, and the leftovers of
// builds that crashed. Published versions keep their own links to a
// build's files.
func pruneStaged(l warehouse.Layout, keep string) error {
	entries, err := os.ReadDir(l.Staged())
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() != keep {
			if err := os.RemoveAll(filepath.Join(l.Staged(), e.Name())); err != nil {
				return fmt.Errorf("prune staged marts: %w", err)
			}
		}
	}
	return nil
}

// OpenBuilt opens, read-only, what the last successful transform built: an
// in-memory DuckDB with the warehouse and the staged marts attached and on
// every connection's search path, so each model reads by its bare name.
// Close it before the next transform, which writes the warehouse.
func OpenBuilt(ctx context.Context, l warehouse.Layout) (*sql.DB, error) {
	wh, err := sql.Open("duckdb", l.WarehouseDB()+"?access_mode=read_only")
	if err != nil {
		return nil, err
	}
	state, err := LoadState(ctx, wh)
	wh.Close()
	if err == nil && state.Staged == "" {
		err = fmt.Errorf("the last transform (as of %s) staged no marts: %s", state.AsOf, state.Error)
	}
	if err != nil {
		return nil, err
	}
	setup := []string{
		"ATTACH IF NOT EXISTS " + warehouse.Quote(l.WarehouseDB()) + " AS warehouse (READ_ONLY)",
		"ATTACH IF NOT EXISTS " + warehouse.Quote(filepath.Join(l.StagedBuild(state.Staged), warehouse.MartsDBName)) + " AS staged (READ_ONLY)",
		"SET search_path = 'staged.main,warehouse.main'",
	}
	connector, err := duckdb.NewConnector("", func(exec driver.ExecerContext) error {
		for _, stmt := range setup {
			if _, err := exec.ExecContext(ctx, stmt, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}
