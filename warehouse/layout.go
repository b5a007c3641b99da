// Package warehouse owns the data directory: its layout, the writer lock and
// atomic file writes; warehouse/engine opens DuckDB. Sub-packages hold the
// lake (ingest), the model runner (transform), publishing and serving. Each
// takes its own settings types, never the configuration file: that is read
// at the edge (jobs/config), which maps it onto them.
package warehouse

import (
	"path/filepath"
)

// Layout names every path under a data directory.
//
//	<data-dir>/
//	  custmart.lock                 writer lock (one writer across processes)
//	  warehouse.duckdb              incremental models, Go models and state (transform)
//	  staged/<build>/marts.duckdb   the last transform's marts in key order, for publish
//	  lake/transactions/date=YYYY-MM-DD/<batch>.parquet
//	  lake/quarantine/<batch>.parquet
//	  lake/_manifest/<batch>.json   what each input file became (commit records)
//	  lake/_staging/<batch>/        batches being written; rolled back or forward
//	  lake/_state/                  watermarks of database sources
//	  marts/<version>/              published marts: <mart>.parquet + marts.duckdb
//	  marts/CURRENT                 name of the current version (atomically replaced)
//	  runs/<run-id>.json            run history
type Layout struct {
	Root string
}

// NewLayout returns the layout of the data directory root.
func NewLayout(root string) Layout { return Layout{Root: root} }

func (l Layout) Lock() string           { return filepath.Join(l.Root, "custmart.lock") }
func (l Layout) WarehouseDB() string    { return filepath.Join(l.Root, "warehouse.duckdb") }
func (l Layout) Lake() string           { return filepath.Join(l.Root, "lake") }
func (l Layout) Transactions() string   { return filepath.Join(l.Lake(), "transactions") }
func (l Layout) Manifest() string       { return filepath.Join(l.Lake(), "_manifest") }
func (l Layout) Staging() string        { return filepath.Join(l.Lake(), "_staging") }
func (l Layout) SourceState() string    { return filepath.Join(l.Lake(), "_state") }
func (l Layout) Staged() string         { return filepath.Join(l.Root, "staged") }
func (l Layout) Marts() string          { return filepath.Join(l.Root, "marts") }
func (l Layout) CurrentPointer() string { return filepath.Join(l.Marts(), "CURRENT") }
func (l Layout) Runs() string           { return filepath.Join(l.Root, "runs") }
func (l Layout) Inbox() string          { return filepath.Join(l.Root, "inbox") }

// LookupIndexes holds the row indexes `custmart serve` answers point
// lookups from, one directory per served version; it is a cache.
func (l Layout) LookupIndexes() string { return filepath.Join(l.Root, "serve", "lookup") }

// StagedBuild is the directory of one transform's staged marts.
func (l Layout) StagedBuild(build string) string { return filepath.Join(l.Staged(), build) }

// Version is the directory of one published marts version.
func (l Layout) Version(v string) string { return filepath.Join(l.Marts(), v) }

// TransactionsGlob matches every transaction file of the lake.
func (l Layout) TransactionsGlob() string {
	return filepath.Join(l.Transactions(), "date=*", "*.parquet")
}

// MartsDBName is the DuckDB file inside each published version.
const MartsDBName = "marts.duckdb"
