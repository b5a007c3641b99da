// Package report renders one published marts version as a self-contained
// HTML page: inline SVG charts drawn with gonum/plot, each with the numbers
// it shows in a table, no script and nothing loaded from the network, so it
// reads the same offline, printed and on a phone. Every chart reads a
// published mart (an aggregate, never a row per customer), so a BI tool
// can draw the same picture.
package report

import (
	"bytes"
	"context"
	"database/sql"
	_ "embed"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"time"

	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/engine"
)

// FileName is the report's name inside a version directory.
const FileName = "report.html"

// Header says which version the page shows.
type Header struct {
	Version string
	AsOf    string
}

// Section is one chart (or a few) with its numbers.
type Section struct {
	ID     string
	Title  string
	Mart   string // the mart the numbers come from
	Note   string
	Charts []template.HTML
	Tables []Table
	// Missing says why there is nothing to show (a mart this version lacks,
	// or an empty one), instead of charts.
	Missing string
}

// Table is a chart's numbers as text, as the page shows them.
type Table struct {
	Caption string
	Columns []string
	Rows    [][]string
	// Collapsed tables are long (one row per day): they sit in a
	// <details> element.
	Collapsed bool
}

//go:embed page.html
var pageHTML string

var page = template.Must(template.New("page").Parse(pageHTML))

// Queryer runs the report's queries; the marts are its default database.
type Queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Render builds the page from the marts q reads.
func Render(ctx context.Context, q Queryer, h Header) ([]byte, error) {
	marts, err := tables(ctx, q)
	if err != nil {
		return nil, err
	}
	r := &reader{ctx: ctx, q: q, marts: marts}
	var sections []Section
	for _, build := range sectionBuilders {
		s, err := build(r)
		if err != nil {
			return nil, fmt.Errorf("report %s: %w", s.ID, err)
		}
		sections = append(sections, s)
	}
	var buf bytes.Buffer
	err = page.Execute(&buf, struct {
		Header
		Generated string
		Sections  []Section
	}{h, time.Now().UTC().Format(time.RFC3339), sections})
	return buf.Bytes(), err
}

// WriteFile renders the version whose DuckDB file is dbPath into out,
// atomically.
func WriteFile(ctx context.Context, dbPath string, e engine.Settings, h Header, out string) error {
	db, err := engine.Open(ctx, "", e)
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, s := range []string{"ATTACH " + warehouse.Quote(dbPath) + " AS marts (READ_ONLY)", "USE marts"} {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("report: open %s: %w", dbPath, err)
		}
	}
	raw, err := Render(ctx, conn, h)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return warehouse.WriteFileAtomic(out, raw, 0o644)
}

func tables(ctx context.Context, q Queryer) (map[string]bool, error) {
	rows, err := q.QueryContext(ctx, "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database() AND table_schema = 'main'")
	if err != nil {
		return nil, fmt.Errorf("report: list marts: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		out[name] = true
	}
	return out, rows.Err()
}

// reader runs a section's query, scanning each row into dest.
type reader struct {
	ctx   context.Context
	q     Queryer
	marts map[string]bool
}

func (r *reader) each(query string, dest []any, row func()) error {
	rows, err := r.q.QueryContext(r.ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		row()
	}
	return rows.Err()
}

// has reports whether every mart is in the version, filling s.Missing if not.
func (r *reader) has(s *Section, marts ...string) bool {
	for _, m := range marts {
		if !r.marts[m] {
			s.Missing = "This version has no " + m + " mart."
			return false
		}
	}
	return true
}
