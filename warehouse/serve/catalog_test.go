package serve

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// What BI tools send on connect and on schema sync, as they send it.
var biToolQueries = []struct {
	tool, query string
	// want is what the first column of the result must hold, joined by ",".
	want string
}{
	{"sqlalchemy table names", `SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'main' AND c.relkind IN ('r', 'p') ORDER BY c.relname`, "customer_value,rfm,segment_summary"},
	{"sqlalchemy columns", `SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
		(SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid) FROM pg_catalog.pg_attrdef d
		 WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef) AS "default",
		a.attnotnull, a.attrelid AS table_oid, pgd.description AS comment, a.attgenerated AS generated, a.attidentity AS identity
		FROM pg_catalog.pg_attribute a
		LEFT JOIN pg_catalog.pg_description pgd ON (pgd.objoid = a.attrelid AND pgd.objsubid = a.attnum)
		WHERE a.attrelid = (SELECT c.oid FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
			WHERE (pg_catalog.pg_table_is_visible(c.oid)) AND c.relname = 'segment_summary' AND c.relkind IN ('r', 'v', 'm', 'f', 'p'))
		AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, "segment,customers,revenue,avg_clv,as_of"},
	{"jdbc type lookup", `SELECT typinput='pg_catalog.array_in'::regproc AS is_array, typtype, typname, pg_type.oid
		FROM pg_catalog.pg_type LEFT JOIN (SELECT ns.oid AS nspoid, ns.nspname, r.r FROM pg_namespace AS ns
			JOIN (SELECT s.r, (current_schemas(false))[s.r] AS nspname
				FROM generate_series(1, array_upper(current_schemas(false), 1)) AS s(r)) AS r USING (nspname)) AS sp
		ON sp.nspoid = typnamespace WHERE pg_type.oid = 1016 ORDER BY sp.r, pg_type.oid DESC LIMIT 1`, "t"},
	{"jdbc getTables", `SELECT NULL AS TABLE_CAT, n.nspname AS TABLE_SCHEM, c.relname AS TABLE_NAME,
		CASE n.nspname ~ '^pg_' OR n.nspname = 'information_schema' WHEN true THEN 'SYSTEM' WHEN false THEN
			CASE c.relkind WHEN 'r' THEN 'TABLE' WHEN 'v' THEN 'VIEW' ELSE NULL END ELSE NULL END AS TABLE_TYPE,
		d.description AS REMARKS
		FROM pg_catalog.pg_namespace n, pg_catalog.pg_class c
		LEFT JOIN pg_catalog.pg_description d ON (c.oid = d.objoid AND d.objsubid = 0 AND d.classoid = 'pg_class'::regclass)
		WHERE c.relnamespace = n.oid AND n.nspname LIKE 'main' AND c.relname LIKE '%'
		AND (false OR (c.relkind IN ('r', 'p') AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'))
		ORDER BY TABLE_TYPE, TABLE_SCHEM, TABLE_NAME`, "NULL,NULL,NULL"},
	{"jdbc getColumns", `SELECT * FROM (SELECT n.nspname, c.relname, a.attname, a.atttypid,
		a.attnotnull OR (t.typtype = 'd' AND t.typnotnull) AS attnotnull, a.atttypmod, a.attlen, t.typtypmod,
		row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum) AS attnum, nullif(a.attidentity, '') AS attidentity,
		nullif(a.attgenerated, '') AS attgenerated, pg_catalog.pg_get_expr(def.adbin, def.adrelid) AS adsrc,
		dsc.description, t.typbasetype, t.typtype
		FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_class c ON (c.relnamespace = n.oid)
		JOIN pg_catalog.pg_attribute a ON (a.attrelid = c.oid) JOIN pg_catalog.pg_type t ON (a.atttypid = t.oid)
		LEFT JOIN pg_catalog.pg_attrdef def ON (a.attrelid = def.adrelid AND a.attnum = def.adnum)
		LEFT JOIN pg_catalog.pg_description dsc ON (c.oid = dsc.objoid AND a.attnum = dsc.objsubid)
		LEFT JOIN pg_catalog.pg_class dc ON (dc.oid = dsc.classoid AND dc.relname = 'pg_class')
		LEFT JOIN pg_catalog.pg_namespace dn ON (dc.relnamespace = dn.oid AND dn.nspname = 'pg_catalog')
		WHERE c.relkind IN ('r', 'p', 'v', 'f', 'm') AND a.attnum > 0 AND NOT a.attisdropped
		AND n.nspname LIKE 'main' AND c.relname LIKE 'rfm') c WHERE true ORDER BY nspname, c.relname, attnum`, "main,main,main,main,main"},
	{"information_schema tables", `SELECT table_name FROM information_schema.tables
		WHERE table_schema = 'main' AND table_type = 'BASE TABLE' ORDER BY table_name`, "customer_value,rfm,segment_summary"},
	{"information_schema columns", `SELECT data_type FROM information_schema.columns
		WHERE table_schema = 'main' AND table_name = 'customer_value' ORDER BY ordinal_position`,
		"character varying,character varying,integer,bigint,numeric,double precision,date,timestamp without time zone,boolean"},
	{"information_schema schemata", `SELECT schema_name FROM information_schema.schemata ORDER BY 1`, "information_schema,main,pg_catalog"},
	{"pg_type by name", `SELECT oid FROM pg_catalog.pg_type WHERE typname IN ('numeric', 'int8', '_varchar') ORDER BY oid`, "20,1015,1700"},
	{"pg_database", `SELECT datname FROM pg_catalog.pg_database WHERE datallowconn`, "custmart"},
	{"pg_settings", `SELECT setting FROM pg_catalog.pg_settings WHERE name = 'server_version_num'`, serverVersionNum},
	{"pg_roles", `SELECT rolname FROM pg_catalog.pg_roles WHERE rolcanlogin ORDER BY 1`, testUser},
	{"regclass to name", `SELECT relname FROM pg_class WHERE oid = 'main.rfm'::regclass`, "rfm"},
	{"grafana version check", `SELECT current_setting('server_version_num')::int / 100`, "1500"},
}

func TestBIToolCatalogQueries(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	conn := ts.connect(t)
	ctx := context.Background()
	for _, proto := range []string{"simple", "extended"} {
		for _, q := range biToolQueries {
			t.Run(proto+"/"+q.tool, func(t *testing.T) {
				var rows [][][]byte
				if proto == "simple" {
					res, err := conn.PgConn().Exec(ctx, q.query).ReadAll()
					if err != nil {
						t.Fatal(err)
					}
					rows = res[0].Rows
				} else {
					res := conn.PgConn().ExecParams(ctx, q.query, nil, nil, nil, nil).Read()
					if res.Err != nil {
						t.Fatal(res.Err)
					}
					rows = res.Rows
				}
				var first []string
				for _, r := range rows {
					if r[0] == nil {
						first = append(first, "NULL")
					} else {
						first = append(first, string(r[0]))
					}
				}
				if got := strings.Join(first, ","); got != q.want {
					t.Errorf("got %s, want %s", got, q.want)
				}
			})
		}
	}
}

// TestCatalogAgreesWithTheWire checks that pg_attribute's types for every
// mart column are the types a query over that column reports.
func TestCatalogAgreesWithTheWire(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	publishAllTypes(t, ts)
	conn := ts.connect(t)
	ctx := context.Background()
	for _, table := range []string{"customer_value", "rfm", "segment_summary", "all_types"} {
		res := conn.PgConn().ExecParams(ctx, fmt.Sprintf(`SELECT a.attname, a.atttypid, a.atttypmod FROM pg_catalog.pg_attribute a
			WHERE a.attrelid = '%s'::regclass ORDER BY a.attnum`, table), nil, nil, nil, nil).Read()
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		rr := conn.PgConn().ExecParams(ctx, "SELECT * FROM "+table+" LIMIT 0", nil, nil, nil, nil)
		fields := rr.FieldDescriptions()
		if _, err := rr.Close(); err != nil {
			t.Fatal(err)
		}
		if len(res.Rows) != len(fields) || len(res.Rows) == 0 {
			t.Fatalf("%s: pg_attribute has %d columns, the query %d", table, len(res.Rows), len(fields))
		}
		for i, f := range fields {
			cat := fmt.Sprintf("%s %s %s", res.Rows[i][0], res.Rows[i][1], res.Rows[i][2])
			got := fmt.Sprintf("%s %d %d", f.Name, f.DataTypeOID, f.TypeModifier)
			if cat != got {
				t.Errorf("%s: pg_attribute says %q, the wire %q", table, cat, got)
			}
		}
	}
}

// TestFormat: PostgreSQL's format(), which Metabase's field sync and user
// SQL call, formats as PostgreSQL does, and refuses what PostgreSQL refuses.
func TestFormat(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	conn := ts.connect(t)
	ctx := context.Background()
	for _, c := range []struct{ sql, want string }{
		{`SELECT format('%I.%I', 'main', 'rfm')`, "main.rfm"},
		{`SELECT format('%s', 'x')`, "x"},
		{`SELECT format('%I', 'Odd "Name"')`, `"Odd ""Name"""`},
		{`SELECT format('%L and %L', 'it''s', NULL)`, "'it''s' and NULL"},
		{`SELECT format('%2$s %1$s 100%%', 'a', 'b')`, "b a 100%"},
		{`SELECT format('no specifiers')`, "no specifiers"},
		{`SELECT format('[%s]', NULL)`, "[]"},
		{`SELECT format('%s=%s', customer_id, r_score) FROM rfm ORDER BY customer_id LIMIT 1`, "C0000000=" + fmt.Sprint(duckQuery(t, ts.pub.path, "SELECT r_score FROM rfm ORDER BY customer_id LIMIT 1")[0][0])},
	} {
		for _, proto := range []string{"simple", "extended"} {
			var rows [][][]byte
			if proto == "simple" {
				res, err := conn.PgConn().Exec(ctx, c.sql).ReadAll()
				if err != nil {
					t.Fatalf("%s: %v", c.sql, err)
				}
				rows = res[0].Rows
			} else {
				res := conn.PgConn().ExecParams(ctx, c.sql, nil, nil, nil, nil).Read()
				if res.Err != nil {
					t.Fatalf("%s: %v", c.sql, res.Err)
				}
				rows = res.Rows
			}
			if len(rows) != 1 || string(rows[0][0]) != c.want {
				t.Errorf("%s %s: got %q, want %q", proto, c.sql, rows, c.want)
			}
		}
	}
	for _, q := range []string{`SELECT format('%s %s', 'a')`, `SELECT format('%I', NULL)`} {
		_, err := conn.PgConn().Exec(ctx, q).ReadAll()
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != codeInvalidParameterValue {
			t.Errorf("%s: %v, want SQLSTATE %s", q, err, codeInvalidParameterValue)
		}
	}
}

// TestRegCasts: casts to and from regclass and regtype look names up and
// print names, as PostgreSQL does, for literals, columns and parameters;
// format_type() prints those names, numeric's precision and scale, and
// ??? for an unknown OID, which ::regtype::text prints as a number.
func TestRegCasts(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	conn := ts.connect(t)
	ctx := context.Background()
	for _, c := range []struct {
		sql  string
		args [][]byte
		want string
	}{
		{`SELECT 'bool'::regtype::text, 'int8'::pg_catalog.regtype::text, 23::regtype::text`, nil, "boolean|bigint|integer"},
		{`SELECT 'rfm'::regclass::text, 'main.rfm'::regclass = 'rfm'::regclass, 'pg_class'::regclass::text`, nil, "rfm|t|pg_class"},
		{`SELECT a.attrelid::regclass::text, a.atttypid::regtype::text FROM pg_catalog.pg_attribute a
			WHERE a.attrelid = 'rfm'::regclass AND a.attnum = 2`, nil, "rfm|smallint"},
		{`SELECT format('%I.%I', 'main', 'rfm')::regclass::oid = 'rfm'::regclass`, nil, "t"},
		{`SELECT $1::regtype::text`, [][]byte{[]byte("bool")}, "boolean"},
		{`SELECT $1::regclass = 'rfm'::regclass`, [][]byte{[]byte("main.rfm")}, "t"},
		{`SELECT format_type(1700, 655366), format_type(1700, -1), format_type(1007, NULL), format_type(99999, NULL),
			format_type(NULL, NULL) IS NULL, 99999::regtype::text`, nil, "numeric(10,2)|numeric|integer[]|???|t|99999"},
	} {
		res := conn.PgConn().ExecParams(ctx, c.sql, c.args, nil, nil, nil).Read()
		if res.Err != nil {
			t.Fatalf("%s: %v", c.sql, res.Err)
		}
		var got []string
		for _, v := range res.Rows[0] {
			got = append(got, string(v))
		}
		if strings.Join(got, "|") != c.want {
			t.Errorf("%s: got %v, want %s", c.sql, got, c.want)
		}
	}
}

// TestKeysAndDescriptions: each mart's key (from _version.json) is its
// primary key in the catalog, and the README's meanings of the marts and
// their columns are their comments, as psql's \d+ shows them.
func TestKeysAndDescriptions(t *testing.T) {
	if testing.Short() {
		t.Skip("runs psql, a client program; make test runs it")
	}
	ts := startServer(t)
	out, err := runPsql(t, ts, "sslmode=disable", `\d+ rfm
\dt+
SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'segment_summary'::regclass;
SELECT table_name, column_name, ordinal_position FROM information_schema.key_column_usage ORDER BY 1, 3;
`)
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	docs := readmeDocs()
	for _, want := range []string{
		`"rfm_pkey" PRIMARY KEY, btree (customer_id)`,
		docs.columns["rfm"]["r_score"],
		docs.columns["rfm"]["customer_id"],
		docs.tables["rfm"],
		"segment_summary_pkey | PRIMARY KEY (segment)",
		"rfm             | customer_id |                1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("psql output lacks %q:\n%s", want, out)
		}
	}
}
