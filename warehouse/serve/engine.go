package serve

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/custmart/custmart/warehouse/publish"
)

// An engine is one published version, opened for serving: an in-memory DuckDB
// that attaches the version's marts.duckdb read-only, defines the PostgreSQL
// catalog emulation, and then locks itself down so that nothing a client
// sends can write, touch files or change settings.

// catalogName is the database name clients connect to and the name the marts
// file is attached under, so current_database() answers it.
const catalogName = "custmart"

// compatSchema holds the pg_catalog emulation; it comes before DuckDB's own
// pg_catalog on every connection's search path.
const compatSchema = "memory.pgcompat"

//go:embed catalog.sql
var catalogSQL string

var catalogTemplate = template.Must(template.New("catalog.sql").Funcs(template.FuncMap{
	"quote": quoteString,
}).Parse(catalogSQL))

type engineConfig struct {
	memoryLimit string
	threads     int
	users       []string
	lookupDir   string // where row indexes for point lookups go; empty: none
	functions   func(context.Context, *sql.Conn) error
}

type engine struct {
	version  string
	path     string
	db       *sql.DB
	settings map[string]bool // DuckDB setting names, which clients may not SET
	refs     int             // queries and transactions using the engine; guarded by engines.mu
	retired  bool            // a newer version is current; close when refs drops to 0
	lookups  lookupIndexes   // row indexes for point lookups, as they become ready
	// stopLookups ends the building of row indexes when the engine retires.
	stopLookups context.CancelFunc
}

// openEngine opens version's marts file for serving.
func openEngine(ctx context.Context, version, path string, cfg engineConfig) (*engine, error) {
	// A version published without keys (or by a test) has an empty
	// _version.json or none; its marts then show no keys.
	var keys map[string][]string
	if info, err := publish.ReadInfoAt(filepath.Dir(path)); err == nil {
		keys = info.Keys
	}
	setup, err := setupStatements(path, cfg, keys)
	if err != nil {
		return nil, err
	}
	var once sync.Once
	var setupErr error
	// The pool opens connections for later queries too, so their setup must
	// not depend on the context of the query that opened the engine.
	connector, err := duckdb.NewConnector("", func(execer driver.ExecerContext) error {
		ctx := context.Background()
		once.Do(func() {
			for _, q := range setup {
				if _, err := execer.ExecContext(ctx, q, nil); err != nil {
					setupErr = fmt.Errorf("%s: %w", firstLine(q), err)
					return
				}
			}
		})
		if setupErr != nil {
			return setupErr
		}
		for _, q := range []string{
			"USE " + catalogName,
			"SET search_path = '" + catalogName + ".main," + compatSchema + "'",
		} {
			if _, err := execer.ExecContext(ctx, q, nil); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open engine for version %s: %w", version, err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	// The first connection runs the setup; an error here means the version
	// cannot be served.
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open marts version %s at %s: %w", version, path, err)
	}
	defer conn.Close()
	settings, err := engineSettings(ctx, conn)
	if err == nil && cfg.functions != nil {
		err = cfg.functions(ctx, conn)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open marts version %s at %s: %w", version, path, err)
	}
	return &engine{version: version, path: path, db: db, settings: settings}, nil
}

// engineSettings lists DuckDB's setting names and aliases, lower-cased.
func engineSettings(ctx context.Context, conn *sql.Conn) (map[string]bool, error) {
	rows, err := conn.QueryContext(ctx, "SELECT lower(name) FROM duckdb_settings() UNION SELECT lower(unnest(aliases)) FROM duckdb_settings()")
	if err != nil {
		return nil, fmt.Errorf("list engine settings: %w", err)
	}
	defer rows.Close()
	names := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("list engine settings: %w", err)
		}
		names[name] = true
	}
	return names, rows.Err()
}

// setupStatements renders catalog.sql for one version. The order matters:
// the file is attached and the catalog built before the lock-down.
func setupStatements(path string, cfg engineConfig, keys map[string][]string) ([]string, error) {
	var buf bytes.Buffer
	if err := catalogTemplate.Execute(&buf, newCatalogData(path, cfg, keys)); err != nil {
		return nil, fmt.Errorf("render catalog.sql: %w", err)
	}
	var out []string
	for _, st := range splitStatements(buf.String()) {
		// Drop the leading comments so errors name the statement.
		out = append(out, newStatement(st.tokens[st.pos[0]:]).text())
	}
	return out, nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

// engines hands out the engine of the latest published version and closes
// old ones once their last query is done.
type engines struct {
	resolve func() (version, path string, err error)
	cfg     engineConfig
	log     *slog.Logger

	mu          sync.Mutex
	current     *engine
	open        int // engines not closed yet, for tests and metrics
	failed      string
	failedUntil time.Time
	closed      bool // the server stopped; nothing opens any more
}

// errServerStopped means the server has shut down.
var errServerStopped = errors.New("the server has stopped")

// errNotPublished means no version can be served yet.
var errNotPublished = errors.New("no published marts version can be served")

// acquire returns the engine of the latest version, opening it if the
// resolver reports a new one. The caller must release it.
func (m *engines) acquire(ctx context.Context) (*engine, error) {
	version, path, resolveErr := m.resolve()
	var closeRetired func()
	defer func() { closeDetached(closeRetired) }()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errServerStopped
	}
	switch {
	case resolveErr != nil:
		if m.current == nil {
			return nil, fmt.Errorf("%w: %w", errNotPublished, resolveErr)
		}
		m.log.Warn("cannot resolve the latest marts version; serving the previous one", "version", m.current.version, "err", resolveErr)
	case m.current == nil || m.current.version != version:
		if version == m.failed && time.Now().Before(m.failedUntil) {
			if m.current == nil {
				return nil, fmt.Errorf("%w: version %s failed to open", errNotPublished, version)
			}
			break
		}
		e, err := openEngine(ctx, version, path, m.cfg)
		if err != nil {
			m.failed, m.failedUntil = version, time.Now().Add(5*time.Second)
			if m.current == nil {
				return nil, fmt.Errorf("%w: %w", errNotPublished, err)
			}
			m.log.Error("cannot open the new marts version; serving the previous one", "version", version, "serving", m.current.version, "err", err)
			break
		}
		m.open++
		m.log.Info("serving marts version", "version", version, "path", path)
		if old := m.current; old != nil {
			old.retire()
			closeRetired = m.detachIfUnused(old)
		}
		m.current = e
		if m.cfg.lookupDir != "" {
			ctx, stop := context.WithCancel(context.Background())
			e.stopLookups = stop
			e.refs++ // held by the build until it ends
			go m.buildLookups(ctx, e, m.cfg.lookupDir)
		}
	}
	m.current.refs++
	return m.current, nil
}

// warm opens the current version before the first client asks for it, so
// its row indexes start building; without a published version it does
// nothing, and the first query reports that.
func (m *engines) warm() {
	if e, err := m.acquire(context.Background()); err == nil {
		m.release(e)
	}
}

// retain adds a reference to an engine the caller already holds.
func (m *engines) retain(e *engine) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e.refs++
}

// isSetting reports whether name (lower case) is an engine setting.
func (m *engines) isSetting(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.current != nil && m.current.settings[name]
}

func (m *engines) release(e *engine) {
	m.mu.Lock()
	e.refs--
	closeIt := m.detachIfUnused(e)
	m.mu.Unlock()
	closeDetached(closeIt)
}

// retire marks an engine as no longer current and stops its index builds.
func (e *engine) retire() {
	e.retired = true
	if e.stopLookups != nil {
		e.stopLookups()
	}
}

// detachIfUnused detaches a retired engine that no query uses any more and
// returns what closes it, for the caller to run after unlocking m.mu; or nil.
func (m *engines) detachIfUnused(e *engine) func() {
	if !e.retired || e.refs > 0 || e.db == nil {
		return nil
	}
	db := e.db
	e.db = nil
	m.open--
	m.log.Info("closed marts version", "version", e.version)
	return func() {
		db.Close()
		e.lookups.close()
	}
}

func closeDetached(closeIt func()) {
	if closeIt != nil {
		closeIt()
	}
}

// close retires the current engine; it closes when its last query ends.
func (m *engines) close() {
	m.mu.Lock()
	m.closed = true
	var closeIt func()
	if m.current != nil {
		m.current.retire()
		closeIt = m.detachIfUnused(m.current)
		m.current = nil
	}
	m.mu.Unlock()
	closeDetached(closeIt)
}

// openCount reports how many engines are open.
func (m *engines) openCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.open
}
