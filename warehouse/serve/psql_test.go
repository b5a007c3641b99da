package serve

import (
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const psqlPath = "/usr/bin/psql"

// runPsql runs Debian's psql against the server with the given script.
func runPsql(t *testing.T, ts *testServer, conninfo string, script string) (string, error) {
	t.Helper()
	if _, err := os.Stat(psqlPath); err != nil {
		t.Skipf("psql not installed at %s (Debian package postgresql-client)", psqlPath)
	}
	host, port := ts.host()
	file := filepath.Join(t.TempDir(), "script.sql")
	if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(psqlPath, "-X", "-v", "ON_ERROR_STOP=1", "-f", file,
		fmt.Sprintf("host=%s port=%s user=%s dbname=custmart %s", host, port, testUser, conninfo))
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "PGPASSWORD="+testPassword, "PGCONNECT_TIMEOUT=30", "LC_ALL=C.UTF-8", "PAGER=", "PSQL_PAGER=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestPsqlOverTLSWithSCRAM(t *testing.T) {
	if testing.Short() {
		t.Skip("runs psql, a client program; make test runs it")
	}
	t.Parallel()
	ts := startServer(t, withTLS(t, true))
	out := filepath.Join(t.TempDir(), "top.csv")
	script := fmt.Sprintf(`\conninfo
\dt
\d customer_value
\dn
\l
\d+ segment_summary
\dt+
\du
SELECT segment, count(*) AS customers FROM customer_value GROUP BY segment ORDER BY segment;
\set FETCH_COUNT 7
SELECT customer_id AS fetched_by_cursor FROM customer_value ORDER BY customer_id LIMIT 20;
\unset FETCH_COUNT
\copy (SELECT customer_id, segment, monetary, first_order, churned FROM customer_value ORDER BY monetary DESC, customer_id LIMIT 25) TO '%s' CSV HEADER
`, out)
	output, err := runPsql(t, ts, "sslmode=require", script)
	if err != nil {
		t.Fatalf("psql failed: %v\n%s", err, output)
	}
	t.Log(output)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`SSL connection \(protocol: TLSv1\.[23]`),
		// \dt
		regexp.MustCompile(`(?m)^ main\s+\| customer_value\s+\| table \| custmart$`),
		regexp.MustCompile(`(?m)^ main\s+\| rfm\s+\| table \| custmart$`),
		regexp.MustCompile(`(?m)^ main\s+\| segment_summary\s+\| table \| custmart$`),
		// \d customer_value
		regexp.MustCompile(`Table "main\.customer_value"`),
		regexp.MustCompile(`(?m)^ customer_id\s+\| character varying\s+\|`),
		regexp.MustCompile(`(?m)^ recency_days\s+\| integer\s+\|`),
		regexp.MustCompile(`(?m)^ frequency\s+\| bigint\s+\|`),
		regexp.MustCompile(`(?m)^ monetary\s+\| numeric\(18,2\)\s+\|`),
		regexp.MustCompile(`(?m)^ clv\s+\| double precision\s+\|`),
		regexp.MustCompile(`(?m)^ first_order\s+\| date\s+\|`),
		regexp.MustCompile(`(?m)^ last_order\s+\| timestamp without time zone\s+\|`),
		regexp.MustCompile(`(?m)^ churned\s+\| boolean\s+\|`),
		// \dn and \l
		regexp.MustCompile(`(?m)^ main \| custmart$`),
		regexp.MustCompile(`(?m)^ custmart \| custmart \| UTF8`),
		// \d+ and \dt+
		regexp.MustCompile(`Table "main\.segment_summary"`),
		regexp.MustCompile(`(?m)^ main\s+\| customer_value\s+\| table \| custmart \| permanent\s+\| heap`),
		// \du
		regexp.MustCompile(`(?m)^ analyst\s+\|`),
	} {
		if !want.MatchString(output) {
			t.Errorf("psql output lacks %s", want)
		}
	}
	// The query's rows match DuckDB's.
	for _, row := range duckQuery(t, ts.pub.path, "SELECT segment, count(*) FROM customer_value GROUP BY segment ORDER BY segment") {
		line := regexp.MustCompile(fmt.Sprintf(`(?m)^ %s\s+\|\s+%d$`, row[0], row[1]))
		if !line.MatchString(output) {
			t.Errorf("query output lacks %v", row)
		}
	}
	// With FETCH_COUNT psql reads through a cursor, 7 rows at a time.
	ids := duckQuery(t, ts.pub.path, "SELECT customer_id FROM customer_value ORDER BY customer_id LIMIT 20")
	cursorOut := output[strings.Index(output, "fetched_by_cursor"):]
	for _, id := range ids {
		if !strings.Contains(cursorOut, " "+id[0].(string)+"\n") {
			t.Errorf("FETCH_COUNT output lacks %v", id[0])
		}
	}
	// \copy wrote the file on the client side, in CSV.
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := duckQuery(t, ts.pub.path, "SELECT customer_id, segment, monetary::VARCHAR, strftime(first_order, '%Y-%m-%d'), CASE WHEN churned THEN 't' ELSE 'f' END FROM customer_value ORDER BY monetary DESC, customer_id LIMIT 25")
	if len(records) != len(want)+1 || strings.Join(records[0], ",") != "customer_id,segment,monetary,first_order,churned" {
		t.Fatalf("copied %d records, header %v; want a header and %d rows", len(records), records[0], len(want))
	}
	for i, w := range want {
		for j := range w {
			if records[i+1][j] != w[j] {
				t.Errorf("row %d column %d = %q, want %q", i, j, records[i+1][j], w[j])
			}
		}
	}
}

func TestPsqlRefusedWithoutTLSAndWithWrongPassword(t *testing.T) {
	if testing.Short() {
		t.Skip("runs psql, a client program; make test runs it")
	}
	t.Parallel()
	ts := startServer(t, withTLS(t, true))
	output, err := runPsql(t, ts, "sslmode=disable", "SELECT 1;\n")
	if err == nil || !strings.Contains(output, "requires TLS") {
		t.Errorf("psql without TLS: %v\n%s", err, output)
	}
	output, err = runPsql(t, ts, "sslmode=require password=wrong", "SELECT 1;\n")
	if err == nil || !strings.Contains(output, `password authentication failed for user "analyst"`) {
		t.Errorf("psql with a wrong password: %v\n%s", err, output)
	}
}

func TestPsqlErrorsAndTransactions(t *testing.T) {
	if testing.Short() {
		t.Skip("runs psql, a client program; make test runs it")
	}
	t.Parallel()
	ts := startServer(t)
	script := `\set ON_ERROR_STOP 0
SELECT * FROM no_such_table;
BEGIN;
SELECT count(*) FROM rfm;
SELECT oops;
SELECT 1;
ROLLBACK;
SHOW TimeZone;
SET DateStyle = 'ISO, DMY';
SHOW DateStyle;
CREATE TABLE x (a int);
`
	output, err := runPsql(t, ts, "sslmode=disable", script)
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, output)
	}
	for _, want := range []string{
		`ERROR:  Table with name no_such_table does not exist!`,
		`ERROR:  current transaction is aborted, commands ignored until end of transaction block`,
		"ROLLBACK",
		" UTC",
		" ISO, DMY",
		"ERROR:  cannot execute CREATE in a read-only transaction",
	} {
		if !strings.Contains(output, want) {
			t.Errorf("psql output lacks %q:\n%s", want, output)
		}
	}
}

// TestPsqlChannelBinding: libpq binds SCRAM to the server certificate over
// TLS with channel_binding=require, and refuses to connect without TLS.
func TestPsqlChannelBinding(t *testing.T) {
	if testing.Short() {
		t.Skip("runs psql, a client program; make test runs it")
	}
	t.Parallel()
	ts := startServer(t, withTLS(t, false))
	output, err := runPsql(t, ts, "sslmode=require channel_binding=require", "\\conninfo\nSELECT count(*) AS bound_rows FROM rfm;\n")
	if err != nil {
		t.Fatalf("psql with channel_binding=require: %v\n%s", err, output)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`SSL connection \(protocol: TLSv1\.[23]`),
		regexp.MustCompile(`(?m)^\s+1000$`),
	} {
		if !want.MatchString(output) {
			t.Errorf("psql output lacks %s:\n%s", want, output)
		}
	}
	output, err = runPsql(t, ts, "sslmode=disable channel_binding=require", "SELECT 1;\n")
	if err == nil || !strings.Contains(output, "channel binding required, but SSL not in use") {
		t.Errorf("psql without TLS, channel_binding=require: %v\n%s", err, output)
	}
}
