// Package serve is custmart's PostgreSQL-protocol server over the published
// marts: BI tools, psql and any Postgres driver query the latest published
// version while jobs keep running.
//
// Every published version is served by its own locked-down DuckDB engine
// (see engine.go). A query runs on the version that was current when it
// started, or when its transaction started; a publish switches new queries
// to the new version and the old engine closes after its last query.
package serve

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"sync"
	"time"
)

// User is a login. Set exactly one of Password (plaintext, e.g. read from an
// environment variable) and SCRAMVerifier (from HashPassword, or from
// PostgreSQL's pg_authid.rolpassword).
type User struct {
	Name          string
	Password      string
	SCRAMVerifier string
}

// Options configures a Server.
type Options struct {
	// Listen is the address ListenAndServe listens on, e.g. 127.0.0.1:5433.
	Listen string
	Users  []User
	// TLSCertFile and TLSKeyFile enable TLS (sslmode=require and up).
	TLSCertFile, TLSKeyFile string
	// RequireTLS refuses clients that do not use TLS.
	RequireTLS bool
	// MaxConnections limits concurrent client connections; 0 means 100.
	MaxConnections int
	// StatementTimeout cancels statements that run longer; 0 means none.
	// Clients may lower it with SET statement_timeout.
	StatementTimeout time.Duration
	// MemoryLimit is the serving engine's DuckDB memory_limit, e.g. "2GB",
	// shared by the queries running on one version. Empty keeps DuckDB's
	// default (80% of RAM).
	MemoryLimit string
	// Threads is the serving engine's DuckDB thread count; 0 means all cores.
	Threads int
	// LookupDir, if set, is where the server keeps, per published version,
	// row indexes of the marts keyed by one VARCHAR column, from which it
	// answers one-key lookups (see lookup.go). It builds them in the
	// background when a version starts being served.
	LookupDir string
	// Functions, if set, registers SQL functions (such as the CLV formulas)
	// on each version's engine when it opens; clients can then call them.
	Functions func(context.Context, *sql.Conn) error
	// Current returns the latest published version and the path of its
	// marts.duckdb. It is called before every query that does not run
	// inside a transaction, so it should be cheap.
	Current func() (version, duckdbPath string, err error)
	// Logger receives connection, authentication and version-switch events.
	Logger *slog.Logger
}

// Log keys.
const (
	logRemote = "remote"
	logUser   = "user"
	logPID    = "pid"
	logErr    = "err"
)

// memorySize matches the sizes DuckDB's memory_limit takes.
var memorySize = regexp.MustCompile(`(?i)^\s*\d+(\.\d+)?\s*(b|bytes|kb|mb|gb|tb|kib|mib|gib|tib)?\s*$`)

// shutdownGrace is how long running statements may finish after Serve's
// context ends, before they are canceled.
const shutdownGrace = 10 * time.Second

// Server serves the published marts over the PostgreSQL wire protocol.
type Server struct {
	opts  Options
	log   *slog.Logger
	users map[string]scramSecret
	tls   *tls.Config
	// endPoint is the certificate's tls-server-end-point channel binding
	// data; nil when its signature algorithm defines none, and then TLS
	// clients are offered SCRAM-SHA-256 only.
	endPoint []byte
	engines  *engines
	mockKey  []byte // derives stable fake salts for unknown users

	mu       sync.Mutex
	sessions map[uint32]*session
	clients  int                   // authenticated connections, for MaxConnections
	pending  map[net.Conn]struct{} // connections not yet authenticated
	nextPID  uint32
	closing  bool
}

// New checks opts and prepares a server; nothing is opened until Serve.
func New(opts Options) (*Server, error) {
	if opts.Current == nil {
		return nil, errors.New("serve: Options.Current is required: pass a function returning the latest published marts version")
	}
	if len(opts.Users) == 0 {
		return nil, errors.New("serve: no users configured: add at least one user with a password or SCRAM verifier")
	}
	if opts.MaxConnections < 0 {
		return nil, errors.New("serve: MaxConnections cannot be negative")
	}
	if opts.MaxConnections == 0 {
		opts.MaxConnections = 100
	}
	if opts.StatementTimeout < 0 {
		return nil, errors.New("serve: StatementTimeout cannot be negative")
	}
	if opts.Threads < 0 {
		return nil, errors.New("serve: Threads cannot be negative")
	}
	if opts.MemoryLimit != "" && !memorySize.MatchString(opts.MemoryLimit) {
		return nil, fmt.Errorf("serve: MemoryLimit %q is not a size: write it like 2GB or 512MiB", opts.MemoryLimit)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts:     opts,
		log:      opts.Logger,
		users:    map[string]scramSecret{},
		sessions: map[uint32]*session{},
		pending:  map[net.Conn]struct{}{},
		mockKey:  make([]byte, 32),
	}
	rand.Read(s.mockKey) // crypto/rand.Read never fails
	var names []string
	for _, u := range opts.Users {
		secret, err := userSecret(u)
		if err != nil {
			return nil, err
		}
		if _, dup := s.users[u.Name]; dup {
			return nil, fmt.Errorf("serve: user %q is configured twice", u.Name)
		}
		s.users[u.Name] = secret
		names = append(names, u.Name)
	}
	if opts.RequireTLS && opts.TLSCertFile == "" {
		return nil, errors.New("serve: RequireTLS needs TLSCertFile and TLSKeyFile")
	}
	if opts.TLSCertFile != "" || opts.TLSKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(opts.TLSCertFile, opts.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("serve: load TLS certificate %s and key %s: %w", opts.TLSCertFile, opts.TLSKeyFile, err)
		}
		s.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if s.endPoint, err = tlsServerEndPoint(cert.Leaf); err != nil {
			s.log.Warn("SCRAM-SHA-256-PLUS is not offered: clients with channel_binding=require cannot connect", logErr, err, "cert", opts.TLSCertFile)
		}
	}
	s.engines = &engines{
		resolve: opts.Current,
		cfg:     engineConfig{memoryLimit: opts.MemoryLimit, threads: opts.Threads, users: names, lookupDir: opts.LookupDir, functions: opts.Functions},
		log:     opts.Logger,
	}
	return s, nil
}

func userSecret(u User) (scramSecret, error) {
	switch {
	case u.Name == "":
		return scramSecret{}, errors.New("serve: a user has no name")
	case u.Password != "" && u.SCRAMVerifier != "":
		return scramSecret{}, fmt.Errorf("serve: user %q has both a password and a SCRAM verifier: keep one", u.Name)
	case u.SCRAMVerifier != "":
		secret, err := parseVerifier(u.SCRAMVerifier)
		if err != nil {
			return scramSecret{}, fmt.Errorf("serve: user %q: %w", u.Name, err)
		}
		return secret, nil
	case u.Password != "":
		salt := make([]byte, scramSaltLen)
		rand.Read(salt)
		secret, err := deriveSecret(u.Password, salt, scramIterations)
		if err != nil {
			return scramSecret{}, fmt.Errorf("serve: user %q: %w", u.Name, err)
		}
		return secret, nil
	}
	return scramSecret{}, fmt.Errorf("serve: user %q has no password: set its password (e.g. from an environment variable) or a SCRAM verifier", u.Name)
}

// ListenAndServe listens on Options.Listen and serves until ctx is done.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("serve: listen on %s: %w", s.opts.Listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve accepts clients on ln until ctx is done, then closes ln, lets running
// statements finish (for up to 10 seconds), closes every connection with
// PostgreSQL's "terminating connection due to administrator command", and
// returns. It closes ln in any case.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	queries, stopQueries := context.WithCancelCause(context.Background())
	defer stopQueries(errShuttingDown)
	var wg sync.WaitGroup
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()

	s.log.Info("serving marts over the PostgreSQL protocol", "addr", ln.Addr().String())
	go s.engines.warm()
	var acceptErr error
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() == nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				acceptErr = fmt.Errorf("serve: accept on %s: %w", ln.Addr(), err)
			}
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.handle(queries, conn)
		}()
	}
	ln.Close()

	// Idle sessions end now; busy ones after their statement.
	s.mu.Lock()
	s.closing = true
	for _, sess := range s.sessions {
		sess.shutdown()
	}
	for conn := range s.pending {
		conn.SetDeadline(time.Now())
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(shutdownGrace):
		// Cancel what still runs, and unblock sessions stuck writing to
		// clients that stopped reading.
		stopQueries(errShuttingDown)
		s.mu.Lock()
		for _, sess := range s.sessions {
			sess.conn.Close()
		}
		s.mu.Unlock()
		<-done
	}
	s.engines.close()
	return acceptErr
}

// beginAuth counts a new connection against the budget of connections that
// have not authenticated yet, or refuses it.
func (s *Server) beginAuth(conn net.Conn) *pgError {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return newFatal(codeAdminShutdown, "the custmart server is shutting down")
	}
	if len(s.pending) >= maxUnauthenticated {
		return newFatal(codeTooManyConnections, "sorry, too many clients are authenticating already")
	}
	s.pending[conn] = struct{}{}
	return nil
}

// endAuth frees the connection's place in that budget; safe to call twice.
func (s *Server) endAuth(conn net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pending, conn)
}

// register assigns a process ID and cancel secret and counts the client
// against MaxConnections.
func (s *Server) register(sess *session) *pgError {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return newFatal(codeAdminShutdown, "the custmart server is shutting down")
	}
	if s.clients >= s.opts.MaxConnections {
		return newFatal(codeTooManyConnections, "sorry, too many clients already")
	}
	s.clients++
	for {
		s.nextPID++
		if _, used := s.sessions[s.nextPID]; !used && s.nextPID != 0 {
			break
		}
	}
	sess.pid = s.nextPID
	s.sessions[sess.pid] = sess
	return nil
}

func (s *Server) unregister(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[sess.pid] == sess {
		delete(s.sessions, sess.pid)
		s.clients--
	}
}

// cancel handles a CancelRequest: it cancels the running statement of the
// session with that process ID if the secret matches.
func (s *Server) cancel(pid uint32, secret []byte) {
	s.mu.Lock()
	sess := s.sessions[pid]
	s.mu.Unlock()
	if sess == nil || subtle.ConstantTimeCompare(sess.secret, secret) != 1 {
		s.log.Warn("ignored a cancel request with an unknown process ID or wrong secret", logPID, pid)
		return
	}
	sess.cancelRunning()
}

// openConnections reports the number of client connections, for tests.
func (s *Server) openConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clients
}

// newSecret returns a 4-byte cancel key, the length protocol 3.0 allows.
func newSecret() []byte {
	b := make([]byte, 4)
	rand.Read(b)
	return b
}
