package serve

import (
	"fmt"
	"os/exec"
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
