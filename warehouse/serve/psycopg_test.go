package serve

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// debianPython is Debian's interpreter, which sees the python3-psycopg2
// package; the python3 first on PATH may be a separate build.
const debianPython = "/usr/bin/python3"

// runPythonClient runs a client program of testdata with Debian's python and
// decodes the JSON it prints into got; a failing program fails the test with
// its stderr.
func runPythonClient(t *testing.T, client, script string, got any, args ...string) {
	t.Helper()
	out, err := exec.Command(debianPython, append([]string{"testdata/" + script}, args...)...).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("%s client failed: %v\n%s", client, err, stderr)
	}
	if err := json.Unmarshal(out, got); err != nil {
		t.Fatalf("decode client output: %v\n%s", err, out)
	}
}

func TestPsycopg2Client(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a psycopg2 client program; make test runs it")
	}
	t.Parallel()
	if err := exec.Command(debianPython, "-c", "import psycopg2").Run(); err != nil {
		t.Skipf("%s cannot import psycopg2 (apt-get install python3-psycopg2): %v", debianPython, err)
	}
	ts := startServer(t)
	var got struct {
		ServerVersion       int      `json:"server_version"`
		Encoding            string   `json:"encoding"`
		Columns             []string `json:"columns"`
		TypeCodes           []uint32 `json:"type_codes"`
		Rows                [][]any  `json:"rows"`
		PythonTypes         []string `json:"python_types"`
		StatusInTransaction int      `json:"status_in_transaction"`
		UndefinedTable      string   `json:"undefined_table"`
		InFailedTransaction string   `json:"in_failed_transaction"`
		ReadOnly            string   `json:"read_only"`
		CopyCSV             string   `json:"copy_csv"`
		ShowServerVersion   string   `json:"show_server_version"`
		Identity            []string `json:"identity"`
		NamedCursor         []any    `json:"named_cursor"`
	}
	runPythonClient(t, "psycopg2", "psycopg_client.py", &got, ts.url(""))
	if got.ServerVersion != 150000 || got.Encoding != "UTF8" || got.ShowServerVersion != serverVersion {
		t.Errorf("server version %d %q, encoding %q", got.ServerVersion, got.ShowServerVersion, got.Encoding)
	}
	wantTypes := []uint32{oidVarchar, oidVarchar, oidInt8, oidNumeric, oidFloat8, oidDate, oidTimestamp, oidBool}
	if fmt.Sprint(got.TypeCodes) != fmt.Sprint(wantTypes) {
		t.Errorf("type codes %v, want %v", got.TypeCodes, wantTypes)
	}
	if strings.Join(got.PythonTypes, ",") != "Decimal,date,datetime,bool" {
		t.Errorf("Python types %v, want Decimal, date, datetime, bool", got.PythonTypes)
	}
	want := duckQuery(t, ts.pub.path, `SELECT customer_id, segment, frequency, monetary::VARCHAR, clv, strftime(first_order, '%Y-%m-%d'),
		strftime(last_order, '%Y-%m-%dT%H:%M:%S.%f'), churned
		FROM customer_value WHERE segment = 'loyal' AND frequency > 10 ORDER BY customer_id LIMIT 20`)
	if len(got.Rows) != len(want) || len(want) == 0 {
		t.Fatalf("got %d rows, want %d", len(got.Rows), len(want))
	}
	for i, w := range want {
		for j := range w {
			g := fmt.Sprint(got.Rows[i][j])
			wv := fmt.Sprint(w[j])
			if j == 6 {
				// Python drops a zero microsecond part.
				g = strings.TrimSuffix(g, ".000000")
				wv = strings.TrimSuffix(wv, ".000000")
			}
			if g != wv {
				t.Errorf("row %d %s = %s, want %s", i, got.Columns[j], g, wv)
			}
		}
	}
	if got.StatusInTransaction != 2 {
		t.Errorf("transaction status %d after a query, want 2 (in transaction)", got.StatusInTransaction)
	}
	if got.UndefinedTable != codeUndefinedTable || got.InFailedTransaction != codeInFailedTransaction || got.ReadOnly != codeReadOnlyTransaction {
		t.Errorf("SQLSTATEs %q %q %q", got.UndefinedTable, got.InFailedTransaction, got.ReadOnly)
	}
	var csv strings.Builder
	csv.WriteString("segment,customers\n")
	for _, r := range duckQuery(t, ts.pub.path, "SELECT segment, count(*) FROM customer_value GROUP BY segment ORDER BY segment") {
		fmt.Fprintf(&csv, "%v,%v\n", r[0], r[1])
	}
	if got.CopyCSV != csv.String() {
		t.Errorf("COPY output %q, want %q", got.CopyCSV, csv.String())
	}
	ids := duckQuery(t, ts.pub.path, "SELECT count(*), min(customer_id), max(customer_id) FROM customer_value")[0]
	if fmt.Sprint(got.NamedCursor) != fmt.Sprintf("[%v %v %v]", ids[0], ids[1], ids[2]) {
		t.Errorf("named cursor read %v, want %v", got.NamedCursor, ids)
	}
	if len(got.Identity) != 3 || got.Identity[0] != "custmart" || got.Identity[1] != testUser || !strings.HasPrefix(got.Identity[2], "PostgreSQL 15") {
		t.Errorf("identity %v", got.Identity)
	}
}
