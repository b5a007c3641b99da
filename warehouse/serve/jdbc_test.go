package serve

import (
	"os/exec"
	"strings"
	"testing"
)

// jdbcDriver is Debian's PostgreSQL JDBC driver (libpostgresql-jdbc-java).
const jdbcDriver = "/usr/share/java/postgresql.jar"

// TestJDBCMetadata: the PostgreSQL JDBC driver, which Tableau and DBeaver
// browse schemas with, lists the marts' tables, columns, keys and their
// descriptions.
func TestJDBCMetadata(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles and runs a JDBC client program; make test runs it")
	}
	t.Parallel()
	javac, err := exec.LookPath("javac")
	if err == nil {
		err = exec.Command("test", "-r", jdbcDriver).Run()
	}
	if err != nil {
		if testing.Short() {
			t.Skipf("no JDK or JDBC driver: %v", err)
		}
		t.Fatalf("javac and %s are needed (.ci/run installs default-jdk-headless and libpostgresql-jdbc-java): %v", jdbcDriver, err)
	}
	classes := t.TempDir()
	if out, err := exec.Command(javac, "-d", classes, "testdata/JdbcClient.java").CombinedOutput(); err != nil {
		t.Fatalf("compile the JDBC client: %v\n%s", err, out)
	}
	ts := startServer(t)
	url := "jdbc:postgresql://" + ts.addr + "/custmart?sslmode=disable"
	out, err := exec.Command("java", "-cp", jdbcDriver+":"+classes, "JdbcClient", url, testUser, testPassword).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("JDBC client failed: %v\n%s", err, stderr)
	}
	got := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		call, rest, _ := strings.Cut(line, "\t")
		got[call] = append(got[call], rest)
	}
	want := map[string]string{
		"product": "PostgreSQL\t15",
		"table":   "customer_value\tTABLE|rfm\tTABLE|segment_summary\tTABLE",
		"column": "customer_id\tvarchar\t12\t1|r_score\tint2\t5\t2|f_score\tint2\t5\t3|" +
			"m_score\tint2\t5\t4|rfm_segment\tvarchar\t12\t5",
		"count":         duckQuery(t, ts.pub.path, "SELECT count(*)::VARCHAR FROM rfm")[0][0].(string),
		"pk":            "customer_id\t1\trfm_pkey",
		"remarks":       readmeDocs().columns["rfm"]["r_score"],
		"table remarks": readmeDocs().tables["rfm"],
	}
	for call, w := range want {
		if g := strings.Join(got[call], "|"); g != w {
			t.Errorf("%s: got %q, want %q", call, g, w)
		}
	}
	if !strings.Contains(strings.Join(got["schema"], ","), "main") {
		t.Errorf("schemas %v lack main", got["schema"])
	}
}
