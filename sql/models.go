// Package sql holds custmart's models: one DuckDB SQL file per model, with a
// header that declares what the table means, its grain and key, the models it
// depends on, how it is materialized, whether it is published as a mart, and
// the data-quality checks that guard it.
//
//	-- model: rfm
//	-- meaning: RFM scores and segment per customer, as of the run's date.
//	-- grain: customer
//	-- key: customer_id
//	-- depends_on: customer_profile
//	-- materialized: table          (table, view, incremental, incremental_by_key, or go)
//	-- publish: true
//	-- check: not_null customer_id, segment
//	-- check: unique customer_id
//	SELECT ...
//
// A value may span several lines: a header line indented by at least two
// spaces after the "--" continues the value above it, joined by one space.
//
//	-- meaning: RFM scores and segment per customer,
//	--   as of the run's date.
//
// Other header comments without a "key:" are prose and ignored.
package sql

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"
)

//go:embed *.sql
var files embed.FS

// Materializations a model may declare.
const (
	Table       = "table"       // CREATE OR REPLACE TABLE ... AS <select>
	View        = "view"        // CREATE OR REPLACE VIEW
	Incremental = "incremental" // delete and re-insert the changed day partitions
	// IncrementalByKey deletes and re-inserts the rows of the partition
	// values (customers) whose rows its source, an incremental model,
	// changed since its last build.
	IncrementalByKey = "incremental_by_key"
	Go               = "go" // computed by a Go function registered under the model's name
)

// Model is one parsed model file.
type Model struct {
	Name         string
	File         string
	Meaning      string
	Grain        string
	Key          []string
	DependsOn    []string
	Materialized string
	// Partition is the column an incremental model is maintained by: the
	// DATE column of the lake's day partitions (incremental), or a column of
	// Source whose changed values are rebuilt (incremental_by_key).
	Partition string
	// Source is the incremental model whose changed rows an
	// incremental_by_key model follows; it reads them through <source>_delta.
	Source  string
	Publish bool
	Checks  []Check
	SQL     string
}

// Check is a data-quality check declared in a model header.
type Check struct {
	Kind string // not_null, unique, accepted_values, range, row_count, sql
	Args string
}

// Hash identifies the model's definition; a changed hash forces a full rebuild.
func (m Model) Hash() string {
	def := m.Materialized + "\x00" + m.Partition + "\x00" + m.SQL
	if m.Source != "" {
		def += "\x00source " + m.Source
	}
	// Checks count too: an incremental model checks only the days it
	// rebuilt, so a new check must see every day once.
	for _, c := range m.Checks {
		def += "\x00" + c.Kind + " " + c.Args
	}
	h := sha256.Sum256([]byte(def))
	return hex.EncodeToString(h[:8])
}

// Load parses every embedded model.
func Load() ([]Model, error) {
	return LoadFS(files)
}

// LoadFS parses every *.sql file at the root of fsys.
func LoadFS(fsys fs.FS) ([]Model, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var models []Model
	seen := map[string]string{}
	for _, name := range names {
		raw, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		m, err := Parse(name, string(raw))
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[m.Name]; dup {
			return nil, fmt.Errorf("model %s is declared in %s and %s", m.Name, prev, name)
		}
		seen[m.Name] = name
		models = append(models, m)
	}
	return models, nil
}

// Parse reads one model file: header comments, then the SELECT.
func Parse(file, text string) (Model, error) {
	m := Model{File: file, Materialized: Table}
	header, body := splitHeader(text)
	var entry *headerLine // the key: value line a continuation extends
	var entries []*headerLine
	for _, h := range header {
		comment := strings.TrimPrefix(strings.TrimSpace(h.text), "--")
		if isContinuation(comment) {
			if entry != nil {
				entry.value = strings.TrimSpace(entry.value + " " + strings.TrimSpace(comment))
			}
			continue // a continuation of prose is prose
		}
		key, value, ok := strings.Cut(strings.TrimSpace(comment), ":")
		key = strings.TrimSpace(key)
		if !ok || !isKey(key) {
			entry = nil // prose in the header
			continue
		}
		entry = &headerLine{line: h.line, key: key, value: strings.TrimSpace(value)}
		entries = append(entries, entry)
	}
	for _, e := range entries {
		if err := m.set(e.key, e.value); err != nil {
			return m, fmt.Errorf("%s:%d: %w", file, e.line, err)
		}
	}
	m.SQL = strings.TrimSuffix(strings.TrimSpace(body), ";")
	if m.Name == "" {
		m.Name = strings.TrimSuffix(path.Base(file), ".sql")
	}
	switch {
	case m.Materialized == Go && m.SQL != "":
		return m, fmt.Errorf("%s: a go model has no SQL body", file)
	case m.Materialized != Go && m.SQL == "":
		return m, fmt.Errorf("%s: model %s has no SELECT", file, m.Name)
	case m.Materialized == Incremental && m.Partition == "":
		return m, fmt.Errorf("%s: incremental model %s needs `-- partition: <date column>`", file, m.Name)
	case m.Materialized == IncrementalByKey && (m.Partition == "" || m.Source == ""):
		return m, fmt.Errorf("%s: incremental_by_key model %s needs `-- source: <incremental model>` and `-- partition: <column of it>`", file, m.Name)
	case m.Materialized == IncrementalByKey && !slices.Contains(m.DependsOn, m.Source):
		return m, fmt.Errorf("%s: model %s follows %s: list it in depends_on", file, m.Name, m.Source)
	case m.Source != "" && m.Materialized != IncrementalByKey:
		return m, fmt.Errorf("%s: model %s has a source but is %s: only an incremental_by_key model follows a source", file, m.Name, m.Materialized)
	}
	return m, nil
}

// headerLine is one "-- key: value" of a header, continuation lines joined.
type headerLine struct {
	line       int // 1-based, of the key
	key, value string
}

// numberedLine is a line of a model file and its 1-based number.
type numberedLine struct {
	line int
	text string
}

// splitHeader cuts a model file into its header, the comment lines before
// the first line of SQL, and the SQL after it. Blank lines in the header are
// skipped.
func splitHeader(text string) (header []numberedLine, body string) {
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "--"):
			header = append(header, numberedLine{line: i + 1, text: line})
		case trimmed != "":
			return header, strings.Join(lines[i:], "\n")
		}
	}
	return header, ""
}

// isContinuation tells a continuation line ("--   more text") from a new
// key or prose ("-- key: value"): it is indented by two spaces or a tab.
func isContinuation(comment string) bool {
	return strings.HasPrefix(comment, "  ") || strings.HasPrefix(comment, "\t") ||
		strings.HasPrefix(comment, " \t")
}

// isKey reports whether s is a header key: lowercase letters and underscores.
func isKey(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && r != '_' {
			return false
		}
	}
	return true
}

func (m *Model) set(key, value string) error {
	switch key {
	case "model":
		m.Name = value
	case "meaning":
		m.Meaning = value
	case "grain":
		m.Grain = value
	case "key":
		m.Key = splitList(value)
	case "depends_on":
		m.DependsOn = splitList(value)
	case "materialized":
		switch value {
		case Table, View, Incremental, IncrementalByKey, Go:
			m.Materialized = value
		default:
			return fmt.Errorf("materialized: %q is not one of table, view, incremental, incremental_by_key, go", value)
		}
	case "partition":
		m.Partition = value
	case "source":
		m.Source = value
	case "publish":
		m.Publish = value == "true" || value == "yes"
	case "check":
		kind, args, _ := strings.Cut(value, " ")
		switch kind {
		case "not_null", "unique", "accepted_values", "range", "row_count", "sql":
		default:
			return fmt.Errorf("check: %q is not one of not_null, unique, accepted_values, range, row_count, sql", kind)
		}
		m.Checks = append(m.Checks, Check{Kind: kind, Args: strings.TrimSpace(args)})
	default:
		// Other header keys are documentation.
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}
