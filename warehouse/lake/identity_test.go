package lake_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/custmart/custmart/warehouse/lake"
)

// waitPastChange waits until the files last changed more than the racy
// window ago, so that the identity an ingest takes now is trusted later.
func waitPastChange(t *testing.T, paths ...string) {
	t.Helper()
	var last time.Time
	for _, p := range paths {
		if c := ctime(t, p); c.After(last) {
			last = c
		}
	}
	time.Sleep(time.Until(last.Add(1100 * time.Millisecond)))
}

func ctime(t *testing.T, path string) time.Time {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := info.Sys().(*syscall.Stat_t)
	return time.Unix(st.Ctim.Sec, st.Ctim.Nsec)
}

// inboxRecord is a file's entry in lake/_state/<source>.inbox.json.
type inboxRecord struct {
	Size     int64  `json:"size"`
	MtimeNS  int64  `json:"mtime_ns"`
	CtimeNS  int64  `json:"ctime_ns"`
	Inode    uint64 `json:"inode"`
	Device   uint64 `json:"device"`
	TakenNS  int64  `json:"taken_ns"`
	Checksum string `json:"checksum"`
}

func (e *env) inboxPath(source string) string {
	return filepath.Join(e.layout.SourceState(), source+".inbox.json")
}

func (e *env) inboxState(source string) map[string]inboxRecord {
	e.t.Helper()
	raw, err := os.ReadFile(e.inboxPath(source))
	if err != nil {
		e.t.Fatal(err)
	}
	var s struct {
		Files map[string]inboxRecord `json:"files"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		e.t.Fatal(err)
	}
	return s.Files
}

// forgeRecord makes the record of path match the file as it is now, with
// the checksum it had, taken at taken: what a file system whose times do
// not move (or a restore that sets them back) would show.
func (e *env) forgeRecord(source, path string, taken time.Time) {
	e.t.Helper()
	files := e.inboxState(source)
	rec, ok := files[path]
	if !ok {
		e.t.Fatalf("no inbox record of %s: %v", path, files)
	}
	info, err := os.Stat(path)
	if err != nil {
		e.t.Fatal(err)
	}
	st := info.Sys().(*syscall.Stat_t)
	rec.Size, rec.MtimeNS, rec.CtimeNS, rec.Inode, rec.Device = info.Size(), st.Mtim.Nano(), st.Ctim.Nano(), st.Ino, uint64(st.Dev)
	rec.TakenNS = taken.UnixNano()
	files[path] = rec
	raw, _ := json.Marshal(map[string]any{"source": source, "files": files})
	if err := os.WriteFile(e.inboxPath(source), raw, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// changeInPlace rewrites the file with other content of the same size and
// sets its mtime back: only ctime tells.
func changeInPlace(t *testing.T, path, from, to string) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	changed := strings.Replace(string(raw), from, to, 1)
	if len(changed) != len(raw) || changed == string(raw) {
		t.Fatalf("%q -> %q does not keep the size", from, to)
	}
	if err := os.WriteFile(path, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// A file whose identity matches its record is not read again; a new file
// is; the record is rewritten for what is in the inbox now.
func TestInboxUnchangedFilesAreNotRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.write("a.csv", []byte(shopLines("A", "2024-01-05", "2024-01-06")))
	b := e.write("b.csv", []byte(shopLines("B", "2024-01-07")))
	src := e.shopSource(filepath.Join(e.dir, "in", "*.csv"), "")
	waitPastChange(t, a, b)
	if r := e.mustIngest(src); r.Unread() != 0 || len(r.Files) != 2 {
		t.Fatalf("first ingest: %+v", r.Files)
	}
	c := e.write("c.csv", []byte(shopLines("C", "2024-01-08")))
	r := e.mustIngest(src)
	if got := r.Unread(); got != 2 {
		t.Errorf("second ingest: %d files not read, want 2 (a.csv, b.csv): %+v", got, r.Files)
	}
	for name, want := range map[string]string{"a.csv": lake.FileSkipped, "b.csv": lake.FileSkipped, "c.csv": lake.FileLoaded} {
		if f := fileResult(t, r, name); f.Status != want || f.Unread != (want == lake.FileSkipped) {
			t.Errorf("%s: %s unread=%v, want %s", name, f.Status, f.Unread, want)
		}
	}
	if files := e.inboxState("shop"); len(files) != 3 || files[c].Checksum == "" {
		t.Errorf("inbox state %v, want a, b and c", files)
	}
	if err := os.Remove(b); err != nil {
		t.Fatal(err)
	}
	e.mustIngest(src)
	if files := e.inboxState("shop"); len(files) != 2 {
		t.Errorf("inbox state after b.csv went: %v, want a and c", files)
	}
	if n, _ := e.lakeTotals(); n != 4 {
		t.Errorf("lake rows %d, want 4", n)
	}
}

// Content changed with the size kept and the mtime set back is found by
// ctime; a file replaced by another (a new inode) likewise.
func TestInboxChangedFileWithOldMtimeIsHashed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.write("a.csv", []byte(shopLines("A", "2024-01-05", "2024-01-06")))
	b := e.write("b.csv", []byte(shopLines("B", "2024-01-07")))
	src := e.shopSource(filepath.Join(e.dir, "in", "*.csv"), "")
	waitPastChange(t, a, b)
	e.mustIngest(src)

	changeInPlace(t, a, "1.25", "9.25")
	replacement := filepath.Join(e.dir, "b.new")
	raw, _ := os.ReadFile(b)
	if err := os.WriteFile(replacement, []byte(strings.Replace(string(raw), "1.25", "7.25", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(b)
	if err := os.Chtimes(replacement, info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(replacement, b); err != nil {
		t.Fatal(err)
	}
	r, err := e.ingest(src)
	if err == nil {
		t.Fatal("changed files were not reported")
	}
	for _, name := range []string{"a.csv", "b.csv"} {
		if f := fileResult(t, r, name); f.Status != lake.FileChanged || f.Unread {
			t.Errorf("%s: %s unread=%v, want changed: %s", name, f.Status, f.Unread, f.Message)
		}
	}
}

// A record taken within a second of the file's last change does not vouch
// for it (a later change in that second may leave the times as they were):
// the file is hashed again, and a change under the same identity is found.
func TestInboxRacyRecordIsHashedAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.write("a.csv", []byte(shopLines("A", "2024-01-05", "2024-01-06")))
	src := e.shopSource(filepath.Join(e.dir, "in", "*.csv"), "")
	e.mustIngest(src) // just after the file was written: the record is racy
	if r := e.mustIngest(src); r.Unread() != 0 || fileResult(t, r, "a.csv").Status != lake.FileSkipped {
		t.Errorf("a racy record was trusted: %+v", r.Files)
	}

	changeInPlace(t, a, "1.25", "9.25")
	e.forgeRecord("shop", a, ctime(t, a).Add(300*time.Millisecond))
	r, err := e.ingest(src)
	if f := fileResult(t, r, "a.csv"); err == nil || f.Status != lake.FileChanged {
		t.Errorf("a change under a racy record: %s %v, want changed", f.Status, err)
	}
}

// --verify hashes every file: it finds a change that the identity hides
// (here a record forged to match the changed file, as a file system whose
// times do not move would leave it). A repair hashes what it reads too.
func TestInboxVerifyFindsAChangeTheIdentityHides(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.write("a.csv", []byte(shopLines("A", "2024-01-05", "2024-01-06")))
	src := e.shopSource(filepath.Join(e.dir, "in", "*.csv"), "")
	e.mustIngest(src)
	changeInPlace(t, a, "1.25", "9.25")
	e.forgeRecord("shop", a, ctime(t, a).Add(5*time.Second))
	forged, _ := os.ReadFile(e.inboxPath("shop"))

	r := e.mustIngest(src)
	if f := fileResult(t, r, "a.csv"); f.Status != lake.FileSkipped || !f.Unread {
		t.Fatalf("the forged record was not trusted: %s unread=%v", f.Status, f.Unread)
	}
	verify := e.in
	verify.Verify = true
	r, err := verify.Ingest(context.Background(), []lake.Source{src})
	if f := fileResult(t, r, "a.csv"); err == nil || f.Status != lake.FileChanged || f.Unread {
		t.Errorf("--verify: %s unread=%v %v, want changed", f.Status, f.Unread, err)
	}

	if err := os.WriteFile(e.inboxPath("shop"), forged, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(e.layout.Lake(), e.lakeFile("2024-01-06"))); err != nil {
		t.Fatal(err)
	}
	if _, err := e.in.Repair(context.Background(), []lake.Source{src}); err == nil || !strings.Contains(err.Error(), "a.csv changed since batch") {
		t.Errorf("repair of a changed file: %v, want a refusal naming a.csv", err)
	}
}

// A missing or corrupt inbox state costs a hash of every file, nothing
// more, and is written again.
func TestInboxCorruptStateHashesEverything(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.write("a.csv", []byte(shopLines("A", "2024-01-05", "2024-01-06")))
	src := e.shopSource(filepath.Join(e.dir, "in", "*.csv"), "")
	waitPastChange(t, a)
	e.mustIngest(src)
	if err := os.WriteFile(e.inboxPath("shop"), []byte(`{"files": {"`), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := e.mustIngest(src); r.Unread() != 0 || fileResult(t, r, "a.csv").Status != lake.FileSkipped {
		t.Errorf("with a corrupt state: %+v", r.Files)
	}
	if r := e.mustIngest(src); r.Unread() != 1 {
		t.Errorf("the state was not written again: %+v", r.Files)
	}
	if err := os.Remove(e.inboxPath("shop")); err != nil {
		t.Fatal(err)
	}
	if r := e.mustIngest(src); r.Unread() != 0 || fileResult(t, r, "a.csv").Status != lake.FileSkipped {
		t.Errorf("without a state: %+v", r.Files)
	}
}
