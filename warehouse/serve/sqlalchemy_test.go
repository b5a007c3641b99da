package serve

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// TestSQLAlchemyReflection: Debian's SQLAlchemy (Superset's schema browser)
// reflects the marts, and pandas reads a query into a frame.
func TestSQLAlchemyReflection(t *testing.T) {
	if testing.Short() {
		t.Skip("runs SQLAlchemy and pandas, client programs; make test runs it")
	}
	t.Parallel()
	if err := exec.Command(debianPython, "-c", "import sqlalchemy, pandas, psycopg2").Run(); err != nil {
		t.Fatalf("%s cannot import sqlalchemy, pandas and psycopg2 (.ci/run installs them): %v", debianPython, err)
	}
	ts := startServer(t)
	url := "postgresql+psycopg2://" + testUser + ":" + strings.ReplaceAll(testPassword, " ", "%20") + "@" + ts.addr + "/custmart?sslmode=disable"
	var got struct {
		Schemas []string           `json:"schemas"`
		Tables  []string           `json:"tables"`
		Views   []string           `json:"views"`
		Columns map[string][][]any `json:"columns"`
		PK      struct {
			Cols []string `json:"constrained_columns"`
		} `json:"pk"`
		FKs     []any `json:"fks"`
		Comment struct {
			Text string `json:"text"`
		} `json:"comment"`
		Indexes []any `json:"indexes"`
		Unique  []any `json:"unique"`
		Frame   struct {
			Columns []string `json:"columns"`
			Dtypes  []string `json:"dtypes"`
			Rows    [][]any  `json:"rows"`
		} `json:"frame"`
	}
	runPythonClient(t, "SQLAlchemy", "sqlalchemy_client.py", &got, url)
	if fmt.Sprint(got.Tables) != "[customer_value rfm segment_summary]" || len(got.Views) != 0 {
		t.Errorf("tables %v, views %v", got.Tables, got.Views)
	}
	if !strings.Contains(fmt.Sprint(got.Schemas), "main") {
		t.Errorf("schemas %v lack main", got.Schemas)
	}
	wantCols := map[string]string{
		"rfm":             "[[customer_id VARCHAR true] [r_score SMALLINT true] [f_score SMALLINT true] [m_score SMALLINT true] [rfm_segment VARCHAR true]]",
		"segment_summary": "[[segment VARCHAR true] [customers BIGINT true] [revenue NUMERIC(38, 2) true] [avg_clv DOUBLE_PRECISION true] [as_of DATE true]]",
	}
	for table, want := range wantCols {
		if g := fmt.Sprint(got.Columns[table]); g != want {
			t.Errorf("%s columns %s, want %s", table, g, want)
		}
	}
	if fmt.Sprint(got.PK.Cols) != "[customer_id]" {
		t.Errorf("primary key of rfm %v, want [customer_id]", got.PK.Cols)
	}
	if got.Comment.Text != readmeDocs().tables["rfm"] {
		t.Errorf("comment of rfm %q, want the README's %q", got.Comment.Text, readmeDocs().tables["rfm"])
	}
	// The primary key is rfm's only index, and get_indexes leaves it out.
	if len(got.Indexes) != 0 || len(got.Unique) != 0 {
		t.Errorf("indexes %v, unique constraints %v: rfm has only its primary key", got.Indexes, got.Unique)
	}
	if len(got.FKs) != 0 {
		t.Errorf("foreign keys %v: the marts have none", got.FKs)
	}
	want := duckQuery(t, ts.pub.path, "SELECT segment, customers FROM segment_summary ORDER BY segment")
	if fmt.Sprint(got.Frame.Columns) != "[segment customers]" || fmt.Sprint(got.Frame.Dtypes) != "[object int64]" || len(got.Frame.Rows) != len(want) {
		t.Fatalf("frame %v %v with %d rows, want %d", got.Frame.Columns, got.Frame.Dtypes, len(got.Frame.Rows), len(want))
	}
	for i, w := range want {
		if fmt.Sprint(got.Frame.Rows[i]) != fmt.Sprint(w) {
			t.Errorf("frame row %d %v, want %v", i, got.Frame.Rows[i], w)
		}
	}
}
