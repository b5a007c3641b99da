package warehouse

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Holder describes the process holding the writer lock.
type Holder struct {
	PID     int       `json:"pid"`
	Command string    `json:"command"`
	Since   time.Time `json:"since"`
	Host    string    `json:"host"`
}

// LockedError says the warehouse is being written by another process.
type LockedError struct {
	Path   string
	Holder Holder
}

func (e *LockedError) Error() string {
	h := e.Holder
	if h.PID == 0 {
		return fmt.Sprintf("warehouse is locked by another writer (%s); wait for it to finish", e.Path)
	}
	return fmt.Sprintf("warehouse is locked by pid %d on %s running %q since %s (%s); wait for it to finish or stop it",
		h.PID, h.Host, h.Command, h.Since.Format(time.RFC3339), e.Path)
}

// WriterLock is an OS file lock (flock) that admits one writer per data
// directory across processes; the kernel releases it when the process dies, so
// a crash never leaves a stale lock.
type WriterLock struct {
	f *os.File
}

// AcquireWriter takes the writer lock of the data directory without waiting.
// command describes the holder in the message a refused writer gets.
func AcquireWriter(l Layout, command string) (*WriterLock, error) {
	if err := os.MkdirAll(l.Root, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", l.Root, err)
	}
	f, err := os.OpenFile(l.Lock(), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", l.Lock(), err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			var h Holder
			raw, _ := os.ReadFile(l.Lock())
			_ = json.Unmarshal(raw, &h)
			return nil, &LockedError{Path: l.Lock(), Holder: h}
		}
		return nil, fmt.Errorf("lock %s: %w", l.Lock(), err)
	}
	host, _ := os.Hostname()
	info, _ := json.Marshal(Holder{PID: os.Getpid(), Command: command, Since: time.Now().UTC(), Host: host})
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt(info, 0)
	}
	return &WriterLock{f: f}, nil
}

// Release frees the lock; safe to call twice.
func (w *WriterLock) Release() {
	if w == nil || w.f == nil {
		return
	}
	_ = w.f.Truncate(0)
	_ = unix.Flock(int(w.f.Fd()), unix.LOCK_UN)
	_ = w.f.Close()
	w.f = nil
}

// CommandLine is a short description of this process for lock holders.
func CommandLine() string {
	return filepath.Base(os.Args[0]) + " " + strings.Join(os.Args[1:], " ")
}
