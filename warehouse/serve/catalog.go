package serve

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// catalogData fills catalog.sql. The generated parts come from pgTypes and
// paramDefs, so pg_type, format_type() and pg_settings match the wire.
type catalogData struct {
	Catalog         string
	Path            string
	MemoryLimit     string
	Threads         int
	Users           []string
	ServerVersion   string
	TextOID         uint32
	NumericOID      uint32
	TypeOIDCases    string // pg_type_oid(): DuckDB type name to OID
	FormatTypeNames string // format_type(): a MAP of OID to SQL name
	TypeRows        string // pg_type rows
	ProcRows        string // pg_proc rows
	SettingRows     string // pg_settings rows
	// Keys lists each mart's key columns: (table_name, key_seq, column_name,
	// key_columns), from the version's _version.json.
	Keys string
	// Descriptions lists the README's meanings of marts (column_name '')
	// and their columns: (table_name, column_name, description).
	Descriptions string
}

func newCatalogData(path string, cfg engineConfig, keys map[string][]string) catalogData {
	return catalogData{
		Catalog:         catalogName,
		Path:            path,
		MemoryLimit:     cfg.memoryLimit,
		Threads:         cfg.threads,
		Users:           cfg.users,
		ServerVersion:   serverVersion,
		TextOID:         oidText,
		NumericOID:      oidNumeric,
		TypeOIDCases:    typeOIDCases(),
		FormatTypeNames: formatTypeNames(),
		TypeRows:        typeRows(),
		ProcRows:        procRows(),
		SettingRows:     settingRows(),
		Keys:            keyRows(keys),
		Descriptions:    descriptionRows(readmeDocs()),
	}
}

// keyRows renders the marts' keys as a relation for catalog.sql.
func keyRows(keys map[string][]string) string {
	var rows []string
	for _, mart := range slices.Sorted(maps.Keys(keys)) {
		for i, col := range keys[mart] {
			rows = append(rows, fmt.Sprintf("(%s, %d, %s, %d)", quoteString(mart), i+1, quoteString(col), len(keys[mart])))
		}
	}
	if len(rows) == 0 {
		return "(SELECT NULL::VARCHAR, NULL::INTEGER, NULL::VARCHAR, NULL::INTEGER WHERE false) k(table_name, key_seq, column_name, key_columns)"
	}
	return "(VALUES " + strings.Join(rows, ",\n        ") + ") k(table_name, key_seq, column_name, key_columns)"
}

// descriptionRows renders the marts' documentation as a relation for
// catalog.sql.
func descriptionRows(docs martDocs) string {
	var rows []string
	for _, mart := range slices.Sorted(maps.Keys(docs.tables)) {
		rows = append(rows, fmt.Sprintf("(%s, '', %s)", quoteString(mart), quoteString(docs.tables[mart])))
	}
	for _, mart := range slices.Sorted(maps.Keys(docs.columns)) {
		for _, col := range slices.Sorted(maps.Keys(docs.columns[mart])) {
			rows = append(rows, fmt.Sprintf("(%s, %s, %s)", quoteString(mart), quoteString(col), quoteString(docs.columns[mart][col])))
		}
	}
	if len(rows) == 0 {
		return "(SELECT NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR WHERE false) d(table_name, column_name, description)"
	}
	return "(VALUES " + strings.Join(rows, ",\n        ") + ") d(table_name, column_name, description)"
}

// typeOIDCases maps duckdb_columns().data_type to OIDs like columnFor maps
// result types: scalars, one-dimensional lists of them, everything else text.
func typeOIDCases() string {
	var b strings.Builder
	fmt.Fprintf(&b, "WHEN duck_type LIKE 'DECIMAL(%%)[]' THEN %d\n", arrayOf(oidNumeric))
	fmt.Fprintf(&b, "    WHEN duck_type LIKE 'DECIMAL(%%)' THEN %d\n", oidNumeric)
	names := map[string]uint32{}
	for _, t := range pgTypes {
		if t.duck != "" {
			names[t.duck] = t.oid
		}
	}
	for name, oid := range duckAliases {
		names[name] = oid
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range names {
			if !yield(k) {
				return
			}
		}
	})
	for _, name := range keys {
		oid := names[name]
		fmt.Fprintf(&b, "    WHEN duck_type = %s THEN %d WHEN duck_type = %s THEN %d\n",
			quoteString(name), oid, quoteString(name+"[]"), arrayOf(oid))
	}
	return strings.TrimSpace(b.String())
}

func arrayOf(oid uint32) uint32 {
	t, _ := typeByOID(oid)
	return t.array
}

// formatTypeNames renders the SQL names of the types and their arrays as a
// MAP literal. format_type() looks the OID up in it rather than testing it
// against each type in a CASE: a macro copies its argument into every use,
// and a CASE over every type made each ::regtype cast take seconds to plan.
func formatTypeNames() string {
	var entries []string
	for _, t := range pgTypes {
		entries = append(entries, fmt.Sprintf("%d::BIGINT: %s", t.oid, quoteString(t.sqlName)),
			fmt.Sprintf("%d::BIGINT: %s", t.array, quoteString(t.sqlName+"[]")))
	}
	return "MAP {" + strings.Join(entries, ", ") + "}"
}

// typeRows renders pg_type. Its regproc columns (typinput to typanalyze)
// hold OIDs of pg_proc rows, 0 for none, as PostgreSQL stores them.
func typeRows() string {
	var rows []string
	row := func(oid uint32, name string, length int16, category string, elem, array uint32, io typeIO) {
		byValue := length > 0 && length <= 8
		align := "i"
		if length == 8 || length == -1 {
			align = "d"
		}
		rows = append(rows, fmt.Sprintf("(%d::BIGINT, %s, 11::BIGINT, 10::BIGINT, %d::SMALLINT, %t, 'b', %s, false, true, ',', 0::BIGINT, %d::BIGINT, %d::BIGINT, %d::BIGINT, %d::BIGINT, %d::BIGINT, %d::BIGINT, 0::BIGINT, 0::BIGINT, 0::BIGINT, %s, 'p', false, 0::BIGINT, -1, 0, 0::BIGINT, NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR[])",
			oid, quoteString(name), length, byValue, quoteString(category), elem, array,
			io.oids[0], io.oids[1], io.oids[2], io.oids[3], quoteString(align)))
	}
	for _, t := range pgTypes {
		row(t.oid, t.name, t.length, t.category, 0, t.array, typeIOs[t.oid])
		row(t.array, "_"+t.name, -1, "A", t.oid, 0, arrayIO)
	}
	return strings.Join(rows, ",\n        ")
}

// PostgreSQL's pseudo-types in the I/O functions' signatures.
const (
	oidCString  = 2275
	oidInternal = 2281
	oidAnyArray = 2277
)

// procRows renders pg_proc: the I/O functions of the types in pg_type, the
// only functions the catalog lists.
func procRows() string {
	var rows []string
	add := func(io typeIO, typ uint32) {
		typmod := ""
		nargs := 1
		if io.typmod {
			typmod = fmt.Sprintf(" %d %d", oidOID, oidInt4)
			nargs = 3
		}
		for i, f := range []struct {
			suffix   string
			args     string
			nargs    int
			returned uint32
		}{
			{"in", fmt.Sprint(oidCString) + typmod, nargs, typ},
			{"out", fmt.Sprint(typ), 1, oidCString},
			{"recv", fmt.Sprint(oidInternal) + typmod, nargs, typ},
			{"send", fmt.Sprint(typ), 1, oidBytea},
		} {
			name := io.prefix + f.suffix
			rows = append(rows, fmt.Sprintf("(%d::BIGINT, %s, 11::BIGINT, 10::BIGINT, 12::BIGINT, 1::FLOAT, 0::FLOAT, 0::BIGINT, 0::BIGINT, 'f', false, false, true, false, %s, 's', %d::SMALLINT, 0::SMALLINT, %d::BIGINT, %s, NULL::BIGINT[], NULL::VARCHAR[], NULL::VARCHAR[], NULL::VARCHAR, NULL::BIGINT[], %s, NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR[], NULL::VARCHAR[])",
				io.oids[i], quoteString(name), quoteString(io.volatile[i:i+1]), f.nargs, f.returned, quoteString(f.args), quoteString(name)))
		}
	}
	for _, t := range pgTypes {
		add(typeIOs[t.oid], t.oid)
	}
	add(arrayIO, oidAnyArray)
	return strings.Join(rows, ",\n        ")
}

func settingRows() string {
	var rows []string
	for _, d := range paramDefs {
		rows = append(rows, fmt.Sprintf("(%s, %s, %s)", quoteString(d.name), quoteString(d.value), quoteString(d.desc)))
	}
	return strings.Join(rows, ",\n        ")
}
