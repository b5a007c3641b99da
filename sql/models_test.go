package sql

import (
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

func TestParseHeader(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		text string
		want Model
	}{
		{
			name: "every key",
			text: `-- model: rfm
-- meaning: RFM per customer.
-- grain: customer
-- key: customer_id
-- depends_on: customer_profile, customer_daily
-- materialized: table
-- publish: true
-- check: not_null customer_id, segment
-- check: range r_score 1 5
SELECT 1`,
			want: Model{Name: "rfm", Meaning: "RFM per customer.", Grain: "customer", Key: []string{"customer_id"},
				DependsOn: []string{"customer_profile", "customer_daily"}, Materialized: Table, Publish: true,
				Checks: []Check{{"not_null", "customer_id, segment"}, {"range", "r_score 1 5"}}, SQL: "SELECT 1"},
		},
		{
			name: "name from the file, table by default, trailing semicolon dropped",
			text: "-- meaning: m\n\nSELECT 1;\n",
			want: Model{Name: "x", Meaning: "m", Materialized: Table, SQL: "SELECT 1"},
		},
		{
			name: "a value continued on indented lines",
			text: `-- model: x
-- meaning: first part,
--   second part: with a colon,
--	third part after a tab.
-- grain: customer
SELECT 1`,
			want: Model{Name: "x", Meaning: "first part, second part: with a colon, third part after a tab.", Grain: "customer",
				Materialized: Table, SQL: "SELECT 1"},
		},
		{
			name: "a continued check and list",
			text: `-- model: x
-- depends_on: a,
--   b
-- check: sql SELECT * FROM x
--   WHERE y < 0
SELECT 1`,
			want: Model{Name: "x", DependsOn: []string{"a", "b"}, Materialized: Table,
				Checks: []Check{{"sql", "SELECT * FROM x WHERE y < 0"}}, SQL: "SELECT 1"},
		},
		{
			name: "prose and its continuation are not values",
			text: `-- model: x
-- meaning: m
-- Sums add in value order (ORDER BY): a parallel sum
--   depends on the order rows arrive in.
-- grain: g
SELECT 1`,
			want: Model{Name: "x", Meaning: "m", Grain: "g", Materialized: Table, SQL: "SELECT 1"},
		},
		{
			name: "comments after the first SQL line are SQL",
			text: "-- model: x\nSELECT 1\n-- check: unique a\n",
			want: Model{Name: "x", Materialized: Table, SQL: "SELECT 1\n-- check: unique a"},
		},
		{
			name: "unknown keys are documentation",
			text: "-- model: x\n-- owner: marketing\nSELECT 1",
			want: Model{Name: "x", Materialized: Table, SQL: "SELECT 1"},
		},
		{
			name: "publish yes, incremental with a partition",
			text: "-- model: x\n-- publish: yes\n-- materialized: incremental\n-- partition: day\nSELECT 1",
			want: Model{Name: "x", Publish: true, Materialized: Incremental, Partition: "day", SQL: "SELECT 1"},
		},
		{
			name: "incremental by key follows a source",
			text: "-- model: x\n-- depends_on: daily\n-- materialized: incremental_by_key\n-- source: daily\n-- partition: customer_id\nSELECT 1",
			want: Model{Name: "x", DependsOn: []string{"daily"}, Materialized: IncrementalByKey, Source: "daily", Partition: "customer_id", SQL: "SELECT 1"},
		},
		{
			name: "a go model has no body",
			text: "-- model: x\n-- materialized: go\n",
			want: Model{Name: "x", Materialized: Go},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse("x.sql", c.text)
			if err != nil {
				t.Fatal(err)
			}
			c.want.File = "x.sql"
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("Parse:\n got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, text, want string
	}{
		{"bad materialization", "-- model: x\n-- materialized: tabel\nSELECT 1", `x.sql:2: materialized: "tabel" is not one of table, view, incremental, incremental_by_key, go`},
		{"bad check on a continued line", "-- model: x\n-- meaning: a\n--   b\n-- check: uniq a\nSELECT 1", `x.sql:4: check: "uniq" is not one of`},
		{"a continued bad value names the key's line", "-- model: x\n-- materialized:\n--   tabel\nSELECT 1", `x.sql:2: materialized: "tabel"`},
		{"no SELECT", "-- model: x\n", "x.sql: model x has no SELECT"},
		{"a go model with SQL", "-- model: x\n-- materialized: go\nSELECT 1", "x.sql: a go model has no SQL body"},
		{"incremental without a partition", "-- model: x\n-- materialized: incremental\nSELECT 1", "x.sql: incremental model x needs `-- partition: <date column>`"},
		{"incremental by key without a source", "-- model: x\n-- materialized: incremental_by_key\n-- partition: customer_id\nSELECT 1",
			"x.sql: incremental_by_key model x needs `-- source: <incremental model>` and `-- partition: <column of it>`"},
		{"incremental by key on a source it does not depend on", "-- model: x\n-- materialized: incremental_by_key\n-- source: daily\n-- partition: customer_id\nSELECT 1",
			"x.sql: model x follows daily: list it in depends_on"},
		{"a table with a source", "-- model: x\n-- depends_on: daily\n-- source: daily\nSELECT 1",
			"x.sql: model x has a source but is table"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("x.sql", c.text)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestLoadFSRefusesADuplicateModel(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"a.sql": {Data: []byte("-- model: same\nSELECT 1")},
		"b.sql": {Data: []byte("-- model: same\nSELECT 2")},
	}
	if _, err := LoadFS(fsys); err == nil || err.Error() != "model same is declared in a.sql and b.sql" {
		t.Fatalf("error %v", err)
	}
}

// The embedded models parse, and no header line is longer than a screen:
// long values continue on indented lines.
func TestEmbeddedHeadersAreWrapped(t *testing.T) {
	t.Parallel()
	ms, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		raw, err := files.ReadFile(m.File)
		if err != nil {
			t.Fatal(err)
		}
		header, _ := splitHeader(string(raw))
		for _, h := range header {
			if n := len([]rune(h.text)); n > 100 {
				t.Errorf("%s:%d: header line of %d characters; continue it on a line starting with `--   `", m.File, h.line, n)
			}
		}
		if m.Meaning == "" {
			t.Errorf("%s: no meaning in the header", m.File)
		}
	}
}
