package serve

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"
)

// execModes are pgx's ways to run a query: the simple protocol with text
// results, and the extended protocol with named or unnamed statements and
// binary results.
var execModes = []pgx.QueryExecMode{
	pgx.QueryExecModeSimpleProtocol,
	pgx.QueryExecModeExec,
	pgx.QueryExecModeDescribeExec,
	pgx.QueryExecModeCacheStatement,
	pgx.QueryExecModeCacheDescribe,
}

// canonical renders a value read from DuckDB or from pgx the same way, so
// results can be compared across the wire.
func canonical(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		return x
	case int8, int16, int32, int64, uint8, uint16, uint32, uint64, int:
		return fmt.Sprint(x)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case *big.Int:
		return x.String()
	case duckdb.Decimal:
		return new(big.Rat).SetFrac(x.Value, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(x.Scale)), nil)).RatString()
	case pgtype.Numeric:
		if x.NaN {
			return "NaN"
		}
		r := new(big.Rat).SetInt(x.Int)
		scale := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(x.Exp))), nil))
		if x.Exp < 0 {
			r.Quo(r, scale)
		} else {
			r.Mul(r, scale)
		}
		return r.RatString()
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case []byte:
		return hex.EncodeToString(x)
	case [16]byte:
		return hex.EncodeToString(x[:])
	case duckdb.Interval:
		return fmt.Sprintf("%dm%dd%dus", x.Months, x.Days, x.Micros)
	case pgtype.Interval:
		return fmt.Sprintf("%dm%dd%dus", x.Months, x.Days, x.Microseconds)
	case pgtype.Time:
		return fmt.Sprintf("%dus", x.Microseconds)
	case []any:
		parts := make([]string, len(x))
		for i, item := range x {
			parts[i] = canonical(item)
		}
		return "[" + strings.Join(parts, " ") + "]"
	case map[string]any:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return fmt.Sprintf("%T(%v)", v, v)
}

func abs(n int32) int32 {
	if n < 0 {
		return -n
	}
	return n
}

// canonicalTime renders DuckDB TIME values like pgtype.Time.
func canonicalTime(v any) string {
	if t, ok := v.(time.Time); ok {
		return fmt.Sprintf("%dus", microsOfDay(t))
	}
	return canonical(v)
}

func rowsOf(t *testing.T, rows pgx.Rows) [][]any {
	t.Helper()
	var out [][]any
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPGXQueriesMatchDuckDBInEveryExecMode(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	conn := ts.connect(t)
	ctx := context.Background()
	const query = `SELECT customer_id, segment, recency_days, frequency, monetary, clv, first_order, last_order, churned
		FROM customer_value WHERE frequency > $1 AND segment = $2 ORDER BY customer_id LIMIT 50`
	want := duckQuery(t, ts.pub.path, strings.ReplaceAll(strings.ReplaceAll(query, "$1", "?"), "$2", "?"), 20, "loyal")
	if len(want) == 0 {
		t.Fatal("fixture returned no rows; the test would prove nothing")
	}
	for _, mode := range execModes {
		t.Run(mode.String(), func(t *testing.T) {
			rows, err := conn.Query(ctx, query, mode, 20, "loyal")
			if err != nil {
				t.Fatal(err)
			}
			got := rowsOf(t, rows)
			if len(got) != len(want) {
				t.Fatalf("got %d rows, want %d", len(got), len(want))
			}
			for i := range want {
				for j := range want[i] {
					if g, w := canonical(got[i][j]), canonical(want[i][j]); g != w {
						t.Errorf("row %d column %d: got %s, want %s", i, j, g, w)
					}
				}
			}
		})
	}
}

// allTypesSQL builds a table with every type the server maps, including
// NULLs and edge values.
const allTypesSQL = `CREATE TABLE all_types AS SELECT * FROM (VALUES
	('text ünïcode "quoted", tab	and \ backslash', 9223372036854775807::BIGINT, 2147483647::INTEGER, 32767::SMALLINT,
	 3.141592653589793::DOUBLE, 1.5::FLOAT, 12345.67::DECIMAL(18,2), -0.000001::DECIMAL(38,6), DATE '1999-12-31',
	 TIMESTAMP '2024-02-29 13:14:15.123456', TIMESTAMPTZ '2024-06-01 12:00:00+02', true, '\xDE\xAD\xBE\xEF'::BLOB,
	 '6f9619ff-8b86-d011-b42d-00cf4fc964ff'::UUID, INTERVAL '1 year 2 months 3 days 04:05:06.789', TIME '23:59:59.999999',
	 ['a', 'b c', NULL], [1, 2, 3]::BIGINT[], 170141183460469231731687303715884105727::HUGEINT),
	('', '-9223372036854775808'::BIGINT, '-2147483648'::INTEGER, '-32768'::SMALLINT,
	 'NaN'::DOUBLE, '-Infinity'::FLOAT, -99999.99::DECIMAL(18,2), 0::DECIMAL(38,6), DATE '2000-01-01',
	 TIMESTAMP '1970-01-01 00:00:00', TIMESTAMPTZ '1999-12-31 23:59:59.5+00', false, ''::BLOB,
	 '00000000-0000-0000-0000-000000000000'::UUID, INTERVAL '-5 days', TIME '00:00:00',
	 []::VARCHAR[], []::BIGINT[], -1::HUGEINT),
	(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
) t(v_text, v_bigint, v_int, v_smallint, v_double, v_real, v_numeric, v_numeric_wide, v_date, v_timestamp,
	v_timestamptz, v_bool, v_bytea, v_uuid, v_interval, v_time, v_text_array, v_bigint_array, v_hugeint)`

// wantOIDs are the PostgreSQL types clients must see for all_types.
var wantOIDs = []uint32{oidVarchar, oidInt8, oidInt4, oidInt2, oidFloat8, oidFloat4, oidNumeric, oidNumeric, oidDate,
	oidTimestamp, oidTimestampTZ, oidBool, oidBytea, oidUUID, oidInterval, oidTime, 1015, 1016, oidNumeric}

func publishAllTypes(t *testing.T, ts *testServer) string {
	t.Helper()
	path := publishVersion(t, ts.dataDir, "v2", 10, 2)
	db, err := sql.Open("duckdb", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(allTypesSQL); err != nil {
		t.Fatal(err)
	}
	db.Close()
	ts.pub.set("v2", path)
	return path
}

func TestPGXEveryTypeRoundTripsInTextAndBinary(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	path := publishAllTypes(t, ts)
	want := duckQuery(t, path, "SELECT * FROM all_types ORDER BY v_bigint NULLS LAST")
	conn := ts.connect(t)
	ctx := context.Background()
	for _, mode := range execModes {
		t.Run(mode.String(), func(t *testing.T) {
			rows, err := conn.Query(ctx, "SELECT * FROM all_types ORDER BY v_bigint NULLS LAST", mode)
			if err != nil {
				t.Fatal(err)
			}
			fields := rows.FieldDescriptions()
			got := rowsOf(t, rows)
			for i, f := range fields {
				if f.DataTypeOID != wantOIDs[i] {
					t.Errorf("column %s: OID %d, want %d", f.Name, f.DataTypeOID, wantOIDs[i])
				}
			}
			if len(got) != len(want) {
				t.Fatalf("got %d rows, want %d", len(got), len(want))
			}
			for i := range want {
				for j := range want[i] {
					g, w := canonical(got[i][j]), canonical(want[i][j])
					if fields[j].Name == "v_time" {
						w = canonicalTime(want[i][j])
					}
					if g != w {
						t.Errorf("row %d %s: got %s, want %s", i, fields[j].Name, g, w)
					}
				}
			}
		})
	}
}

func TestBinaryResultsUseBinaryFormat(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	publishAllTypes(t, ts)
	conn := ts.connect(t)
	// Ask for binary explicitly, as drivers do for the types they know.
	res := conn.PgConn().ExecParams(context.Background(), "SELECT v_bigint, v_numeric, v_date, v_timestamp FROM all_types WHERE v_bigint = $1",
		[][]byte{[]byte("9223372036854775807")}, nil, nil, []int16{1}).Read()
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	for _, f := range res.FieldDescriptions {
		if f.Format != 1 {
			t.Errorf("column %s has format %d, want binary", f.Name, f.Format)
		}
	}
	if len(res.Rows) != 1 {
		t.Fatalf("got %d rows, want 1", len(res.Rows))
	}
	row := res.Rows[0]
	if len(row[0]) != 8 || int64(binaryBigEndian(row[0])) != math.MaxInt64 {
		t.Errorf("bigint binary = %x, want 8 bytes of MaxInt64", row[0])
	}
	var num pgtype.Numeric
	if err := pgtype.NewMap().Scan(oidNumeric, 1, row[1], &num); err != nil {
		t.Fatal(err)
	}
	if got := canonical(num); got != "1234567/100" {
		t.Errorf("numeric = %s, want 12345.67", got)
	}
	var date time.Time
	if err := pgtype.NewMap().Scan(oidDate, 1, row[2], &date); err != nil {
		t.Fatal(err)
	}
	if !date.Equal(time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("date = %v, want 1999-12-31", date)
	}
}

func binaryBigEndian(b []byte) uint64 {
	var n uint64
	for _, c := range b {
		n = n<<8 | uint64(c)
	}
	return n
}

func TestPGXParametersOfEveryType(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	publishAllTypes(t, ts)
	conn := ts.connect(t)
	ctx := context.Background()
	ts1 := time.Date(2024, 2, 29, 13, 14, 15, 123456000, time.UTC)
	cases := []struct {
		where string
		arg   any
	}{
		{"v_text = $1", `text ünïcode "quoted", tab	and \ backslash`},
		{"v_bigint = $1", int64(math.MaxInt64)},
		{"v_int = $1", int32(math.MaxInt32)},
		{"v_smallint = $1", int16(math.MaxInt16)},
		{"v_double = $1", 3.141592653589793},
		{"v_numeric = $1", pgtype.Numeric{Int: big.NewInt(1234567), Exp: -2, Valid: true}},
		{"v_date = $1", time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC)},
		{"v_timestamp = $1", ts1},
		{"v_timestamptz = $1", time.Date(2024, 6, 1, 10, 0, 0, 0, time.UTC)},
		{"v_bool = $1", true},
		{"v_bytea = $1::bytea", []byte{0xde, 0xad, 0xbe, 0xef}},
		{"v_uuid = $1", pgtype.UUID{Bytes: [16]byte{0x6f, 0x96, 0x19, 0xff, 0x8b, 0x86, 0xd0, 0x11, 0xb4, 0x2d, 0x00, 0xcf, 0x4f, 0xc9, 0x64, 0xff}, Valid: true}},
	}
	for _, mode := range execModes {
		for _, c := range cases {
			t.Run(mode.String()+"/"+c.where, func(t *testing.T) {
				var n int64
				if err := conn.QueryRow(ctx, "SELECT count(*) FROM all_types WHERE "+c.where, mode, c.arg).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n != 1 {
					t.Errorf("matched %d rows, want 1", n)
				}
			})
		}
	}
}

func TestPGXPreparedStatements(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	conn := ts.connect(t)
	ctx := context.Background()
	sd, err := conn.Prepare(ctx, "by_segment", "SELECT count(*), sum(monetary) FROM customer_value WHERE segment = $1")
	if err != nil {
		t.Fatal(err)
	}
	if len(sd.ParamOIDs) != 1 || sd.ParamOIDs[0] != oidVarchar {
		t.Errorf("parameter OIDs = %v, want [%d]", sd.ParamOIDs, oidVarchar)
	}
	if len(sd.Fields) != 2 || sd.Fields[0].DataTypeOID != oidInt8 || sd.Fields[1].DataTypeOID != oidNumeric {
		t.Errorf("fields = %+v, want bigint and numeric", sd.Fields)
	}
	for _, segment := range []string{"champions", "loyal", "at_risk", "no such segment"} {
		want := duckQuery(t, ts.pub.path, "SELECT count(*), sum(monetary) FROM customer_value WHERE segment = ?", segment)[0]
		var n int64
		var sum pgtype.Numeric
		if err := conn.QueryRow(ctx, "by_segment", segment).Scan(&n, &sum); err != nil {
			t.Fatal(err)
		}
		if canonical(n) != canonical(want[0]) || sum.Valid != (want[1] != nil) || sum.Valid && canonical(sum) != canonical(want[1]) {
			t.Errorf("%s: got %d %s, want %v %v", segment, n, canonical(sum), want[0], canonical(want[1]))
		}
	}
	if err := conn.Deallocate(ctx, "by_segment"); err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, "by_segment", "loyal")
	if err == nil {
		t.Error("executing a deallocated statement succeeded")
	}
	// Statements with untyped parameters get text parameters, as in PostgreSQL.
	var echo string
	if err := conn.QueryRow(ctx, "SELECT $1", "hello").Scan(&echo); err != nil || echo != "hello" {
		t.Errorf("SELECT $1 = %q, %v", echo, err)
	}
}

func TestPGXSuspendedPortalsAndPipelines(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	conn := ts.connect(t)
	ctx := context.Background()
	pg := conn.PgConn()
	// An Execute with a row limit suspends the portal; the next one resumes it.
	if _, err := pg.Prepare(ctx, "ids", "SELECT customer_id FROM customer_value ORDER BY customer_id LIMIT 7", nil); err != nil {
		t.Fatal(err)
	}
	want := duckQuery(t, ts.pub.path, "SELECT customer_id FROM customer_value ORDER BY customer_id LIMIT 7")
	batch := &pgconn.Batch{}
	batch.ExecPrepared("ids", nil, nil, nil)
	results, err := pg.ExecBatch(ctx, batch).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || len(results[0].Rows) != len(want) {
		t.Fatalf("batch returned %+v", results)
	}
	for i, row := range results[0].Rows {
		if string(row[0]) != want[i][0] {
			t.Errorf("row %d = %s, want %v", i, row[0], want[i][0])
		}
	}
	// A pipeline of several statements in one round trip, one of them failing:
	// everything after the error up to Sync is skipped.
	conn = connectWith(t, ts.url("default_query_exec_mode=exec"))
	b := &pgx.Batch{}
	b.Queue("SELECT 1")
	b.Queue("SELECT * FROM no_such_table")
	b.Queue("SELECT 3")
	br := conn.SendBatch(ctx, b)
	var one int
	if err := br.QueryRow().Scan(&one); err != nil || one != 1 {
		t.Fatalf("first statement: %d, %v", one, err)
	}
	_, err = br.Exec()
	assertCode(t, err, codeUndefinedTable)
	_, err = br.Exec()
	if err == nil {
		t.Error("the statement after the error ran; want it skipped until Sync")
	}
	br.Close()
	var n int
	if err := conn.QueryRow(ctx, "SELECT 42").Scan(&n); err != nil || n != 42 {
		t.Errorf("after the failed pipeline: %d, %v", n, err)
	}
}

// TestMaxRowsSuspendsPortal drives Execute with a row limit directly.
func TestMaxRowsSuspendsPortal(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	conn := ts.connect(t)
	ctx := context.Background()
	pg := conn.PgConn()
	want := duckQuery(t, ts.pub.path, "SELECT customer_id FROM customer_value ORDER BY customer_id LIMIT 5")
	// The cursor lives in a transaction, as JDBC's fetch size does it.
	if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	fe := pg.Frontend()
	fe.SendParse(&pgproto3.Parse{Name: "", Query: "SELECT customer_id FROM customer_value ORDER BY customer_id LIMIT 5"})
	fe.SendBind(&pgproto3.Bind{})
	fe.SendExecute(&pgproto3.Execute{MaxRows: 2})
	fe.SendExecute(&pgproto3.Execute{MaxRows: 2})
	fe.SendExecute(&pgproto3.Execute{MaxRows: 2})
	fe.SendSync(&pgproto3.Sync{})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	var got []string
	suspended := 0
	for {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatal(err)
		}
		switch m := msg.(type) {
		case *pgproto3.DataRow:
			got = append(got, string(m.Values[0]))
		case *pgproto3.PortalSuspended:
			suspended++
		case *pgproto3.ErrorResponse:
			t.Fatalf("error: %s", m.Message)
		}
		if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
			break
		}
	}
	if suspended != 2 {
		t.Errorf("portal suspended %d times, want 2", suspended)
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i][0] {
			t.Errorf("row %d = %s, want %v", i, got[i], want[i][0])
		}
	}
	if _, err := conn.Exec(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
}

// protocols run a statement with the simple or the extended query protocol.
var protocols = []struct {
	name string
	exec func(context.Context, *pgx.Conn, string) error
}{
	{"simple", execSimple},
	{"extended", execExtended},
}

func execSimple(ctx context.Context, conn *pgx.Conn, query string) error {
	_, err := conn.PgConn().Exec(ctx, query).ReadAll()
	return err
}

func execExtended(ctx context.Context, conn *pgx.Conn, query string) error {
	return conn.PgConn().ExecParams(ctx, query, nil, nil, nil, nil).Read().Err
}

func assertCode(t *testing.T, err error, code string) {
	t.Helper()
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		t.Fatalf("got error %v, want SQLSTATE %s", err, code)
	}
	if pe.Code != code {
		t.Fatalf("got SQLSTATE %s (%s), want %s", pe.Code, pe.Message, code)
	}
}

func TestErrorsCarrySQLSTATE(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	conn := ts.connect(t)
	ctx := context.Background()
	cases := []struct {
		query string
		code  string
	}{
		{"SELEC 1", codeSyntaxError},
		{"SELECT * FROM no_such_table", codeUndefinedTable},
		{"SELECT no_such_column FROM customer_value", codeUndefinedColumn},
		{"SELECT no_such_function(1)", codeUndefinedFunction},
		{"SELECT 1/0::INTEGER + 'x'::INTEGER", codeInvalidTextRepr},
		{"INSERT INTO customer_value (customer_id) VALUES ('x')", codeReadOnlyTransaction},
		{"SET no_such_parameter = 1", codeUndefinedObject},
		{"SELECT current_setting('no_such_parameter')", codeUndefinedObject},
		{"ATTACH '/tmp/x.duckdb' AS x", codeInsufficientPrivilege},
	}
	for _, proto := range protocols {
		for _, c := range cases {
			t.Run(proto.name+"/"+c.query, func(t *testing.T) {
				assertCode(t, proto.exec(ctx, conn, c.query), c.code)
				var n int
				if err := conn.QueryRow(ctx, "SELECT 1").Scan(&n); err != nil {
					t.Fatalf("connection unusable after the error: %v", err)
				}
			})
		}
	}
}

func TestTransactionStatus(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	conn := ts.connect(t)
	ctx := context.Background()
	pg := conn.PgConn()
	if pg.TxStatus() != 'I' {
		t.Fatalf("status %c before BEGIN, want I", pg.TxStatus())
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pg.TxStatus() != 'T' {
		t.Errorf("status %c after BEGIN, want T", pg.TxStatus())
	}
	_, err = tx.Exec(ctx, "SELECT * FROM no_such_table")
	assertCode(t, err, codeUndefinedTable)
	if pg.TxStatus() != 'E' {
		t.Errorf("status %c after an error, want E", pg.TxStatus())
	}
	_, err = tx.Exec(ctx, "SELECT 1")
	assertCode(t, err, codeInFailedTransaction)
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if pg.TxStatus() != 'I' {
		t.Errorf("status %c after ROLLBACK, want I", pg.TxStatus())
	}
	// SET inside a rolled-back transaction is undone, as in PostgreSQL.
	tx, err = conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SET application_name = 'inside'"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	var name string
	if err := conn.QueryRow(ctx, "SHOW application_name").Scan(&name); err != nil || name == "inside" {
		t.Errorf("application_name after ROLLBACK = %q, %v; want the SET undone", name, err)
	}
}

func TestSessionParametersAndFunctions(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	conn := ts.connect(t)
	ctx := context.Background()
	pg := conn.PgConn()
	for name, want := range map[string]string{
		"server_version": serverVersion, "server_encoding": "UTF8", "client_encoding": "UTF8",
		"DateStyle": "ISO, MDY", "TimeZone": "UTC", "integer_datetimes": "on", "standard_conforming_strings": "on",
	} {
		if got := pg.ParameterStatus(name); got != want {
			t.Errorf("ParameterStatus %s = %q, want %q", name, got, want)
		}
	}
	if _, err := conn.Exec(ctx, "SET application_name TO 'dashboard'"); err != nil {
		t.Fatal(err)
	}
	if got := pg.ParameterStatus("application_name"); got != "dashboard" {
		t.Errorf("application_name reported as %q after SET, want dashboard", got)
	}
	if _, err := conn.Exec(ctx, "SET TIME ZONE 'Europe/Paris'"); err != nil {
		t.Fatal(err)
	}
	checks := []struct{ query, want string }{
		{"SHOW application_name", "dashboard"},
		{"SHOW timezone", "Europe/Paris"},
		{"SELECT current_setting('application_name')", "dashboard"},
		{"SELECT current_setting('server_version_num')", serverVersionNum},
		{"SELECT current_database()", "custmart"},
		{"SELECT current_schema()", "main"},
		{"SELECT current_user", testUser},
		{"SELECT TIMESTAMPTZ '2024-06-01 12:00:00+00'::VARCHAR IS NOT NULL", "true"},
	}
	for _, c := range checks {
		var got any
		if err := conn.QueryRow(ctx, c.query, pgx.QueryExecModeSimpleProtocol).Scan(&got); err != nil {
			t.Errorf("%s: %v", c.query, err)
			continue
		}
		if canonical(got) != c.want {
			t.Errorf("%s = %v, want %s", c.query, got, c.want)
		}
	}
	var version string
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&version); err != nil || !strings.HasPrefix(version, "PostgreSQL 15.0") {
		t.Errorf("version() = %q, %v", version, err)
	}
	// timestamptz text follows the session's TimeZone.
	var text string
	if err := conn.QueryRow(ctx, "SELECT TIMESTAMPTZ '2024-06-01 12:00:00+00'", pgx.QueryExecModeSimpleProtocol).Scan(&text); err != nil {
		t.Fatal(err)
	}
	if text != "2024-06-01 14:00:00+02" {
		t.Errorf("timestamptz in Europe/Paris = %q, want 2024-06-01 14:00:00+02", text)
	}
}

func TestCancelRequest(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	conn := ts.connect(t)
	ctx := context.Background()
	errc := make(chan error, 1)
	go func() {
		_, err := conn.Exec(ctx, slowQuery)
		errc <- err
	}()
	// Cancel until the query ends: a cancel sent before the query started
	// does nothing, as in PostgreSQL.
	var err error
	for done := false; !done; {
		if cerr := conn.PgConn().CancelRequest(ctx); cerr != nil {
			t.Fatal(cerr)
		}
		select {
		case err = <-errc:
			done = true
		case <-time.After(100 * time.Millisecond):
		}
	}
	assertCode(t, err, codeQueryCanceled)
	var pe *pgconn.PgError
	errors.As(err, &pe)
	if !strings.Contains(pe.Message, "user request") {
		t.Errorf("message %q, want it to say the user canceled", pe.Message)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT 7").Scan(&n); err != nil || n != 7 {
		t.Errorf("after cancel: %d, %v", n, err)
	}
}

// slowQuery runs for minutes unless canceled.
const slowQuery = "SELECT sum(hash(a.range * b.range)) FROM range(200000) a, range(200000) b"

func TestStatementTimeout(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(o *Options) { o.StatementTimeout = 300 * time.Millisecond })
	conn := ts.connect(t)
	ctx := context.Background()
	_, err := conn.Exec(ctx, slowQuery)
	assertCode(t, err, codeQueryCanceled)
	var pe *pgconn.PgError
	errors.As(err, &pe)
	if !strings.Contains(pe.Message, "statement timeout") {
		t.Errorf("message %q, want it to name the statement timeout", pe.Message)
	}
	// Fast statements are not affected, and the connection stays usable.
	var n int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM customer_value").Scan(&n); err != nil || n != 1000 {
		t.Errorf("after the timeout: %d, %v", n, err)
	}
}

func TestSessionStatementTimeout(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	conn := ts.connect(t)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, "SET statement_timeout = '200ms'"); err != nil {
		t.Fatal(err)
	}
	_, err := conn.Exec(ctx, slowQuery)
	assertCode(t, err, codeQueryCanceled)
}

func TestMaxConnections(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(o *Options) { o.MaxConnections = 2 })
	ctx := context.Background()
	first := ts.connect(t)
	ts.connect(t)
	_, err := pgx.Connect(ctx, ts.url(""))
	assertCode(t, err, codeTooManyConnections)
	first.Close(ctx)
	// The slot frees once the server has seen the first client leave.
	deadline := time.Now().Add(20 * time.Second)
	for {
		conn, err := pgx.Connect(ctx, ts.url(""))
		if err == nil {
			conn.Close(ctx)
			break
		}
		assertCode(t, err, codeTooManyConnections)
		if time.Now().After(deadline) {
			t.Fatal("the connection slot never freed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestUnauthenticatedConnectionsHoldNoSlots: connections that send a startup
// packet and never answer SCRAM take none of max_connections, and have a
// budget of their own.
func TestUnauthenticatedConnectionsHoldNoSlots(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(o *Options) { o.MaxConnections = 2 })
	halfAuthenticate := func() (*pgproto3.Frontend, net.Conn) {
		conn, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		fe := pgproto3.NewFrontend(conn, conn)
		fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30,
			Parameters: map[string]string{"user": testUser, "database": catalogName}})
		if err := fe.Flush(); err != nil {
			t.Fatal(err)
		}
		return fe, conn
	}
	challenged := func() {
		fe, _ := halfAuthenticate()
		if msg, err := fe.Receive(); err != nil {
			t.Fatal(err)
		} else if _, ok := msg.(*pgproto3.AuthenticationSASL); !ok {
			t.Fatalf("got %T, want the SCRAM challenge", msg)
		}
	}
	for range maxUnauthenticated - 2 {
		challenged()
	}
	for range 2 {
		conn := ts.connect(t)
		var n int
		if err := conn.QueryRow(context.Background(), "SELECT 1").Scan(&n); err != nil || n != 1 {
			t.Fatalf("authenticated client beside %d unauthenticated ones: %d, %v", maxUnauthenticated-2, n, err)
		}
	}
	// The budget of unauthenticated connections is full with two more.
	challenged()
	challenged()
	fe, _ := halfAuthenticate()
	msg, err := fe.Receive()
	if e, ok := msg.(*pgproto3.ErrorResponse); err != nil || !ok || e.Code != codeTooManyConnections {
		t.Errorf("connection past the budget of unauthenticated ones: %#v, %v; want SQLSTATE %s", msg, err, codeTooManyConnections)
	}
}

func TestMartsTablesAreInTheDefaultSchema(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	conn := ts.connect(t)
	rows, err := conn.Query(context.Background(),
		"SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rowsOf(t, rows) {
		names = append(names, r[0].(string))
	}
	if strings.Join(names, ",") != "customer_value,rfm,segment_summary" {
		t.Errorf("tables = %v", names)
	}
}

func TestMemoryLimit(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(o *Options) { o.MemoryLimit = "64MB" })
	conn := ts.connect(t)
	ctx := context.Background()
	var limit string
	if err := conn.QueryRow(ctx, "SELECT value FROM duckdb_settings() WHERE name = 'memory_limit'").Scan(&limit); err != nil {
		t.Fatal(err)
	}
	if limit != "61.0 MiB" {
		t.Errorf("engine memory_limit = %q, want 64MB (61.0 MiB)", limit)
	}
	// A query that needs more memory fails alone; the server and the
	// connection carry on.
	_, err := conn.Exec(ctx, "SELECT count(DISTINCT s) FROM (SELECT range::VARCHAR || repeat('x', 40) AS s FROM range(5000000))")
	assertCode(t, err, codeOutOfMemory)
	var n int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM customer_value").Scan(&n); err != nil || n != 1000 {
		t.Errorf("after the out-of-memory query: %d, %v", n, err)
	}
}

func TestCursors(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	conn := ts.connect(t)
	ctx := context.Background()
	want := duckQuery(t, ts.pub.path, "SELECT customer_id FROM customer_value ORDER BY customer_id LIMIT 10")
	fetch := func(q string) []string {
		t.Helper()
		rows, err := conn.Query(ctx, q, pgx.QueryExecModeSimpleProtocol)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range rowsOf(t, rows) {
			ids = append(ids, r[0].(string))
		}
		return ids
	}
	// A cursor outside a transaction needs WITH HOLD.
	assertCode(t, execSimple(ctx, conn, "DECLARE c CURSOR FOR SELECT 1"), codeNoActiveTransaction)
	if err := execSimple(ctx, conn, "DECLARE c CURSOR WITH HOLD FOR SELECT customer_id FROM customer_value ORDER BY customer_id LIMIT 10"); err != nil {
		t.Fatal(err)
	}
	got := fetch("FETCH 3 FROM c")
	got = append(got, fetch("FETCH FORWARD 4 IN c")...)
	got = append(got, fetch("FETCH NEXT FROM c")...)
	got = append(got, fetch("FETCH ALL FROM c")...)
	if rest := fetch("FETCH 5 FROM c"); len(rest) != 0 {
		t.Errorf("fetch after the end returned %v", rest)
	}
	if len(got) != len(want) {
		t.Fatalf("fetched %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i][0] {
			t.Errorf("row %d = %s, want %v", i, got[i], want[i][0])
		}
	}
	assertCode(t, execSimple(ctx, conn, "FETCH BACKWARD 1 FROM c"), codeFeatureNotSupported)
	// Through the extended protocol the FETCH's Bind chooses the result
	// formats: pgx asks for binary int8 and text, and must get them.
	if err := execSimple(ctx, conn, "DECLARE n CURSOR WITH HOLD FOR SELECT i::BIGINT AS i, 'row ' || i AS label FROM range(5) t(i)"); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeDescribeExec} {
		var n int64
		var label string
		if err := conn.QueryRow(ctx, "FETCH 1 FROM n", mode).Scan(&n, &label); err != nil {
			t.Fatalf("%v: %v", mode, err)
		}
		if want := map[pgx.QueryExecMode]int64{pgx.QueryExecModeCacheStatement: 0, pgx.QueryExecModeDescribeExec: 1}[mode]; n != want || label != fmt.Sprintf("row %d", want) {
			t.Errorf("%v: fetched %d %q, want %d %q", mode, n, label, want, fmt.Sprintf("row %d", want))
		}
	}
	if err := execSimple(ctx, conn, "CLOSE n"); err != nil {
		t.Fatal(err)
	}
	if err := execSimple(ctx, conn, "CLOSE c"); err != nil {
		t.Fatal(err)
	}
	assertCode(t, execSimple(ctx, conn, "FETCH 1 FROM c"), codeInvalidCursorName)
	// A cursor in a transaction closes with it.
	if err := execSimple(ctx, conn, "BEGIN; DECLARE d CURSOR FOR SELECT 1; COMMIT"); err != nil {
		t.Fatal(err)
	}
	assertCode(t, execSimple(ctx, conn, "FETCH 1 FROM d"), codeInvalidCursorName)
	assertCode(t, execSimple(ctx, conn, "BEGIN; DECLARE w CURSOR FOR DELETE FROM rfm"), codeReadOnlyTransaction)
	execSimple(ctx, conn, "ROLLBACK")
}

// TestExtendedProtocolMessages drives Parse, Bind, Describe, Execute, Close,
// Flush and Sync directly, including errors and the skip to Sync after one.
func TestExtendedProtocolMessages(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	conn := ts.connect(t)
	fe := conn.PgConn().Frontend()
	// exchange sends the messages and reads the answers up to the first
	// ReadyForQuery, or until n answers when n > 0 (after a Flush).
	exchange := func(n int, msgs ...pgproto3.FrontendMessage) []pgproto3.BackendMessage {
		t.Helper()
		for _, m := range msgs {
			fe.Send(m)
		}
		if err := fe.Flush(); err != nil {
			t.Fatal(err)
		}
		var got []pgproto3.BackendMessage
		for {
			msg, err := fe.Receive()
			if err != nil {
				t.Fatal(err)
			}
			// Receive reuses its message values; keep what the test reads.
			switch m := msg.(type) {
			case *pgproto3.ErrorResponse:
				c := *m
				msg = &c
			case *pgproto3.DataRow:
				msg = &pgproto3.DataRow{Values: [][]byte{append([]byte(nil), m.Values[0]...)}}
			case *pgproto3.ParameterDescription:
				msg = &pgproto3.ParameterDescription{ParameterOIDs: append([]uint32(nil), m.ParameterOIDs...)}
			case *pgproto3.CommandComplete:
				msg = &pgproto3.CommandComplete{CommandTag: append([]byte(nil), m.CommandTag...)}
			}
			got = append(got, msg)
			if _, ok := msg.(*pgproto3.ReadyForQuery); ok || n > 0 && len(got) == n {
				return got
			}
		}
	}
	kinds := func(msgs []pgproto3.BackendMessage) string {
		var names []string
		for _, m := range msgs {
			name := fmt.Sprintf("%T", m)
			if e, ok := m.(*pgproto3.ErrorResponse); ok {
				name += "(" + e.Code + ")"
			}
			names = append(names, strings.TrimPrefix(name, "*pgproto3."))
		}
		return strings.Join(names, " ")
	}

	got := exchange(0, &pgproto3.Parse{Name: "s1", Query: "SELECT $1::INTEGER + 1 AS next"},
		&pgproto3.Describe{ObjectType: 'S', Name: "s1"}, &pgproto3.Sync{})
	if k := kinds(got); k != "ParseComplete ParameterDescription RowDescription ReadyForQuery" {
		t.Fatalf("parse and describe: %s", k)
	}
	if oids := got[1].(*pgproto3.ParameterDescription).ParameterOIDs; len(oids) != 1 || oids[0] != oidInt4 {
		t.Errorf("parameter OIDs %v, want [int4]", oids)
	}

	got = exchange(0, &pgproto3.Parse{Name: "s1", Query: "SELECT 1"},
		&pgproto3.Bind{PreparedStatement: "s1", Parameters: [][]byte{[]byte("1")}},
		&pgproto3.Execute{}, &pgproto3.Sync{})
	if k := kinds(got); k != "ErrorResponse(42P05) ReadyForQuery" {
		t.Errorf("duplicate statement: %s; want the error, then nothing until Sync", k)
	}

	got = exchange(0, &pgproto3.Bind{PreparedStatement: "s1", ParameterFormatCodes: []int16{1}, Parameters: [][]byte{{0, 1}}},
		&pgproto3.Sync{})
	if k := kinds(got); k != "ErrorResponse(22P03) ReadyForQuery" {
		t.Errorf("bad binary parameter: %s", k)
	}
	got = exchange(0, &pgproto3.Bind{PreparedStatement: "s1"}, &pgproto3.Sync{})
	if k := kinds(got); k != "ErrorResponse(08P01) ReadyForQuery" {
		t.Errorf("missing parameter: %s", k)
	}

	// Flush delivers answers without ending the implicit transaction.
	got = exchange(5, &pgproto3.Bind{DestinationPortal: "p1", PreparedStatement: "s1", Parameters: [][]byte{[]byte("41")}},
		&pgproto3.Execute{Portal: "p1"}, &pgproto3.Close{ObjectType: 'P', Name: "p1"},
		&pgproto3.Close{ObjectType: 'S', Name: "s1"}, &pgproto3.Flush{})
	if k := kinds(got); k != "BindComplete DataRow CommandComplete CloseComplete CloseComplete" {
		t.Errorf("bind, execute, close: %s", k)
	} else if v := string(got[1].(*pgproto3.DataRow).Values[0]); v != "42" {
		t.Errorf("result %q, want 42", v)
	}
	got = exchange(0, &pgproto3.Sync{})
	if k := kinds(got); k != "ReadyForQuery" {
		t.Errorf("sync: %s", k)
	}

	got = exchange(0, &pgproto3.Execute{Portal: "nope"}, &pgproto3.Sync{})
	if k := kinds(got); k != "ErrorResponse(34000) ReadyForQuery" {
		t.Errorf("unknown portal: %s", k)
	}
	got = exchange(0, &pgproto3.Parse{Query: ""}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{})
	if k := kinds(got); k != "ParseComplete BindComplete EmptyQueryResponse ReadyForQuery" {
		t.Errorf("empty query: %s", k)
	}
}

// TestCastParameterTypes: a parameter cast to a type is described with that
// type, so pgx's default mode encodes its argument: $2::bigint is int8.
func TestCastParameterTypes(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	conn := ts.connect(t)
	ctx := context.Background()
	sd, err := conn.Prepare(ctx, "", "SELECT $1::double precision * $2::bigint, CAST($3 AS integer) + 1, $4::date")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(sd.ParamOIDs); got != fmt.Sprint([]uint32{oidFloat8, oidInt8, oidInt4, oidDate}) {
		t.Errorf("parameter types %s", got)
	}
	var product float64
	var next int32
	var day time.Time
	if err := conn.QueryRow(ctx, "SELECT $1::double precision * $2::bigint, CAST($3 AS integer) + 1, $4::date",
		1.5, int64(4), int32(41), time.Date(2025, 6, 30, 0, 0, 0, 0, time.UTC)).Scan(&product, &next, &day); err != nil {
		t.Fatal(err)
	}
	if product != 6 || next != 42 || day.Format(time.DateOnly) != "2025-06-30" {
		t.Errorf("got %v %v %v", product, next, day)
	}
}

// TestArrayParameterLength: a bigint[] parameter from pgx is described as
// int8[] (1016) and bound in text and binary, in every exec mode and with
// either cast spelling; array_length answers as PostgreSQL's (an integer,
// NULL for an empty array or another dimension), len as DuckDB's.
func TestArrayParameterLength(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	conn := ts.connect(t)
	ctx := context.Background()
	sd, err := conn.Prepare(ctx, "", "SELECT array_length($1::bigint[], 1)")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(sd.ParamOIDs) != "[1016]" || sd.Fields[0].DataTypeOID != oidInt4 {
		t.Errorf("parameters %v, result type %d; want [1016] and int4", sd.ParamOIDs, sd.Fields[0].DataTypeOID)
	}
	three, none := []int64{7, 8, 9}, []int64{}
	for _, c := range []struct {
		sql  string
		arg  []int64
		want string
	}{
		{"SELECT len($1::bigint[])", three, "3"},
		{"SELECT len($1::bigint[])", none, "0"},
		{"SELECT array_length($1::bigint[], 1)", three, "3"},
		{"SELECT array_length(CAST($1 AS bigint[]), 1)", three, "3"},
		{"SELECT array_length($1::int8[], 1)", none, "<nil>"},
		{"SELECT array_length($1::bigint[], 2)", three, "<nil>"},
	} {
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeDescribeExec,
			pgx.QueryExecModeExec, pgx.QueryExecModeSimpleProtocol} {
			var n *int64
			if err := conn.QueryRow(ctx, c.sql, mode, c.arg).Scan(&n); err != nil {
				t.Errorf("%s %v: %v", c.sql, mode, err)
				continue
			}
			got := "<nil>"
			if n != nil {
				got = fmt.Sprint(*n)
			}
			if got != c.want {
				t.Errorf("%s %v %v: got %s, want %s", c.sql, mode, c.arg, got, c.want)
			}
		}
	}
	// The same parameter as the wire carries it, text and binary: ndim 1,
	// no NULLs, element int8, 2 elements from 1, then each (length, value).
	binary := []byte{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 2, 0, 0, 0, 1,
		0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 8}
	for _, p := range []struct {
		value  []byte
		format int16
	}{{[]byte("{7,8}"), pgx.TextFormatCode}, {binary, pgx.BinaryFormatCode}} {
		for _, q := range []string{"SELECT len($1::bigint[])", "SELECT array_length($1::bigint[], 1)"} {
			res := conn.PgConn().ExecParams(ctx, q, [][]byte{p.value}, []uint32{1016}, []int16{p.format}, nil).Read()
			if res.Err != nil || len(res.Rows) != 1 || string(res.Rows[0][0]) != "2" {
				t.Errorf("%s, format %d: %q %v", q, p.format, res.Rows, res.Err)
			}
		}
	}
}

// TestCopyBinaryLayout checks COPY ... (FORMAT binary) byte for byte as
// PostgreSQL writes it: the 19-byte header, tuples of a field count and
// length-prefixed values (-1 for NULL), and the trailer -1.
func TestCopyBinaryLayout(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	conn := ts.connect(t)
	const header = "5047434f50590aff0d0a00" + "00000000" + "00000000"
	for _, c := range []struct {
		query, tag, want string
	}{
		{"SELECT 7::INTEGER AS n, NULL::VARCHAR AS s, 'ab' AS t", "COPY 1",
			header + "0003" + "0000000400000007" + "ffffffff" + "000000026162" + "ffff"},
		{"SELECT 1::INTEGER AS n WHERE false", "COPY 0", header + "ffff"},
	} {
		var out strings.Builder
		tag, err := conn.PgConn().CopyTo(context.Background(), &out, "COPY ("+c.query+") TO STDOUT (FORMAT binary)")
		if err != nil {
			t.Fatalf("%s: %v", c.query, err)
		}
		if got := hex.EncodeToString([]byte(out.String())); got != c.want || tag.String() != c.tag {
			t.Errorf("%s: %s %s\nwant %s %s", c.query, tag, got, c.tag, c.want)
		}
	}
}
