package transform

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	models "github.com/custmart/custmart/sql"
	"github.com/custmart/custmart/warehouse"
)

// stagedCatalog is the name the run's staged marts file is attached under.
const stagedCatalog = "staged"

// stage is the marts file a transform writes its published marts to, in
// their key order, under <data-dir>/staged/.tmp-<build>/ until the run
// succeeds; then it is renamed to staged/<build>/, which publish links into
// a version. A crash leaves at most a .tmp- directory, which the next
// transform removes.
type stage struct {
	build, tmp string
	layout     warehouse.Layout
}

// openStage creates the run's marts file and attaches it, on the search
// path after the warehouse, so models read the marts by their bare names.
func openStage(ctx context.Context, conn *sql.Conn, l warehouse.Layout) (*stage, error) {
	s := &stage{build: time.Now().UTC().Format("20060102T150405.000000Z"), layout: l}
	s.tmp = filepath.Join(l.Staged(), ".tmp-"+s.build)
	if err := os.MkdirAll(s.tmp, 0o755); err != nil {
		return nil, fmt.Errorf("stage marts: %w", err)
	}
	for _, stmt := range []string{
		"ATTACH " + warehouse.Quote(filepath.Join(s.tmp, warehouse.MartsDBName)) + " AS " + stagedCatalog,
		"SET search_path = 'main," + stagedCatalog + ".main'",
	} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			os.RemoveAll(s.tmp)
			return nil, fmt.Errorf("stage marts: %w", err)
		}
	}
	return s, nil
}

// finish copies the marts that other models than SQL tables (Go,
// incremental) built in the warehouse into the marts file, makes it durable
// and renames it into place. It returns the build's name and the marts' row
// counts.
func (s *stage) finish(ctx context.Context, conn *sql.Conn, res Result) (string, map[string]int64, error) {
	builtThere := map[string]bool{}
	for _, mr := range res.Models {
		builtThere[mr.Name] = mr.Materialized == models.Table
	}
	rows := map[string]int64{}
	for _, m := range res.Marts {
		var err error
		if !builtThere[m] {
			_, err = conn.ExecContext(ctx, fmt.Sprintf("CREATE TABLE %s.main.%s AS SELECT * FROM main.%s%s", stagedCatalog, warehouse.Ident(m), warehouse.Ident(m), orderBy(res.Keys[m])))
		}
		if err == nil {
			var n int64
			err = conn.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM %s.main.%s", stagedCatalog, warehouse.Ident(m))).Scan(&n)
			rows[m] = n
		}
		if err != nil {
			return "", nil, fmt.Errorf("stage mart %s: %w", m, err)
		}
	}
	for _, stmt := range []string{"CHECKPOINT " + stagedCatalog, "RESET search_path", "DETACH " + stagedCatalog} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return "", nil, fmt.Errorf("stage marts: %w", err)
		}
	}
	if err := warehouse.SyncTree(s.tmp); err != nil {
		return "", nil, fmt.Errorf("stage marts: %w", err)
	}
	if err := warehouse.RenameDurable(s.tmp, s.layout.StagedBuild(s.build)); err != nil {
		return "", nil, fmt.Errorf("stage marts: %w", err)
	}
	return s.build, rows, nil
}

// abandon detaches and removes the marts file of a failed run.
func (s *stage) abandon(ctx context.Context, conn *sql.Conn) {
	_, _ = conn.ExecContext(ctx, "RESET search_path")
	_, _ = conn.ExecContext(ctx, "DETACH DATABASE IF EXISTS "+stagedCatalog)
	os.RemoveAll(s.tmp)
}

// orderBy is the ORDER BY clause of a mart's key, "" without one.
func orderBy(key []string) string {
	if len(key) == 0 {
		return ""
	}
	quoted := make([]string, len(key))
	for i, k := range key {
		quoted[i] = warehouse.Ident(k)
	}
	return " ORDER BY " + strings.Join(quoted, ", ")
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
