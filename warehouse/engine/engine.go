// Package engine opens the DuckDB databases custmart uses. It is apart from
// package warehouse so that code needing only the layout, the lock or atomic
// writes does not link DuckDB (about 100 MB per test binary).
package engine

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/custmart/custmart/warehouse"
)

// Settings hold the DuckDB settings of every database custmart opens; the
// zero value keeps DuckDB's defaults. DuckDB itself refuses a bad value
// when the database opens, naming the setting.
type Settings struct {
	MemoryLimit   string // e.g. "4GiB"
	TempDirectory string // where DuckDB spills when memory runs out
	Threads       int    // 0: one per core
}

// Open opens a DuckDB database (path "" is in memory) with the engine settings,
// then the setup statements, applied to every connection of the pool.
func Open(ctx context.Context, path string, e Settings, setup ...string) (*sql.DB, error) {
	connector, err := duckdb.NewConnector(path, func(exec driver.ExecerContext) error {
		for _, stmt := range append(e.settings(), setup...) {
			if _, err := exec.ExecContext(ctx, stmt, nil); err != nil {
				return fmt.Errorf("%s: %w", stmt, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open duckdb %s: %w", describe(path), err)
	}
	db := sql.OpenDB(connector)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open duckdb %s: %w", describe(path), err)
	}
	return db, nil
}

func (e Settings) settings() []string {
	var s []string
	if e.MemoryLimit != "" {
		s = append(s, fmt.Sprintf("SET memory_limit = %s", warehouse.Quote(e.MemoryLimit)))
	}
	if e.TempDirectory != "" {
		s = append(s, fmt.Sprintf("SET temp_directory = %s", warehouse.Quote(e.TempDirectory)))
	}
	if e.Threads > 0 {
		s = append(s, fmt.Sprintf("SET threads = %d", e.Threads))
	}
	return s
}

func describe(path string) string {
	if path == "" {
		return "(in memory)"
	}
	return path
}
