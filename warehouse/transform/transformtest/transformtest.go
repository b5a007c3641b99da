// Package transformtest holds helpers for tests that read what a transform
// built; production code reads the published marts instead.
package transformtest

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"

	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/engine"
	"github.com/custmart/custmart/warehouse/transform"
)

// OpenBuilt opens, read-only, what the last successful transform built: an
// in-memory DuckDB with the warehouse and the staged marts attached and on
// every connection's search path, so each model reads by its bare name.
// Close it before the next transform, which writes the warehouse.
func OpenBuilt(ctx context.Context, l warehouse.Layout) (*sql.DB, error) {
	wh, err := sql.Open("duckdb", l.WarehouseDB()+"?access_mode=read_only")
	if err != nil {
		return nil, err
	}
	state, err := transform.LoadState(ctx, wh)
	wh.Close()
	if err == nil && state.Staged == "" {
		err = fmt.Errorf("the last transform (as of %s) staged no marts: %s", state.AsOf, state.Error)
	}
	if err != nil {
		return nil, err
	}
	return engine.Open(ctx, "", engine.Settings{},
		"ATTACH IF NOT EXISTS "+warehouse.Quote(l.WarehouseDB())+" AS warehouse (READ_ONLY)",
		"ATTACH IF NOT EXISTS "+warehouse.Quote(filepath.Join(l.StagedBuild(state.Staged), warehouse.MartsDBName))+" AS staged (READ_ONLY)",
		"SET search_path = 'staged.main,warehouse.main'")
}
