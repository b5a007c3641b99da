package serve

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// TestPsycopg3Client: Debian's psycopg 3 reads a server-side (named) cursor,
// whose columns it learns by Describe Portal, skips rows with MOVE, and runs
// SQL PREPARE/EXECUTE and its own server-side prepared statements.
func TestPsycopg3Client(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a psycopg 3 client program; make test runs it")
	}
	t.Parallel()
	if err := exec.Command(debianPython, "-c", "import psycopg").Run(); err != nil {
		t.Fatalf("%s cannot import psycopg (.ci/run installs python3-psycopg): %v", debianPython, err)
	}
	ts := startServer(t)
	var got struct {
		NamedDescription []string `json:"named_description"`
		NamedFirst       [][]any  `json:"named_first"`
		AfterMove        []any    `json:"after_move"`
		NamedRest        int      `json:"named_rest"`
		MoveStatus       string   `json:"move_status"`
		FetchAfterMove   string   `json:"fetch_after_move"`
		Execute          []any    `json:"execute"`
		ExecuteStatus    string   `json:"execute_status"`
		Bound            []string `json:"bound"`
	}
	runPythonClient(t, "psycopg 3", "psycopg3_client.py", &got, ts.url(""))
	ordered := duckQuery(t, ts.pub.path, "SELECT customer_id, frequency FROM customer_value ORDER BY customer_id")
	if fmt.Sprint(got.NamedDescription) != "[customer_id frequency]" {
		t.Errorf("named cursor description %v", got.NamedDescription)
	}
	if fmt.Sprint(got.NamedFirst) != fmt.Sprint(ordered[:3]) || fmt.Sprint(got.AfterMove) != fmt.Sprint(ordered[5]) {
		t.Errorf("named cursor rows %v then, after MOVE 2, %v; want %v then %v", got.NamedFirst, got.AfterMove, ordered[:3], ordered[5])
	}
	if got.NamedRest != len(ordered)-6 {
		t.Errorf("named cursor read %d more rows, want %d", got.NamedRest, len(ordered)-6)
	}
	if got.MoveStatus != "MOVE 10" || got.FetchAfterMove != ordered[10][0] {
		t.Errorf("MOVE FORWARD 10: status %q, next row %q, want MOVE 10 and %v", got.MoveStatus, got.FetchAfterMove, ordered[10][0])
	}
	want := duckQuery(t, ts.pub.path, "SELECT count(*), min(customer_id) FROM customer_value WHERE segment = 'loyal' AND frequency > 10")[0]
	if fmt.Sprint(got.Execute) != fmt.Sprint(want) || got.ExecuteStatus != "SELECT 1" {
		t.Errorf("EXECUTE: %v (%q), want %v (SELECT 1)", got.Execute, got.ExecuteStatus, want)
	}
	bound := duckQuery(t, ts.pub.path, "SELECT monetary::VARCHAR FROM customer_value WHERE customer_id IN ('C0000001', 'C0000002') ORDER BY customer_id")
	if fmt.Sprint(got.Bound) != fmt.Sprint([]any{bound[0][0], bound[1][0]}) {
		t.Errorf("prepared lookups %v, want %v", got.Bound, bound)
	}
}

// TestPsycopg3BinaryCopy: psycopg 3 reads COPY ... (FORMAT BINARY) with its
// binary loaders and gets the values its text loaders read from a text COPY
// of the same query: ints, text with COPY's special characters, numerics
// (scaled, negative, wider than 64 bits), doubles with infinity, dates and
// timestamps on both sides of 2000-01-01, timestamptz, bools and NULLs; then
// uuid, bytea, interval, time and arrays.
func TestPsycopg3BinaryCopy(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a psycopg 3 client program; make test runs it")
	}
	t.Parallel()
	if err := exec.Command(debianPython, "-c", "import psycopg").Run(); err != nil {
		t.Fatalf("%s cannot import psycopg (.ci/run installs python3-psycopg): %v", debianPython, err)
	}
	ts := startServer(t)
	const rows = 200
	for _, c := range []struct {
		name, query, types string
		nullable           int // a column with some NULLs
	}{
		{"scalars", `SELECT segment || chr(9) || 'é\' || chr(10) || customer_id AS label, frequency::SMALLINT AS small,
			recency_days, frequency, monetary, (monetary - 500)::DECIMAL(18,2) AS signed,
			frequency::HUGEINT * 100000000000000000000000 AS wide,
			CASE WHEN recency_days % 50 = 0 THEN 'infinity'::DOUBLE ELSE clv END AS clv,
			first_order, first_order - 11000 AS before_2000, last_order + to_microseconds(frequency) AS last_order,
			last_order - INTERVAL 40 YEAR AS old, last_order::TIMESTAMPTZ AS at,
			churned, CASE WHEN churned THEN NULL ELSE recency_days > 100 END AS maybe
			FROM customer_value ORDER BY customer_id LIMIT 200`,
			"text,int2,int4,int8,numeric,numeric,numeric,float8,date,date,timestamp,timestamp,timestamptz,bool,bool", 14},
		{"others", `SELECT md5(customer_id)::UUID AS id, customer_id::BLOB AS raw,
			to_days(frequency) + to_microseconds(recency_days * 1000003) AS span, last_order::TIME AS at,
			[frequency, NULL, recency_days] AS numbers, [segment, customer_id] AS names,
			CASE WHEN churned THEN NULL ELSE clv::REAL END AS approx
			FROM customer_value ORDER BY customer_id LIMIT 200`,
			"uuid,bytea,interval,time,int8[],text[],float4", 6},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got struct {
				Binary      [][][2]string `json:"binary"`
				BinaryCount int           `json:"binary_rowcount"`
				Text        [][][2]string `json:"text"`
			}
			runPythonClient(t, "psycopg 3", "psycopg3_copy_client.py", &got, ts.url(""), c.query, c.types)
			if len(got.Binary) != rows || got.BinaryCount != rows || len(got.Text) != rows {
				t.Fatalf("binary COPY read %d rows (rowcount %d), text COPY %d; want %d", len(got.Binary), got.BinaryCount, len(got.Text), rows)
			}
			nulls := 0
			for i := range got.Binary {
				if fmt.Sprint(got.Binary[i]) != fmt.Sprint(got.Text[i]) {
					t.Errorf("row %d: binary %v\ntext %v", i, got.Binary[i], got.Text[i])
				}
				if got.Binary[i][c.nullable][0] == "NoneType" {
					nulls++
				}
			}
			if nulls == 0 || nulls == rows {
				t.Errorf("%d of %d rows have a NULL in column %d, want some", nulls, rows, c.nullable)
			}
			t.Logf("first row: %v", got.Binary[0])
			if c.name != "scalars" {
				return
			}
			// The values are the marts' own, not just the same wrong ones both ways.
			want := duckQuery(t, ts.pub.path, "SELECT customer_id, monetary::VARCHAR, strftime(first_order, '%Y-%m-%d') FROM customer_value ORDER BY customer_id LIMIT 1")[0]
			first := got.Binary[0]
			if !strings.HasSuffix(first[0][1], "\t"+`é\`+"\n"+want[0].(string)) || first[4] != [2]string{"Decimal", want[1].(string)} || first[8] != [2]string{"date", want[2].(string)} {
				t.Errorf("first row %v, want label ending %v, monetary %v, first_order %v", first, want[0], want[1], want[2])
			}
		})
	}
}
