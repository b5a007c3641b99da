package lake

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/custmart/custmart/warehouse"
)

// fileIdentity is what stat says of a file, taken before its content was
// hashed: when it still says the same, the content is the one hashed (as
// git's index and rsync assume). Content cannot change without changing
// ctime, which no one can set back.
type fileIdentity struct {
	Size    int64  `json:"size"`
	MtimeNS int64  `json:"mtime_ns"`
	CtimeNS int64  `json:"ctime_ns"`
	Inode   uint64 `json:"inode"`
	Device  uint64 `json:"device"`
	// TakenNS is when the identity was taken.
	TakenNS int64 `json:"taken_ns"`
}

// racyWindow is how close to the moment its identity was taken a file's
// change may be for the identity not to be trusted: a change in the same
// second may leave mtime and ctime as they were on a file system with
// coarse timestamps (git's racy-timestamp rule). A whole second more
// covers the kernel's file clock lagging the wall clock.
const racyWindow = time.Second

func identityOf(info os.FileInfo, taken time.Time) (fileIdentity, bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return fileIdentity{}, false
	}
	return fileIdentity{Size: info.Size(), MtimeNS: st.Mtim.Nano(), CtimeNS: st.Ctim.Nano(),
		Inode: st.Ino, Device: uint64(st.Dev), TakenNS: taken.UnixNano()}, true
}

// matches says whether the file's identity now is the one recorded.
func (id fileIdentity) matches(now fileIdentity) bool {
	return id.Size == now.Size && id.MtimeNS == now.MtimeNS && id.CtimeNS == now.CtimeNS &&
		id.Inode == now.Inode && id.Device == now.Device
}

// racy says whether the file changed too close to the moment its identity
// was taken for a later change to show in it.
func (id fileIdentity) racy() bool {
	last := max(id.MtimeNS, id.CtimeNS)
	return last > id.TakenNS-int64(racyWindow)
}

// knownFile is a file of a source whose content is in the lake, as it was
// when it was last hashed.
type knownFile struct {
	fileIdentity
	Checksum string `json:"checksum"`
}

// inboxState is what lake/_state/<source>.inbox.json records of a file
// source: per path, the identity and checksum of each file that was loaded
// or found already in the lake. It is a cache: without it every file is
// hashed.
type inboxState struct {
	Source string               `json:"source"`
	Files  map[string]knownFile `json:"files"`
}

func inboxStatePath(l warehouse.Layout, source string) string {
	return filepath.Join(l.SourceState(), source+".inbox.json")
}

// loadInbox reads a source's inbox state; an empty one when the file is
// missing, or corrupt (said in the returned error, to be logged: the
// files are then all hashed, which is slower but right).
func loadInbox(l warehouse.Layout, source string) (*inboxState, error) {
	s := &inboxState{Source: source, Files: map[string]knownFile{}}
	path := inboxStatePath(l, source)
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err == nil {
		err = json.Unmarshal(raw, s)
	}
	if err != nil || s.Files == nil {
		return &inboxState{Source: source, Files: map[string]knownFile{}},
			fmt.Errorf("inbox state %s is unreadable (%v); every file of source %s is hashed and the state written again", path, err, source)
	}
	return s, nil
}

func saveInbox(l warehouse.Layout, s *inboxState) error {
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return warehouse.WriteFileAtomic(inboxStatePath(l, s.Source), raw, 0o644)
}

// unchanged returns the file at path as it was last hashed, when its
// identity still matches, was not racy, and its content is in the lake.
func (s *inboxState) unchanged(path string, live map[string]LiveFile) (inputFile, bool) {
	known, ok := s.Files[path]
	if !ok || known.racy() {
		return inputFile{}, false
	}
	if _, ok := live[known.Checksum]; !ok {
		return inputFile{}, false
	}
	info, err := os.Stat(path)
	if err != nil {
		return inputFile{}, false
	}
	now, ok := identityOf(info, time.Time{})
	if !ok || !known.matches(now) {
		return inputFile{}, false
	}
	return inputFile{path: path, size: known.Size, checksum: known.Checksum, identity: known.fileIdentity, unread: true}, true
}
