package config

import (
	"errors"
	"testing"
)

// base is a valid file of one source; cases append to it or replace it.
const base = `version: 1
sources:
  - name: s
    path: in
    columns: {customer_id: c, ts: t, amount: a}
`

func TestFieldErrorsNameThePathTheLineAndTheFix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, yaml, want string
		line             int
	}{
		{"unknown top-level key", base + "warehuose: {}\n", "config c.yaml: warehuose at line 6: unknown key; did you mean `warehouse`?", 6},
		{"unknown nested key", base + "    csv: {delimter: ';'}\n", "config c.yaml: sources[0].csv.delimter at line 6: unknown key; did you mean `delimiter`?", 6},
		{"unknown key in a list", base + "  - name: t\n    path: x\n    csv:\n      delimter: ';'\n", "config c.yaml: sources[1].csv.delimter at line 9: unknown key; did you mean `delimiter`?", 9},
		{"key one level too high", base + "    delimiter: ';'\n", "config c.yaml: sources[0].delimiter at line 6: unknown key; did you mean `csv.delimiter`? `delimiter` goes under `csv:`", 6},
		{"no close key", base + "serve: {users: [{name: a, password_env: X, pasword: y}]}\n", "config c.yaml: serve.users[0].pasword at line 6: unknown key; the keys of serve.users[0] are: name, password_env, scram", 6},
		{"number", base + "    max_quarantine_share: lots\n", `config c.yaml: sources[0].max_quarantine_share at line 6: "lots" is not a number; write a number such as 0.05`, 6},
		{"whole number", base + "publish: {keep_versions: 1.5}\n", `config c.yaml: publish.keep_versions at line 6: "1.5" is not a whole number; write a whole number such as 10`, 6},
		{"bool", base + "serve: {require_tls: maybe}\n", `config c.yaml: serve.require_tls at line 6: "maybe" is not true or false; write true or false`, 6},
		{"duration", base + "    future_tolerance: 10\n", `config c.yaml: sources[0].future_tolerance at line 6: "10" is not a duration; write e.g. 90s, 10m, 2h or 7d`, 6},
		{"list", base + "    currencies: EUR\n", "config c.yaml: sources[0].currencies at line 6: is the single value \"EUR\", not a list; write a list: [a, b], or one `- item` per line below it", 6},
		{"map", base + "model: {tiers: 3}\n", `config c.yaml: model.tiers at line 6: is the single value "3", not a group of keys; write its keys on the lines below it, indented: platinum, gold, iron`, 6},
		{"list for a number", base + "model:\n  horizon: [1]\n", "config c.yaml: model.horizon at line 7: is a list, not a number; write a number such as 0.05", 7},
		{"given twice", base + "version: 1\n", "config c.yaml: version at line 6: given twice (first at line 1); keep one of them", 6},
		{"empty file", "", "config c.yaml: the file is empty; run `custmart init` to write a commented example, or start with `version: 1` and a `sources:` list", 0},
		{"comments only", "# a\n\n# b\n", "config c.yaml: the file holds only comments, no settings; run `custmart init` to write a commented example, or start with `version: 1` and a `sources:` list", 0},
		{"syntax", base + "a: b: c\n", "config c.yaml: line 6: YAML syntax error: mapping values are not allowed in this context; quote a value that contains `: `, or put a nested key on its own, indented line", 6},
		{"tab", base + "model:\n\thorizon: 3\n", "config c.yaml: line 7: YAML syntax error: found character that cannot start any token; indent with spaces (YAML does not allow tabs)", 7},
		{"wrong version", "version: 2\nsources: []\n", "config c.yaml: version at line 1: version 2 is not supported; this custmart reads version 1; write `version: 1` at the top of the file", 1},
		{"no version", "sources: []\n", "config c.yaml: version: missing; write `version: 1` at the top of the file", 0},
		{"validation: format", base + "    format: xlsx\n", `config c.yaml: sources[0].format at line 6: "xlsx" is not a format; use csv, jsonl or parquet`, 6},
		{"validation: missing column at its parent", "version: 1\nsources:\n  - name: s\n    path: in\n    columns: {customer_id: c, ts: t}\n", "config c.yaml: sources[0].columns.amount at line 5: required column is not mapped; map amount, or both quantity and unit_price (amount = quantity * unit_price)", 5},
		{"validation: duplicate source", base + "  - name: s\n    path: y\n    columns: {customer_id: c, ts: t, amount: a}\n", `config c.yaml: sources[1].name at line 6: source "s" is declared twice; give every source its own name`, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tc.yaml), "c.yaml")
			var ce *Error
			if !errors.As(err, &ce) || ce.Error() != tc.want || ce.Line != tc.line {
				t.Errorf("got  %v\nwant %s (line %d)", err, tc.want, tc.line)
			}
		})
	}
}
