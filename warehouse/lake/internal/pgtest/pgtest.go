// Package pgtest gives a test a PostgreSQL server: the one in
// CUSTMART_TEST_PG_DSN when set, else a throwaway one from pgserver.
package pgtest

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/custmart/custmart/fixtures/pgserver"
	"github.com/jackc/pgx/v5"
)

// EnvDSN names the variable holding the connection string of an existing
// server to use instead of starting one.
const EnvDSN = "CUSTMART_TEST_PG_DSN"

// Server is a PostgreSQL server for one test.
type Server struct {
	DSN  string
	Addr string // host:port
	srv  *pgserver.Server
}

// Start returns a running server, stopped when the test ends, or skips the
// test saying why none can run.
func Start(t testing.TB) *Server {
	t.Helper()
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			t.Fatalf("%s: %v", EnvDSN, err)
		}
		return &Server{DSN: dsn, Addr: net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))}
	}
	s, err := pgserver.Start(context.Background(), pgserver.Options{})
	if errors.Is(err, pgserver.ErrNotInstalled) {
		t.Skipf("%v; or set %s", err, EnvDSN)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	return &Server{DSN: s.DSN, Addr: s.Addr, srv: s}
}

// Stop shuts the server down if Start started it (not one from EnvDSN).
func (s *Server) Stop() {
	if s.srv != nil {
		s.srv.Stop()
	}
}

// Conn connects to the server.
func (s *Server) Conn(t testing.TB) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
