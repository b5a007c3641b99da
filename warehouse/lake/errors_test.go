package lake_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/lake"
)

// TestClearErrors checks that each kind of bad input fails with a message
// that names the file and says what to do, and that the other files of the
// source still load.
func TestClearErrors(t *testing.T) {
	t.Parallel()
	head := "transaction_id,order_id,customer_id,ts,amount,quantity,unit_price,currency\n"
	good := head + "G1,O1,K1,2024-03-01 10:00:00,1.00,1,1.00,EUR\n"
	cases := []struct {
		name, file string
		content    func(t *testing.T) []byte
		options    string
		want       []string
	}{
		{"empty file", "15-empty.csv", func(*testing.T) []byte { return nil }, "",
			[]string{"15-empty.csv: the file is empty (0 bytes); remove it from the source or fix the export"}},
		{"header only", "14-header-only.csv", func(*testing.T) []byte { return []byte(head) }, "",
			[]string{"14-header-only.csv: the file has a header line but no data rows; remove it from the source, or fix the export"}},
		{"empty after decompression", "x.csv.gz", func(t *testing.T) []byte { return gz(t, nil) }, "",
			[]string{"x.csv.gz: the file is empty after gzip decompression"}},
		{"parquet config on a CSV", "x.parquet", func(*testing.T) []byte { return []byte(good) }, "    format: parquet\n",
			[]string{"x.parquet: not a Parquet file (it starts with \"transaction_id,order_id", "set the format of source shop to csv or jsonl"}},
		{"csv config on a Parquet file", "x.csv", parquetFile, "",
			[]string{"x.csv: this is a Parquet file but source shop says format: csv; set format: parquet"}},
		{"jsonl config on a CSV", "x.jsonl", func(*testing.T) []byte { return []byte(good) }, "    format: jsonl\n",
			[]string{"x.jsonl: does not look like JSON Lines", "check the format of source shop"}},
		{"gzip config on plain text", "x.csv", func(*testing.T) []byte { return []byte(good) }, "    compression: gzip\n",
			[]string{"x.csv: the source says compression: gzip but the file is not gzip-compressed; set compression: auto or none"}},
		{"truncated gzip", "x.csv.gz", func(t *testing.T) []byte {
			z := gz(t, []byte(strings.Repeat(good, 2000)))
			return z[:len(z)/2]
		}, "", []string{"x.csv.gz: read gzip content: unexpected EOF (is the file truncated?)"}},
		{"mapping names a missing column", "x.csv", func(*testing.T) []byte {
			return []byte("id,who,when,amount\nG1,K1,2024-03-01,1\n")
		}, "", []string{"x.csv: source shop maps transaction_id to column \"transaction_id\", which is not there; its columns are: id, who, when, amount (fix columns.transaction_id in the config)"}},
		{"header with fewer names than configured", "x.csv", func(*testing.T) []byte { return []byte("a,b\n1,2\n") },
			"    csv: {header: true, names: [transaction_id, order_id, customer_id, ts, amount, quantity, unit_price, currency]}\n",
			[]string{"x.csv: csv.names lists 8 columns but the header line has 2 (a,b); fix csv.names of source shop"}},
		{"mixed line endings", "x.csv", func(*testing.T) []byte {
			return []byte(head + "G1,O1,K1,2024-03-01 10:00:00,1.00,1,1.00,EUR\n\r\nG2,O2,K1,2024-03-01 10:00:00,1.00,1,1.00,EUR\n")
		}, "", []string{"x.csv: cannot be read as CSV with the source's options", "check csv.delimiter, csv.quote and the line endings of source shop"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.write("good.csv", []byte(good))
			e.write(c.file, c.content(t))
			report, err := e.ingest(e.shopSource(filepath.Join(e.dir, "in"), c.options))
			if err == nil {
				t.Fatalf("no error; report %+v", report.Files)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nshould contain %q", err, w)
				}
			}
			if f := fileResult(t, report, c.file); f.Status != lake.FileFailed || !strings.HasPrefix(f.Message, filepath.Join(e.dir, "in", c.file)) {
				t.Errorf("result %+v: want failed with a message naming the file", f)
			}
			if c.options == "" || strings.Contains(c.options, "names") {
				if f := fileResult(t, report, "good.csv"); f.Status != lake.FileLoaded {
					t.Errorf("good.csv: %s %s", f.Status, f.Message)
				}
			}
		})
	}
}

func TestMissingPath(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	missing := filepath.Join(e.dir, "no-such-inbox")
	_, err := e.ingest(e.shopSource(missing, ""))
	want := "source shop: path " + missing + " does not exist (check sources.path in the config, or create the inbox directory)"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v\nwant %s", err, want)
	}
}

// TestNoPermission reads a file the ingesting user may not read. Root reads
// every file, so as root the ingest runs in a child process as nobody.
func TestNoPermission(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process as nobody; make test runs it")
	}
	t.Parallel()
	if os.Getenv("CUSTMART_LAKE_PERMISSION_CHILD") != "" {
		permissionChild()
		return
	}
	dir, err := os.MkdirTemp("", "custmart-perm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	secret := filepath.Join(dir, "in", "secret.csv")
	must(t, os.MkdirAll(filepath.Dir(secret), 0o755))
	must(t, os.WriteFile(secret, []byte("transaction_id,customer_id,ts,amount\nS1,K1,2024-03-01,1\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "in", "open.csv"), []byte("transaction_id,customer_id,ts,amount\nS2,K1,2024-03-01,2\n"), 0o644))
	data := filepath.Join(dir, "data")
	must(t, os.MkdirAll(data, 0o755))
	must(t, os.Chmod(data, 0o777))
	must(t, os.Chmod(dir, 0o755))

	var out []byte
	if os.Geteuid() == 0 {
		// The test binary may sit where nobody cannot reach it: run a copy.
		bin := filepath.Join(dir, "lake.test")
		must(t, copyFile(os.Args[0], bin, 0o755))
		cmd := exec.Command(bin, "-test.run=^TestNoPermission$")
		cmd.Env = append(os.Environ(), "CUSTMART_LAKE_PERMISSION_CHILD="+dir)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err = cmd.CombinedOutput()
		if err != nil && strings.Contains(string(out), "permission denied") && !strings.Contains(string(out), "secret.csv") {
			t.Skipf("cannot run a child as nobody here: %v\n%s", err, out)
		}
	} else {
		cmd := exec.Command(os.Args[0], "-test.run=^TestNoPermission$")
		cmd.Env = append(os.Environ(), "CUSTMART_LAKE_PERMISSION_CHILD="+dir)
		out, err = cmd.CombinedOutput()
	}
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	want := "RESULT " + secret + ": permission denied (give the user running custmart read access to the file)"
	if !strings.Contains(string(out), want) || !strings.Contains(string(out), "LOADED open.csv") {
		t.Errorf("child output:\n%s\nwant %q and open.csv loaded", out, want)
	}
}

func permissionChild() {
	dir := os.Getenv("CUSTMART_LAKE_PERMISSION_CHILD")
	src := lake.Source{Name: "perm", Path: filepath.Join(dir, "in"), Format: "csv", Compression: "auto",
		CSV: lake.CSV{Delimiter: ",", Header: true, Quote: `"`}, OnChangedFile: "reject", MaxQuarantineShare: 0.05, NotBefore: "2020-01-01",
		Columns: map[string]string{"transaction_id": "transaction_id", "customer_id": "customer_id", "ts": "ts", "amount": "amount"}}
	in := &lake.Ingester{Layout: warehouse.NewLayout(filepath.Join(dir, "data")), AsOf: time.Date(2024, 3, 31, 0, 0, 0, 0, time.UTC)}
	report, err := in.Ingest(context.Background(), []lake.Source{src})
	fmt.Println("ERROR", err)
	for _, f := range report.Files {
		if f.Status == lake.FileLoaded {
			fmt.Println("LOADED", filepath.Base(f.File))
		} else {
			fmt.Println("RESULT", f.Message)
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func copyFile(from, to string, mode os.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
