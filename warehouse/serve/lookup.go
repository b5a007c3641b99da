package serve

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/publish"
)

// Point lookups: the query a customer-360 page or a CRM sends,
//
//	SELECT * | col, ... FROM [custmart.][main.]mart WHERE key = $n | 'literal'
//
// on a mart keyed by one VARCHAR column, is answered from the version's row
// index (rowindex.go) once it is built; anything else, and every query
// before the index is ready, runs on DuckDB. Both paths return the same
// values, column types and names.

// lookupPlan is a query recognised as a point lookup.
type lookupPlan struct {
	mart    string
	columns []string // selected column names; nil for *
	key     string   // the column compared in WHERE
	param   int      // $n holding the key, or 0 when literal is the key
	literal string
}

// matchLookup recognises a point lookup among a statement's words.
func matchLookup(st statement) *lookupPlan {
	w := st.words
	i := 0
	next := func() token {
		if i < len(w) {
			i++
			return w[i-1]
		}
		return token{}
	}
	isName := func(t token) bool { return t.kind == tokIdent || t.kind == tokQuotedIdent }
	if !next().is("SELECT") {
		return nil
	}
	p := &lookupPlan{}
	if i < len(w) && w[i].kind == tokOp && w[i].text == "*" {
		i++
	} else {
		for {
			t := next()
			if !isName(t) || t.is("FROM") {
				return nil
			}
			p.columns = append(p.columns, identValue(t))
			if sep := next(); sep.is("FROM") {
				i--
				break
			} else if !sep.is(",") {
				return nil
			}
		}
	}
	if !next().is("FROM") {
		return nil
	}
	var name []string
	for {
		t := next()
		if !isName(t) {
			return nil
		}
		name = append(name, identValue(t))
		if i < len(w) && w[i].is(".") {
			i++
			continue
		}
		break
	}
	switch {
	case len(name) == 3 && strings.EqualFold(name[0], catalogName) && strings.EqualFold(name[1], "main"),
		len(name) == 2 && strings.EqualFold(name[0], "main"),
		len(name) == 1:
		p.mart = strings.ToLower(name[len(name)-1])
	default:
		return nil
	}
	if !next().is("WHERE") {
		return nil
	}
	key := next()
	if !isName(key) || !next().is("=") {
		return nil
	}
	p.key = identValue(key)
	switch v := next(); {
	case v.kind == tokParam:
		if _, err := fmt.Sscanf(v.text, "$%d", &p.param); err != nil || p.param < 1 {
			return nil
		}
	case v.kind == tokString && (v.text[0] == '\'' || v.text[0] == 'e' || v.text[0] == 'E'):
		p.literal = stringValue(v.text)
	default:
		return nil
	}
	if i != len(w) {
		return nil
	}
	return p
}

// lookupIndexes are the row indexes of one engine that are ready.
type lookupIndexes struct {
	ready  atomic.Pointer[map[string]*rowIndex]
	served atomic.Int64 // queries answered from an index, for tests and logs
}

func (l *lookupIndexes) get(mart string) *rowIndex {
	if m := l.ready.Load(); m != nil {
		return (*m)[mart]
	}
	return nil
}

// add publishes a newly built index; only the build goroutine calls it.
func (l *lookupIndexes) add(x *rowIndex) {
	m := map[string]*rowIndex{}
	if old := l.ready.Load(); old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	m[x.mart] = x
	l.ready.Store(&m)
}

func (l *lookupIndexes) close() {
	if m := l.ready.Swap(nil); m != nil {
		for _, x := range *m {
			x.close()
		}
	}
}

// lookupResult answers plan from a ready row index of eng. ok is false when
// the query must run on DuckDB instead: no index yet, or a key that is not
// a plain string (DuckDB's casts then decide what matches).
func lookupResult(eng *engine, plan *lookupPlan, args []any, casts []string) (cols []column, rows driver.Rows, ok bool, err error) {
	x := eng.lookups.get(plan.mart)
	if x == nil || !strings.EqualFold(plan.key, x.key()) {
		return nil, nil, false, nil
	}
	key, null := plan.literal, false
	if plan.param > 0 {
		if plan.param > len(args) || plan.param <= len(casts) && casts[plan.param-1] != "" && casts[plan.param-1] != "VARCHAR" {
			return nil, nil, false, nil
		}
		switch v := args[plan.param-1].(type) {
		case nil:
			null = true
		case string:
			key = v
		default:
			return nil, nil, false, nil
		}
	}
	pick := make([]int, 0, len(x.columns))
	if plan.columns == nil {
		for c := range x.columns {
			pick = append(pick, c)
		}
	}
	for _, name := range plan.columns {
		c := columnNamed(x.columns, name)
		if c < 0 {
			return nil, nil, false, nil
		}
		pick = append(pick, c)
	}
	cols = make([]column, len(pick))
	for j, c := range pick {
		cols[j] = x.columns[c]
	}
	r := &valueRows{columns: cols}
	if !null {
		row, err := x.find(key)
		if err != nil {
			return nil, nil, false, err
		}
		if row != nil {
			r.row = make([]driver.Value, len(pick))
			for j, c := range pick {
				r.row[j] = row[c]
			}
		}
	}
	eng.lookups.served.Add(1)
	return cols, r, true, nil
}

// valueRows is a result of zero or one row held in memory.
type valueRows struct {
	columns []column
	row     []driver.Value // nil when there is no row
	done    bool
}

func (r *valueRows) Columns() []string {
	names := make([]string, len(r.columns))
	for i, c := range r.columns {
		names[i] = c.name
	}
	return names
}

func (r *valueRows) Close() error { return nil }

func (r *valueRows) Next(dest []driver.Value) error {
	if r.done || r.row == nil {
		return io.EOF
	}
	r.done = true
	copy(dest, r.row)
	return nil
}

// key is the key column's name; the record key is this column's value.
func (x *rowIndex) key() string { return x.columns[x.keyCol].name }

// columnNamed returns the position of the column named exactly name, or -1.
// Names must match exactly: DuckDB names a result column as the query
// spells it, so other spellings go to DuckDB.
func columnNamed(columns []column, name string) int {
	return slices.IndexFunc(columns, func(c column) bool { return c.name == name })
}

// buildLookups builds or opens the row index of every mart of eng keyed by
// one VARCHAR column, under dir/<version>/, largest mart first. It holds a
// reference to eng (taken by the caller) until it returns, and stops early
// when ctx ends (the version was retired).
func (m *engines) buildLookups(ctx context.Context, eng *engine, dir string) {
	defer m.release(eng)
	log := m.log.With("version", eng.version)
	vdir := filepath.Join(dir, eng.version)
	if err := removeOtherVersions(dir, eng.version); err != nil {
		log.Warn("cannot clean the lookup index directory", "dir", dir, logErr, err)
	}
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		log.Warn("point lookups run on DuckDB: cannot create the lookup index directory", "dir", vdir, logErr, err)
		return
	}
	conn, err := eng.db.Conn(ctx)
	if err != nil {
		return
	}
	defer conn.Close()
	info, err := publish.ReadInfoAt(filepath.Dir(eng.path))
	if err != nil {
		log.Warn("point lookups run on DuckDB: cannot read the version's keys", logErr, err)
		return
	}
	marts, err := lookupMarts(ctx, conn, info.Keys)
	if err != nil {
		log.Warn("point lookups run on DuckDB: cannot list keyed marts", logErr, err)
		return
	}
	for _, km := range marts {
		start := time.Now()
		x, err := openOrBuildRowIndex(ctx, conn, filepath.Join(vdir, km.mart+".rows"), km)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			log.Warn("point lookups on this mart run on DuckDB", "mart", km.mart, logErr, err)
			continue
		}
		eng.lookups.add(x)
		log.Info("lookup index ready", "mart", km.mart, "rows", x.rows, "seconds", time.Since(start).Seconds())
	}
}

// removeOtherVersions deletes the row indexes of versions other than keep:
// they belong to retired versions (or to a server that crashed). A server
// still reading one keeps its mapping; unlinking does not disturb it.
func removeOtherVersions(dir, keep string) error {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() != keep {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// keyedMart is a mart whose declared key is one VARCHAR column.
type keyedMart struct {
	mart, key string
}

// lookupMarts lists the marts whose declared key (publish records it in the
// version's _version.json) is one VARCHAR column, largest first: those are
// the customer-level marts clients look up one row of.
func lookupMarts(ctx context.Context, conn *sql.Conn, keys map[string][]string) ([]keyedMart, error) {
	rows, err := conn.QueryContext(ctx, `
		SELECT t.table_name, c.column_name
		FROM duckdb_tables() t JOIN duckdb_columns() c USING (database_name, schema_name, table_name)
		WHERE t.database_name = '`+catalogName+`' AND t.schema_name = 'main' AND c.data_type = 'VARCHAR'
		ORDER BY t.estimated_size DESC, t.table_name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []keyedMart
	for rows.Next() {
		var km keyedMart
		if err := rows.Scan(&km.mart, &km.key); err != nil {
			return nil, err
		}
		if k := keys[km.mart]; len(k) == 1 && k[0] == km.key {
			out = append(out, km)
		}
	}
	return out, rows.Err()
}

// openOrBuildRowIndex opens the mart's row index at path, building it first
// if it is missing or damaged.
func openOrBuildRowIndex(ctx context.Context, conn *sql.Conn, path string, km keyedMart) (*rowIndex, error) {
	query := fmt.Sprintf("SELECT * FROM %s.main.%s ORDER BY %s", catalogName, warehouse.Ident(km.mart), warehouse.Ident(km.key))
	var x *rowIndex
	err := conn.Raw(func(dc any) error {
		st, err := dc.(*duckdb.Conn).Prepare(query)
		if err != nil {
			return err
		}
		stmt := st.(*duckdb.Stmt)
		defer stmt.Close()
		columns := describeStmt(stmt)
		keyCol := columnNamed(columns, km.key)
		if keyCol < 0 {
			return fmt.Errorf("key column %s is not among the columns of %s", km.key, km.mart)
		}
		if x, err = openRowIndex(path, km.mart, columns, keyCol); err == nil {
			return nil
		}
		rows, err := stmt.QueryContext(ctx, nil)
		if err != nil {
			return err
		}
		defer rows.Close()
		if _, err := writeRowIndex(ctx, path, rows, keyCol); err != nil {
			return err
		}
		x, err = openRowIndex(path, km.mart, columns, keyCol)
		return err
	})
	return x, err
}
