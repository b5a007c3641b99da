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
//	-- materialized: table          (table, view, incremental, or go)
//	-- publish: true
//	-- check: not_null customer_id, segment
//	-- check: unique customer_id
//	SELECT ...
package sql

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
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
	Go          = "go"          // computed by a Go function registered under the model's name
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
	// Partition is the DATE column an incremental model is maintained by.
	Partition string
	Publish   bool
	Checks    []Check
	SQL       string
}

// Check is a data-quality check declared in a model header.
type Check struct {
	Kind string // not_null, unique, accepted_values, range, row_count, sql
	Args string
}

// Hash identifies the model's definition; a changed hash forces a full rebuild.
func (m Model) Hash() string {
	def := m.Materialized + "\x00" + m.Partition + "\x00" + m.SQL
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
	var body []string
	inHeader := true
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if inHeader && strings.HasPrefix(trimmed, "--") {
			key, value, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(trimmed, "--")), ":")
			if !ok {
				continue // prose in the header
			}
			if err := m.set(strings.TrimSpace(key), strings.TrimSpace(value)); err != nil {
				return m, fmt.Errorf("%s:%d: %w", file, i+1, err)
			}
			continue
		}
		if trimmed != "" {
			inHeader = false
		}
		if !inHeader {
			body = append(body, line)
		}
	}
	m.SQL = strings.TrimSpace(strings.Join(body, "\n"))
	m.SQL = strings.TrimSuffix(m.SQL, ";")
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
	}
	return m, nil
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
		case Table, View, Incremental, Go:
			m.Materialized = value
		default:
			return fmt.Errorf("materialized: %q is not one of table, view, incremental, go", value)
		}
	case "partition":
		m.Partition = value
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
