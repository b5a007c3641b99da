package serve

import (
	"fmt"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/custmart/custmart/warehouse"
	"github.com/duckdb/duckdb-go/v2"
	"github.com/jackc/pgx/v5/pgtype"
)

func TestSplitStatements(t *testing.T) {
	t.Parallel()
	cases := []struct {
		sql  string
		want []string
	}{
		{"SELECT 1; SELECT 2", []string{"SELECT 1", "SELECT 2"}},
		{";;  ;", nil},
		{"SELECT 'a;b'; SELECT 2", []string{"SELECT 'a;b'", "SELECT 2"}},
		{"SELECT 'it''s; here'", []string{"SELECT 'it''s; here'"}},
		{`SELECT E'it\'s; here'; SELECT 2`, []string{`SELECT E'it\'s; here'`, "SELECT 2"}},
		{`SELECT "a;b" FROM t`, []string{`SELECT "a;b" FROM t`}},
		{"SELECT $$a;b$$, $x$c;$$d$x$", []string{"SELECT $$a;b$$, $x$c;$$d$x$"}},
		{"SELECT 1 -- a; comment\n; SELECT 2", []string{"SELECT 1 -- a; comment", "SELECT 2"}},
		{"SELECT /* a /* nested; */ still; */ 1", []string{"SELECT /* a /* nested; */ still; */ 1"}},
		{"SELECT $1; SELECT $2", []string{"SELECT $1", "SELECT $2"}},
		{"SELECT 'unterminated; DROP TABLE x", []string{"SELECT 'unterminated; DROP TABLE x"}},
	}
	for _, c := range cases {
		var got []string
		for _, st := range splitStatements(c.sql) {
			got = append(got, st.text())
		}
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("split %q = %q, want %q", c.sql, got, c.want)
		}
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	cases := []struct {
		sql   string
		kind  commandKind
		param string
		value string
		code  string
	}{
		{sql: "select 1", kind: cmdQuery},
		{sql: "WITH x AS (SELECT 1) SELECT * FROM x", kind: cmdQuery},
		{sql: "(SELECT 1)", kind: cmdQuery},
		{sql: "EXPLAIN SELECT 1", kind: cmdQuery},
		{sql: "EXPLAIN ANALYZE DELETE FROM t", kind: cmdRefused, code: codeInsufficientPrivilege},
		{sql: "begin", kind: cmdBegin},
		{sql: "START TRANSACTION ISOLATION LEVEL REPEATABLE READ", kind: cmdBegin},
		{sql: "end", kind: cmdCommit},
		{sql: "ROLLBACK TO SAVEPOINT a", kind: cmdRollbackTo, param: "a"},
		{sql: "rollback work", kind: cmdRollback},
		{sql: "RELEASE a", kind: cmdRelease, param: "a"},
		{sql: "SET extra_float_digits = 3", kind: cmdSet, param: "extra_float_digits", value: "3"},
		{sql: "SET SESSION DateStyle TO ISO, mdy", kind: cmdSet, param: "datestyle", value: "iso, mdy"},
		{sql: "SET TIME ZONE 'Europe/Paris'", kind: cmdSet, param: "timezone", value: "Europe/Paris"},
		{sql: "SET search_path TO \"$user\", public", kind: cmdSet, param: "search_path", value: "$user, public"},
		{sql: "SET NAMES 'UTF8'", kind: cmdSet, param: "client_encoding", value: "UTF8"},
		{sql: "SET myapp.tenant = 'x'", kind: cmdSet, param: "myapp.tenant", value: "x"},
		{sql: "SET TRANSACTION READ ONLY", kind: cmdNoop},
		{sql: "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", kind: cmdNoop},
		{sql: "SET ROLE admin", kind: cmdRefused, code: codeInsufficientPrivilege},
		{sql: "SET VARIABLE x = 1", kind: cmdRefused, code: codeInsufficientPrivilege},
		{sql: "RESET ALL", kind: cmdReset, param: "all"},
		{sql: "SHOW TRANSACTION ISOLATION LEVEL", kind: cmdShow, param: "transaction_isolation"},
		{sql: "SHOW server_version", kind: cmdShow, param: "server_version"},
		{sql: "SHOW TABLES", kind: cmdQuery},
		{sql: "DISCARD ALL", kind: cmdDiscard},
		{sql: "DEALLOCATE PREPARE s1", kind: cmdDeallocate, param: "s1"},
		{sql: "COPY (SELECT 1) TO STDOUT", kind: cmdCopyOut},
		{sql: "COPY t (a, b) TO STDOUT WITH (FORMAT csv, HEADER)", kind: cmdCopyOut},
		{sql: "COPY t FROM STDIN", kind: cmdRefused, code: codeReadOnlyTransaction},
		{sql: "COPY t TO '/tmp/x'", kind: cmdRefused, code: codeInsufficientPrivilege},
		{sql: "COPY (SELECT 1) TO STDOUT (FORMAT binary)", kind: cmdCopyOut},
		{sql: "COPY t TO STDOUT BINARY", kind: cmdCopyOut},
		{sql: "COPY (SELECT 1) TO STDOUT (FORMAT binary, HEADER false)", kind: cmdCopyOut},
		{sql: "COPY (SELECT 1) TO STDOUT (FORMAT binary, DELIMITER ',')", kind: cmdRefused, code: codeSyntaxError},
		{sql: "COPY (SELECT 1) TO STDOUT (FORMAT binary, HEADER)", kind: cmdRefused, code: codeSyntaxError},
		{sql: "COPY (SELECT 1) TO STDOUT (FORMAT binary, QUOTE '\"')", kind: cmdRefused, code: codeFeatureNotSupported},
		{sql: "COPY (SELECT 1) TO STDOUT (FORMAT parquet)", kind: cmdRefused, code: codeFeatureNotSupported},
		{sql: "insert into t values (1)", kind: cmdRefused, code: codeReadOnlyTransaction},
		{sql: "Create Or Replace Table t AS SELECT 1", kind: cmdRefused, code: codeReadOnlyTransaction},
		{sql: "ATTACH 'x.db'", kind: cmdRefused, code: codeInsufficientPrivilege},
		{sql: "LISTEN x", kind: cmdRefused, code: codeFeatureNotSupported},
		{sql: "DECLARE c NO SCROLL CURSOR WITH HOLD FOR SELECT 1", kind: cmdDeclare, param: "c"},
		{sql: "DECLARE c SCROLL CURSOR FOR SELECT 1", kind: cmdRefused, code: codeFeatureNotSupported},
		{sql: "DECLARE c CURSOR FOR INSERT INTO t VALUES (1)", kind: cmdRefused, code: codeReadOnlyTransaction},
		{sql: `FETCH FORWARD 2000 FROM "C"`, kind: cmdFetch, param: "C"},
		{sql: "FETCH PRIOR FROM c", kind: cmdRefused, code: codeFeatureNotSupported},
		{sql: "CLOSE ALL", kind: cmdCloseCursor, param: "all"},
	}
	for _, c := range cases {
		sts := splitStatements(c.sql)
		if len(sts) != 1 {
			t.Fatalf("%q split into %d statements", c.sql, len(sts))
		}
		cmd := classify(sts[0])
		if cmd.kind != c.kind || cmd.param != c.param || cmd.value != c.value {
			t.Errorf("classify(%q) = kind %d param %q value %q, want kind %d param %q value %q",
				c.sql, cmd.kind, cmd.param, cmd.value, c.kind, c.param, c.value)
		}
		if c.code != "" && (cmd.err == nil || cmd.err.Code != c.code) {
			t.Errorf("classify(%q) error %v, want SQLSTATE %s", c.sql, cmd.err, c.code)
		}
	}
}

func TestCopyOptions(t *testing.T) {
	t.Parallel()
	cmd := classify(splitStatements(`COPY ( SELECT a FROM t ) TO STDOUT CSV HEADER DELIMITER AS ';' NULL 'NA'`)[0])
	if cmd.kind != cmdCopyOut {
		t.Fatalf("kind %d, error %v", cmd.kind, cmd.err)
	}
	spec := cmd.copy
	if !spec.csv || !spec.header || spec.delimiter != ";" || spec.null != "NA" || spec.quote != `"` || spec.query.text() != "SELECT a FROM t" {
		t.Errorf("spec %+v, query %q", spec, spec.query.text())
	}
}

func TestRewriteForEngine(t *testing.T) {
	t.Parallel()
	rc := rewriteContext{user: "analyst", pid: 42, setting: func(name string) (string, bool) {
		if strings.EqualFold(name, "TimeZone") {
			return "UTC", true
		}
		return "", false
	}}
	cases := []struct{ in, want string }{
		{"SELECT * FROM pg_catalog.pg_class c", "SELECT * FROM pg_class c"},
		{"LEFT JOIN pg_attribute a ON t.oid = a.attrelid AND a.attnum = ANY(ix.indkey)",
			"LEFT JOIN pg_attribute a ON t.oid = a.attrelid AND list_contains(ix.indkey, a.attnum)"},
		{"WHERE $1 = ANY (current_schemas(false)) AND x = ANY(SELECT y FROM t) AND f(x) = ANY(l)",
			"WHERE list_contains(current_schemas(false), $1) AND x = ANY(SELECT y FROM t) AND f(x) = ANY(l)"},
		{"SELECT 'pg_catalog.pg_class'", "SELECT 'pg_catalog.pg_class'"},
		{"WHERE c.relname OPERATOR(pg_catalog.~) '^(x)$' COLLATE pg_catalog.default",
			"WHERE c.relname  ~ '(?s).*(?:^(x)$).*' "},
		{"WHERE n.nspname !~ '^pg_'", "WHERE n.nspname !~ '(?s).*(?:^pg_).*'"},
		{"WHERE a ~* 'B'", "WHERE a ~ '(?is).*(?:B).*'"},
		{"SELECT 'customer_value'::regclass", "SELECT pg_regclass('customer_value')"},
		{"SELECT 'main.x'::pg_catalog.regclass::oid", "SELECT pg_regclass('main.x')::oid"},
		{`SELECT '\xdeadbeef'::bytea`, `SELECT pg_bytea('\xdeadbeef')`},
		{"SELECT current_user, session_user", "SELECT current_user('analyst'), current_user('analyst')"},
		{"SELECT x.current_user FROM t x", "SELECT x.current_user FROM t x"},
		{"SELECT pg_backend_pid()", "SELECT pg_backend_pid(42)"},
		{"SELECT current_setting('TimeZone')", "SELECT current_setting('TimeZone', 'UTC')"},
		{"SELECT current_setting('nope', true)", "SELECT current_setting('nope', NULL::VARCHAR)"},
		{"SELECT x FROM generate_series(1, 3) x", "SELECT x FROM generate_series(1, 3) x(x)"},
		{"SELECT x FROM unnest(a) AS x WHERE x > 1", "SELECT x FROM unnest(a) AS x(x) WHERE x > 1"},
		{"SELECT generate_series(1, 3) x", "SELECT generate_series(1, 3) x"},
		{`SELECT E'a\nb'`, "SELECT 'a\nb'"},
		{`SELECT '{1, NULL,"a \"b\""}'::text[], '{}'::int[]`, `SELECT ['1', NULL, 'a "b"']::text[], []::int[]`},
	}
	for _, c := range cases {
		got, err := rewriteForEngine(newStatement(lex(c.in)), rc)
		if err != nil {
			t.Errorf("rewrite %q: %v", c.in, err)
			continue
		}
		if got != c.want {
			t.Errorf("rewrite %q\n got %q\nwant %q", c.in, got, c.want)
		}
	}
	if _, err := rewriteForEngine(newStatement(lex("SELECT current_setting('nope')")), rc); err == nil || err.Code != codeUndefinedObject {
		t.Errorf("unknown setting: %v, want SQLSTATE %s", err, codeUndefinedObject)
	}
}

func TestPGColumnName(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"count_star()":                      "count",
		`"version"()`:                       "version",
		"memory.pgcompat.format_type(a, b)": "format_type",
		"sum(x)":                            "sum",
		"customer_id":                       "customer_id",
		"Access privileges":                 "Access privileges",
		"'x'":                               "?column?",
		"(1 + 2)":                           "?column?",
		"42":                                "?column?",
		"CAST(1 AS INTEGER)":                "?column?",
	}
	for in, want := range cases {
		if got := pgColumnName(in); got != want {
			t.Errorf("pgColumnName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestNumericBinary checks the binary numeric encoder and decoder against
// pgx's independent implementation.
func TestNumericBinary(t *testing.T) {
	t.Parallel()
	m := pgtype.NewMap()
	for _, s := range []string{"0", "1", "-1", "12345.67", "-0.000001", "10000", "0.0001", "99999999999999999999.99",
		"170141183460469231731687303715884105727", "123456789.000100", "-99999.99"} {
		r, _ := new(big.Rat).SetString(s)
		scale := 0
		if i := strings.IndexByte(s, '.'); i >= 0 {
			scale = len(s) - i - 1
		}
		unscaled := new(big.Int).Mul(r.Num(), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil))
		unscaled.Quo(unscaled, r.Denom())
		buf := appendNumericBinary(nil, unscaled, scale)
		var n pgtype.Numeric
		if err := m.Scan(oidNumeric, pgtype.BinaryFormatCode, buf, &n); err != nil {
			t.Fatalf("%s: pgx cannot decode our encoding: %v", s, err)
		}
		if got := canonical(n); got != r.RatString() {
			t.Errorf("%s encoded, pgx decodes %s", s, got)
		}
		pgxBuf, err := m.Encode(oidNumeric, pgtype.BinaryFormatCode, n, nil)
		if err != nil {
			t.Fatal(err)
		}
		decoded, err := decodeNumericBinary(pgxBuf)
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := new(big.Rat).SetString(decoded); d.Cmp(r) != 0 {
			t.Errorf("pgx encodes %s, we decode %s", s, decoded)
		}
	}
}

func TestTextFormats(t *testing.T) {
	t.Parallel()
	tf := textFormat{location: time.UTC, extraFloatDigit: 1}
	cases := []struct {
		col  column
		v    any
		want string
	}{
		{column{kind: kindFloat8}, 100.0, "100"},
		{column{kind: kindFloat8}, 1e15, "1e+15"},
		{column{kind: kindFloat8}, 123456789.125, "123456789.125"},
		{column{kind: kindFloat8}, 0.0001, "0.0001"},
		{column{kind: kindFloat8}, 0.00001, "1e-05"},
		{column{kind: kindFloat8}, math.Inf(-1), "-Infinity"},
		{column{kind: kindFloat4}, float32(1.1), "1.1"},
		{column{kind: kindBool}, true, "t"},
		{column{kind: kindNumeric}, duckdb.Decimal{Width: 18, Scale: 2, Value: big.NewInt(-5)}, "-0.05"},
		{column{kind: kindDate}, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), "2024-02-29"},
		{column{kind: kindTimestamp}, time.Date(2024, 2, 29, 1, 2, 3, 450000000, time.UTC), "2024-02-29 01:02:03.45"},
		{column{kind: kindTimestampTZ}, time.Date(2024, 2, 29, 1, 2, 3, 0, time.UTC), "2024-02-29 01:02:03+00"},
		{column{kind: kindInterval}, duckdb.Interval{Months: 14, Days: 3, Micros: 14706789000}, "1 year 2 mons 3 days 04:05:06.789"},
		{column{kind: kindInterval}, duckdb.Interval{}, "00:00:00"},
		{column{kind: kindInterval}, duckdb.Interval{Days: -5}, "-5 days"},
		{column{kind: kindBytea}, []byte{0xde, 0xad}, `\xdead`},
		{column{kind: kindArray, elem: &column{kind: kindText}}, []any{"a", "b c", nil, ""}, `{a,"b c",NULL,""}`},
	}
	for _, c := range cases {
		got, err := appendText(nil, &c.col, c.v, tf)
		if err != nil || string(got) != c.want {
			t.Errorf("text of %#v = %q, %v; want %q", c.v, got, err, c.want)
		}
	}
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := appendText(nil, &column{kind: kindTimestampTZ}, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), textFormat{location: kolkata})
	if string(got) != "2024-01-01 05:30:00+05:30" {
		t.Errorf("timestamptz in Asia/Kolkata = %q", got)
	}
}

// FuzzStatements feeds arbitrary query strings through splitting,
// classification and rewriting, which must never panic: they run on every
// query a client sends.
func FuzzStatements(f *testing.F) {
	for _, seed := range []string{
		"COPY", "COPY (", "COPY (SELECT 1) TO", "COPY t TO STDOUT WITH (", "SET", "SET x", "SET x TO", "RESET",
		"SHOW", "DEALLOCATE", "SAVEPOINT", "ROLLBACK TO", "EXPLAIN", "EXPLAIN ANALYZE", "BEGIN;", "'", "E'\\", "$$",
		"$a$", "/*", "--", "\"", "SELECT current_setting(", "SELECT current_setting('x',", "FROM generate_series(",
		"OPERATOR(", "COLLATE", "pg_catalog.", "information_schema.", "x ~", "'a'::", "SELECT pg_backend_pid(",
		"DECLARE", "DECLARE c CURSOR", "DECLARE c CURSOR WITH", "FETCH", "FETCH FORWARD", "FETCH -", "CLOSE",
	} {
		f.Add(seed)
	}
	rc := rewriteContext{user: "u", pid: 1, setting: func(string) (string, bool) { return "v", true }}
	f.Fuzz(func(t *testing.T, sql string) {
		for _, st := range splitStatements(sql) {
			cmd := classify(st)
			switch cmd.kind {
			case cmdQuery:
				rewriteForEngine(st, rc)
			case cmdCopyOut:
				rewriteForEngine(cmd.copy.query, rc)
			case cmdDeclare:
				rewriteForEngine(cmd.query, rc)
			}
		}
		inlineParams(sql, []any{"x", int64(1), nil}, []string{"VARCHAR"})
	})
}

func TestAppendDecimal(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		v     int64
		scale int
	}{{0, 0}, {5, 2}, {-5, 2}, {12345, 2}, {-12345, 2}, {100, 2}, {7, 0}, {-1, 6}, {math.MinInt64, 3}, {math.MaxInt64, 18}} {
		want := warehouse.DecimalText(big.NewInt(c.v), c.scale)
		if got := string(appendDecimal([]byte("x"), big.NewInt(c.v), c.scale)); got != "x"+want {
			t.Errorf("appendDecimal(%d, %d) = %q, want %q", c.v, c.scale, got, "x"+want)
		}
	}
}

func TestArrayParams(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"1,2", "{1,,2}", `{"a}`, "{{1},{2}}"} {
		if _, err := parseArrayText(bad); err == nil {
			t.Errorf("parseArrayText(%q) accepted a malformed array", bad)
		}
	}
	elem := columnOfType("", oidInt8)
	data, err := appendArrayBinary(nil, &elem, []any{int64(5), nil, int64(-7)}, textFormat{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeParam(arrayOf(oidInt8), true, data)
	if err != nil || fmt.Sprint(got) != "[5 <nil> -7]" {
		t.Errorf("binary int8[] parameter: %v, %v", got, err)
	}
	if _, err := decodeParam(arrayOf(oidInt4), true, data); err == nil {
		t.Error("an int8 array bound as int4[] was accepted")
	}
	if _, err := decodeParam(arrayOf(oidInt8), true, data[:len(data)-3]); err == nil {
		t.Error("a truncated binary array was accepted")
	}
	if lit := sqlLiteral(got); lit != "[5, NULL, -7]" {
		t.Errorf("array literal %s", lit)
	}
}
