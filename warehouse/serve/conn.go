package serve

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Until it has authenticated, a connection holds none of the MaxConnections
// slots, so clients that never finish SCRAM cannot lock users out: it counts
// against a small budget of its own and has authTimeout to authenticate.
const (
	authTimeout        = 10 * time.Second
	maxUnauthenticated = 32
)

// maxMessageLen bounds one client message (a query string, a Bind).
const maxMessageLen = 64 << 20

// handle runs one client connection: TLS negotiation, startup,
// authentication, then the session.
func (s *Server) handle(queries context.Context, conn net.Conn) {
	defer conn.Close()
	log := s.log.With(logRemote, conn.RemoteAddr().String())
	defer func() {
		// A bug in one session must not take the server and every other
		// client down with it.
		if r := recover(); r != nil {
			log.Error("session failed", logErr, fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	conn.SetDeadline(time.Now().Add(authTimeout))
	if e := s.beginAuth(conn); e != nil {
		log.Warn("refused connection", logErr, e.Message)
		be := pgproto3.NewBackend(conn, conn)
		be.Send(e.response())
		be.Flush()
		return
	}
	authenticating := conn
	defer func() { s.endAuth(authenticating) }()

	be, conn, startup, err := s.negotiate(conn)
	if err != nil {
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			log.Debug("connection ended before startup", logErr, err)
		}
		return
	}
	if startup == nil {
		return // a cancel request
	}
	_, tlsOn := conn.(*tls.Conn)
	fail := func(e *pgError) {
		be.Send(e.response())
		be.Flush()
	}
	if s.opts.RequireTLS && !tlsOn {
		e := newFatal(codeInvalidAuthSpec, "the custmart server requires TLS")
		e.Hint = "connect with sslmode=require"
		fail(e)
		return
	}
	if startup.ProtocolVersion != pgproto3.ProtocolVersion30 || hasProtocolOptions(startup) {
		be.Send(negotiateVersion(startup))
	}
	user := startup.Parameters["user"]
	if user == "" {
		fail(newFatal(codeInvalidAuthSpec, "no PostgreSQL user name specified in startup packet"))
		return
	}
	log = log.With(logUser, user)
	if err := s.authenticate(be, user, tlsOn); err != nil {
		var pe *pgError
		if errors.As(err, &pe) {
			log.Warn("authentication failed", logErr, err)
			fail(pe)
		}
		return
	}
	s.endAuth(authenticating)
	sess := newSession(s, queries, conn, be, user, tlsOn, log)
	if e := s.register(sess); e != nil {
		log.Warn("refused connection", logErr, e.Message)
		fail(e)
		return
	}
	defer s.unregister(sess)
	if e := sess.applyStartupParams(startup.Parameters); e != nil {
		fail(e)
		return
	}
	// Fail early, with a clear message, when there is nothing to serve.
	eng, err := s.engines.acquire(queries)
	if err != nil {
		log.Error("cannot serve marts", logErr, err)
		e := newFatal(codeCannotConnectNow, "the custmart server has no published marts it can serve")
		e.Detail = err.Error()
		fail(e)
		return
	}
	s.engines.release(eng)

	conn.SetDeadline(time.Time{})
	if sess.isStopping() {
		// Shutdown began during startup, and clearing the deadline undid its wake-up.
		fail(asPGError(nil, errShuttingDown))
		return
	}
	be.Send(&pgproto3.AuthenticationOk{})
	for name, value := range sess.params.reported() {
		be.Send(&pgproto3.ParameterStatus{Name: name, Value: value})
	}
	be.Send(&pgproto3.BackendKeyData{ProcessID: sess.pid, SecretKey: sess.secret})
	be.Send(&pgproto3.ReadyForQuery{TxStatus: txIdle})
	if err := be.Flush(); err != nil {
		return
	}
	log.Debug("client connected", logPID, sess.pid)
	sess.run()
	log.Debug("client disconnected", logPID, sess.pid)
}

// negotiate reads startup packets until a StartupMessage, upgrading to TLS on
// SSLRequest. A CancelRequest is handled and returns a nil startup.
func (s *Server) negotiate(conn net.Conn) (*pgproto3.Backend, net.Conn, *pgproto3.StartupMessage, error) {
	be := pgproto3.NewBackend(conn, conn)
	for {
		msg, err := be.ReceiveStartupMessage()
		if err != nil {
			return nil, nil, nil, err
		}
		switch m := msg.(type) {
		case *pgproto3.SSLRequest:
			if _, already := conn.(*tls.Conn); already || s.tls == nil {
				if _, err := conn.Write([]byte{'N'}); err != nil {
					return nil, nil, nil, err
				}
				continue
			}
			if _, err := conn.Write([]byte{'S'}); err != nil {
				return nil, nil, nil, err
			}
			tc := tls.Server(conn, s.tls)
			if err := tc.Handshake(); err != nil {
				return nil, nil, nil, fmt.Errorf("tls handshake: %w", err)
			}
			conn = tc
			be = pgproto3.NewBackend(conn, conn)
		case *pgproto3.GSSEncRequest:
			if _, err := conn.Write([]byte{'N'}); err != nil {
				return nil, nil, nil, err
			}
		case *pgproto3.CancelRequest:
			s.cancel(m.ProcessID, m.SecretKey)
			return nil, nil, nil, nil
		case *pgproto3.StartupMessage:
			be.SetMaxBodyLen(maxMessageLen)
			return be, conn, m, nil
		}
	}
}

func hasProtocolOptions(m *pgproto3.StartupMessage) bool {
	for k := range m.Parameters {
		if strings.HasPrefix(k, "_pq_.") {
			return true
		}
	}
	return false
}

// negotiateVersion answers a client that asks for protocol 3.2 or protocol
// options: the server speaks 3.0 and no options.
func negotiateVersion(m *pgproto3.StartupMessage) *pgproto3.NegotiateProtocolVersion {
	var options []string
	for k := range m.Parameters {
		if strings.HasPrefix(k, "_pq_.") {
			options = append(options, k)
		}
	}
	return &pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: 0, UnrecognizedOptions: options}
}

// authenticate runs SCRAM-SHA-256 for user, or SCRAM-SHA-256-PLUS when the
// connection is TLS and the client binds to the channel. Unknown users go
// through the same exchange with a made-up salt and fail at the end, so a
// client cannot tell them from a wrong password.
func (s *Server) authenticate(be *pgproto3.Backend, user string, tlsOn bool) error {
	secret, known := s.users[user]
	if !known {
		salt := hmac.New(sha256.New, s.mockKey)
		salt.Write([]byte(user))
		secret = scramSecret{iterations: scramIterations, salt: salt.Sum(nil)[:scramSaltLen], storedKey: make([]byte, sha256.Size)}
	}
	failed := newFatal(codeInvalidPassword, fmt.Sprintf("password authentication failed for user %q", user))

	// Like PostgreSQL: the -PLUS variant first, and only over TLS.
	canBind := tlsOn && s.endPoint != nil
	mechanisms := []string{scramMechanism}
	if canBind {
		mechanisms = []string{scramPlusMechanism, scramMechanism}
	}
	be.Send(&pgproto3.AuthenticationSASL{AuthMechanisms: mechanisms})
	if err := be.Flush(); err != nil {
		return err
	}
	be.SetAuthType(pgproto3.AuthTypeSASL)
	msg, err := be.Receive()
	if err != nil {
		return err
	}
	initial, ok := msg.(*pgproto3.SASLInitialResponse)
	if !ok {
		return newFatal(codeProtocolViolation, "expected a SASL initial response")
	}
	x := &scramExchange{secret: secret, canBind: canBind}
	switch {
	case initial.AuthMechanism == scramPlusMechanism && canBind:
		x.binding = s.endPoint
	case initial.AuthMechanism != scramMechanism:
		return newFatal(codeProtocolViolation, "client selected an invalid SASL authentication mechanism")
	}
	serverFirst, err := x.start(initial.Data)
	if err != nil {
		return err
	}
	be.Send(&pgproto3.AuthenticationSASLContinue{Data: []byte(serverFirst)})
	if err := be.Flush(); err != nil {
		return err
	}
	be.SetAuthType(pgproto3.AuthTypeSASLContinue)
	msg, err = be.Receive()
	if err != nil {
		return err
	}
	final, ok := msg.(*pgproto3.SASLResponse)
	if !ok {
		return newFatal(codeProtocolViolation, "expected a SCRAM-SHA-256 SASL response")
	}
	serverFinal, err := x.finish(final.Data)
	if errors.Is(err, errWrongPassword) || err == nil && !known {
		return failed
	}
	if err != nil {
		return err
	}
	be.Send(&pgproto3.AuthenticationSASLFinal{Data: []byte(serverFinal)})
	be.SetAuthType(pgproto3.AuthTypeOk)
	return nil
}
