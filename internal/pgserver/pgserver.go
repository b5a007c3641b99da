// Package pgserver runs a throwaway PostgreSQL server: a new cluster in a
// temporary directory, on a free loopback port, with trust authentication
// and no durability, removed when it stops. The lake's PostgreSQL tests and
// the serve benchmark both start theirs here. When this process is root the
// server runs as the postgres user, since PostgreSQL refuses to run as root.
package pgserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNotInstalled says that no PostgreSQL server can run here: the binaries
// or, for root, the postgres user are missing.
var ErrNotInstalled = errors.New("PostgreSQL is not installed")

// Options of a server; the zero value is a server of the newest PostgreSQL
// found, superuser postgres, under the system temp directory.
type Options struct {
	// BinDir holds initdb and postgres; empty: initdb on PATH, else the
	// newest /usr/lib/postgresql/*/bin.
	BinDir string
	// Parent is the directory the cluster is made in; empty: os.TempDir().
	Parent string
	// User is the superuser's name; empty: postgres.
	User string
	// Settings are extra server settings, name=value.
	Settings []string
}

// Server is a running throwaway server.
type Server struct {
	DSN  string // a pgx connection string
	Addr string // host:port on loopback
	Dir  string // the cluster's directory, with postgres.log
	cmd  *exec.Cmd

	once    sync.Once
	stopErr error
}

// startTimeout bounds how long a starting server may take to accept logins.
const startTimeout = 2 * time.Minute

// Start makes a cluster and starts its server. Stop it with Stop.
func Start(ctx context.Context, o Options) (*Server, error) {
	bin := o.BinDir
	if bin == "" {
		var err error
		if bin, err = findBinDir(); err != nil {
			return nil, fmt.Errorf("%w: %v; install Debian's postgresql package", ErrNotInstalled, err)
		}
	}
	if _, err := os.Stat(filepath.Join(bin, "postgres")); err != nil {
		return nil, fmt.Errorf("%w: no server in %s; install Debian's postgresql package", ErrNotInstalled, bin)
	}
	cred, err := serverUser()
	if err != nil {
		return nil, err
	}
	if o.User == "" {
		o.User = "postgres"
	}
	dir, err := os.MkdirTemp(o.Parent, "custmart-pg-")
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Server{Dir: dir}
	fail := func(err error) (*Server, error) {
		s.Stop()
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fail(fmt.Errorf("postgres: give %s to the postgres user: %w", dir, err))
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", o.User, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("postgres: initdb %s: %w\n%s", data, err, out))
	}
	port, err := freePort()
	if err != nil {
		return fail(err)
	}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s.DSN = fmt.Sprintf("postgres://%s@%s/postgres?sslmode=disable", o.User, s.Addr)
	args := []string{"-D", data, "-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off"}
	for _, kv := range o.Settings {
		args = append(args, "-c", kv)
	}
	logPath := filepath.Join(dir, "postgres.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return fail(fmt.Errorf("postgres: %w", err))
	}
	defer logFile.Close()
	// Not bound to ctx: a canceled caller still stops the server with Stop,
	// by a fast shutdown rather than a kill.
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), args...)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		s.cmd = nil
		return fail(fmt.Errorf("postgres: start: %w", err))
	}
	if err := s.waitReady(ctx); err != nil {
		log, _ := os.ReadFile(logPath)
		return fail(fmt.Errorf("postgres did not accept logins on %s: %w\nits log:\n%s", s.Addr, err, lastLines(log, 20)))
	}
	return s, nil
}

// Stop shuts the server down (fast shutdown, a kill after 30 s) and removes
// the cluster. Safe to call more than once.
func (s *Server) Stop() error {
	s.once.Do(func() {
		if s.cmd != nil && s.cmd.Process != nil {
			_ = s.cmd.Process.Signal(syscall.SIGINT)
			done := make(chan struct{})
			go func() {
				_ = s.cmd.Wait()
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				_ = s.cmd.Process.Kill()
				<-done
			}
		}
		if err := os.RemoveAll(s.Dir); err != nil {
			s.stopErr = fmt.Errorf("postgres: remove the cluster: %w", err)
		}
	})
	return s.stopErr
}

func (s *Server) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(startTimeout)
	for {
		try, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := pgx.Connect(try, s.DSN)
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func findBinDir() (string, error) {
	if path, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(path); err == nil {
			return filepath.Dir(real), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) < version(dirs[j]) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	return "", errors.New("no initdb on PATH or under /usr/lib/postgresql/*/bin")
}

// version is the major version in /usr/lib/postgresql/<version>/bin.
func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// serverUser is who runs the server: nil (this process's user) unless this
// is root, then the postgres user.
func serverUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("%w: running as root needs the postgres user of Debian's postgresql package: %v", ErrNotInstalled, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("postgres: find a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(b []byte, n int) []byte {
	lines := bytes.SplitAfter(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return bytes.Join(lines, nil)
}
