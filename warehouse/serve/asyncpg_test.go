package serve

import (
	"fmt"
	"os/exec"
	"testing"
)

// TestAsyncpgClient: Debian's asyncpg (binary results, its own type
// introspection, binary parameters) connects, reads arrays both ways, runs a
// prepared statement and a mart query.
func TestAsyncpgClient(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an asyncpg client program; make test runs it")
	}
	t.Parallel()
	if err := exec.Command(debianPython, "-c", "import asyncpg").Run(); err != nil {
		t.Fatalf("%s cannot import asyncpg (.ci/run installs python3-asyncpg): %v", debianPython, err)
	}
	ts := startServer(t)
	host, port := ts.host()
	var got struct {
		ServerVersion  []int     `json:"server_version"`
		Select         int       `json:"select"`
		IntArray       []int     `json:"int_array"`
		LiteralArray   []int     `json:"literal_array"`
		TextArray      []*string `json:"text_array"`
		ArrayParam     int       `json:"array_param"`
		TextArrayParam int       `json:"text_array_param"`
		ParamTypes     []string  `json:"param_types"`
		Prepared       [][]any   `json:"prepared"`
		Mart           [][]any   `json:"mart"`
	}
	runPythonClient(t, "asyncpg", "asyncpg_client.py", &got, host, port, testUser, testPassword)
	if fmt.Sprint(got.ServerVersion) != "[15 0]" || got.Select != 42 {
		t.Errorf("server version %v, SELECT 40 + 2 = %d", got.ServerVersion, got.Select)
	}
	if fmt.Sprint(got.IntArray) != "[1 2 3]" || fmt.Sprint(got.LiteralArray) != "[1 2]" {
		t.Errorf("int arrays %v %v, want [1 2 3] [1 2]", got.IntArray, got.LiteralArray)
	}
	if len(got.TextArray) != 3 || *got.TextArray[0] != "a" || got.TextArray[1] != nil || *got.TextArray[2] != "c d" {
		t.Errorf("text array %v, want [a NULL c d]", got.TextArray)
	}
	if got.ArrayParam != 18 || got.TextArrayParam != 2 {
		t.Errorf("array parameters: sum %d (want 18), length %d (want 2)", got.ArrayParam, got.TextArrayParam)
	}
	if fmt.Sprint(got.ParamTypes) != "[text int8]" && fmt.Sprint(got.ParamTypes) != "[varchar int8]" {
		t.Errorf("parameter types %v", got.ParamTypes)
	}
	want := duckQuery(t, ts.pub.path, `SELECT customer_id, frequency, monetary::VARCHAR FROM customer_value
		WHERE segment = 'loyal' AND frequency > 10 ORDER BY customer_id LIMIT 5`)
	if fmt.Sprint(got.Prepared) != fmt.Sprint(want) || len(want) != 5 {
		t.Errorf("prepared statement rows %v, want %v", got.Prepared, want)
	}
	wantMart := duckQuery(t, ts.pub.path, "SELECT segment, count(*) FROM customer_value GROUP BY segment ORDER BY segment")
	if fmt.Sprint(got.Mart) != fmt.Sprint(wantMart) {
		t.Errorf("mart query %v, want %v", got.Mart, wantMart)
	}
}
