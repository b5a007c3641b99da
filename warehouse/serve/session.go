package serve

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Transaction status bytes of ReadyForQuery.
const (
	txIdle   = 'I'
	txActive = 'T'
	txFailed = 'E'
)

// flushThreshold is how much output the session buffers before writing, so
// large results stream instead of piling up in memory.
const flushThreshold = 64 << 10

// session is one client connection after authentication.
type session struct {
	srv     *Server
	queries context.Context // ends when the server stops waiting for statements
	conn    net.Conn
	be      *pgproto3.Backend
	log     *slog.Logger
	user    string
	pid     uint32
	secret  []byte
	params  sessionParams

	txStatus byte
	inTx     bool          // inside BEGIN ... COMMIT
	txParams sessionParams // parameters at BEGIN, restored by ROLLBACK
	local    sessionParams // parameters before SET LOCAL, restored at the end of the transaction
	saves    []savepoint
	pinned   *engine // the version the current transaction reads

	stmts          map[string]*prepared
	portals        map[string]*portal
	ignoreTillSync bool
	buffered       int

	mu       sync.Mutex
	running  *runningStatement
	stopping bool
	activity activity
}

// runningStatement cancels the statement a CancelRequest targets.
type runningStatement struct {
	cancel context.CancelCauseFunc
}

type savepoint struct {
	name   string
	params sessionParams
}

func newSession(srv *Server, queries context.Context, conn net.Conn, be *pgproto3.Backend, user string, tlsOn bool, log *slog.Logger) *session {
	return &session{
		srv:      srv,
		queries:  queries,
		conn:     conn,
		be:       be,
		log:      log,
		user:     user,
		secret:   newSecret(),
		params:   newSessionParams(user, srv.opts.MaxConnections, tlsOn),
		txStatus: txIdle,
		stmts:    map[string]*prepared{},
		portals:  map[string]*portal{},
		activity: activity{started: time.Now()},
	}
}

// applyStartupParams checks the database name and applies the settings a
// client sends in its startup packet (application_name, DateStyle, options).
func (s *session) applyStartupParams(params map[string]string) *pgError {
	database := params["database"]
	if database == "" {
		database = s.user
	}
	if database != catalogName {
		e := newFatal(codeInvalidCatalogName, fmt.Sprintf("database %q does not exist", database))
		e.Hint = fmt.Sprintf("connect to database %q", catalogName)
		return e
	}
	for name, value := range params {
		switch {
		case name == "user", name == "database", strings.HasPrefix(name, "_pq_."):
			continue
		case name == "replication":
			if value != "false" && value != "off" && value != "0" {
				return newFatal(codeInsufficientPrivilege, "replication connections are not supported")
			}
			continue
		case name == "options":
			for n, v := range parseOptions(value) {
				if e := s.params.set(n, v, s.engineSetting); e != nil {
					e.Severity = "FATAL"
					return e
				}
			}
			continue
		}
		if e := s.params.set(name, value, s.engineSetting); e != nil {
			e.Severity = "FATAL"
			return e
		}
	}
	s.params.limitTimeout(s.srv.opts.StatementTimeout)
	return nil
}

// parseOptions reads the startup "options" parameter: -c name=value and
// --name=value pairs.
func parseOptions(options string) map[string]string {
	out := map[string]string{}
	fields := strings.Fields(options)
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		if f == "-c" && i+1 < len(fields) {
			i++
			f = fields[i]
		} else if rest, ok := strings.CutPrefix(f, "--"); ok {
			f = rest
		} else if rest, ok := strings.CutPrefix(f, "-c"); ok {
			f = rest
		} else {
			continue
		}
		if name, value, ok := strings.Cut(f, "="); ok {
			out[strings.ReplaceAll(name, "-", "_")] = value
		}
	}
	return out
}

// engineSetting reports whether name is a DuckDB setting, which clients may
// not change.
func (s *session) engineSetting(name string) bool {
	return s.srv.engines.isSetting(strings.ToLower(name))
}

// run serves messages until the client leaves or the server shuts down. On
// shutdown the read deadline ends the wait for the next message, after the
// running statement has answered.
func (s *session) run() {
	defer s.cleanup()
	for {
		msg, err := s.be.Receive()
		if err != nil {
			if s.isStopping() {
				s.send(asPGError(nil, errShuttingDown).response())
				s.flush()
			}
			return
		}
		if _, ok := msg.(*pgproto3.Terminate); ok {
			return
		}
		if s.ignoreTillSync {
			if _, ok := msg.(*pgproto3.Sync); !ok {
				continue
			}
		}
		switch m := msg.(type) {
		case *pgproto3.Query:
			s.simpleQuery(m.String)
		case *pgproto3.Parse:
			s.extended(s.parse(m))
		case *pgproto3.Bind:
			s.extended(s.bind(m))
		case *pgproto3.Describe:
			s.extended(s.describe(m))
		case *pgproto3.Execute:
			s.extended(s.execute(m))
		case *pgproto3.Close:
			s.extended(s.closeObject(m))
		case *pgproto3.Sync:
			s.sync()
		case *pgproto3.Flush:
			s.flush()
		case *pgproto3.CopyData, *pgproto3.CopyDone, *pgproto3.CopyFail:
			// Stray COPY FROM data after a refused COPY FROM: ignore it.
		default:
			s.send(newFatal(codeProtocolViolation, fmt.Sprintf("unsupported message %T", msg)).response())
			s.flush()
			return
		}
		if err := s.writeErr(); err != nil {
			return
		}
	}
}

// writeErr flushes when the buffer is large and reports a broken connection.
func (s *session) writeErr() error {
	if s.buffered >= flushThreshold {
		return s.flush()
	}
	return nil
}

func (s *session) send(msg pgproto3.BackendMessage) {
	s.be.Send(msg)
	s.buffered += 64
}

func (s *session) flush() error {
	s.buffered = 0
	return s.be.Flush()
}

// shutdown asks the session to end: at once when idle, after the running
// statement otherwise. Called with the server lock held.
func (s *session) shutdown() {
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	// Wake a session blocked in Receive; a busy one sees it on its next read.
	s.conn.SetReadDeadline(time.Now())
}

func (s *session) isStopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

func (s *session) cancelRunning() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running != nil {
		s.running.cancel(errCanceledByClient)
	}
}

// statementContext returns the context of one statement: canceled by a
// CancelRequest, by the statement timeout, or by the server shutting down.
func (s *session) statementContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(s.queries)
	timeout := s.srv.opts.StatementTimeout
	if own := s.params.statementTimeout(); own > 0 && (timeout == 0 || own < timeout) {
		timeout = own
	}
	stopTimer := func() bool { return false }
	if timeout > 0 {
		timer := time.AfterFunc(timeout, func() { cancel(errStatementTimeout) })
		stopTimer = timer.Stop
	}
	run := &runningStatement{cancel: cancel}
	s.mu.Lock()
	s.running = run
	s.mu.Unlock()
	return ctx, func() {
		stopTimer()
		s.mu.Lock()
		if s.running == run {
			s.running = nil
		}
		s.mu.Unlock()
		cancel(context.Canceled)
	}
}

// engine returns the version the current statement reads: the one pinned by
// the transaction, or the latest, pinned until the end of the implicit
// transaction (the query message, or the next Sync).
func (s *session) engine(ctx context.Context) (*engine, *pgError) {
	if s.pinned != nil {
		return s.pinned, nil
	}
	eng, err := s.srv.engines.acquire(ctx)
	if err != nil {
		s.log.Error("cannot serve marts", logErr, err)
		e := newError(codeCannotConnectNow, "no published marts version can be served")
		e.Detail = err.Error()
		return nil, e
	}
	s.pinned = eng
	return eng, nil
}

// endImplicitTransaction releases what a statement outside BEGIN held.
func (s *session) endImplicitTransaction() {
	if !s.inTx {
		s.closePortals(false)
		s.unpin()
	}
}

func (s *session) unpin() {
	if s.pinned != nil {
		s.srv.engines.release(s.pinned)
		s.pinned = nil
	}
}

// closePortals closes the portals and cursors a transaction end closes, or
// all of them, WITH HOLD cursors too.
func (s *session) closePortals(all bool) {
	for name, p := range s.portals {
		if p.hold && !all {
			continue
		}
		p.close()
		delete(s.portals, name)
	}
}

func (s *session) cleanup() {
	s.closePortals(true)
	s.unpin()
}

// simpleQuery runs a Query message: each statement in turn, in one implicit
// transaction that reads one version, stopping at the first error.
func (s *session) simpleQuery(sql string) {
	defer func() {
		s.send(&pgproto3.ReadyForQuery{TxStatus: s.txStatus})
		s.flush()
	}()
	// The unnamed statement and portal do not survive a simple query.
	delete(s.stmts, "")
	if p := s.portals[""]; p != nil {
		p.close()
		delete(s.portals, "")
	}
	stmts := splitStatements(sql)
	if len(stmts) == 0 {
		s.send(&pgproto3.EmptyQueryResponse{})
		return
	}
	for _, st := range stmts {
		cmd := classify(st)
		if err := s.runSimple(cmd); err != nil {
			s.fail(err)
			break
		}
		if s.writeErr() != nil {
			break
		}
	}
	s.endImplicitTransaction()
}

// fail reports an error and, inside a transaction block, aborts it.
func (s *session) fail(e *pgError) {
	s.send(e.response())
	if s.inTx {
		s.txStatus = txFailed
	}
	if e.Severity == "FATAL" {
		s.flush()
		s.conn.Close()
	}
}

// extended handles the result of an extended-protocol message: after an
// error, everything up to Sync is skipped.
func (s *session) extended(e *pgError) {
	if e == nil {
		return
	}
	s.fail(e)
	s.ignoreTillSync = true
}

func (s *session) sync() {
	s.ignoreTillSync = false
	s.endImplicitTransaction()
	s.send(&pgproto3.ReadyForQuery{TxStatus: s.txStatus})
	s.flush()
}

// runSimple runs one statement of a simple query.
func (s *session) runSimple(cmd command) *pgError {
	if e := s.checkAborted(cmd); e != nil {
		return e
	}
	switch cmd.kind {
	case cmdQuery, cmdCopyOut:
		p, e := s.rewrite(cmd)
		if e != nil {
			return e
		}
		pt := &portal{stmt: p}
		defer pt.close()
		if cmd.kind == cmdCopyOut {
			return s.runCopy(pt)
		}
		return s.runPortal(pt, 0, true)
	}
	return s.runServerCommand(cmd, true, nil)
}

// checkAborted refuses everything but the end of a failed transaction.
func (s *session) checkAborted(cmd command) *pgError {
	if s.txStatus != txFailed {
		return nil
	}
	switch cmd.kind {
	case cmdCommit, cmdRollback, cmdRollbackTo:
		return nil
	}
	return newError(codeInFailedTransaction, "current transaction is aborted, commands ignored until end of transaction block")
}

// runServerCommand answers the statements the server handles itself.
// describe sends the RowDescription of SHOW (the simple protocol does; the
// extended one sent it on Describe).
func (s *session) runServerCommand(cmd command, describe bool, formats []int16) *pgError {
	switch cmd.kind {
	case cmdRefused:
		return cmd.err
	case cmdBegin:
		if s.inTx {
			s.notice(codeActiveTransaction, "there is already a transaction in progress")
		} else {
			s.inTx, s.txStatus = true, txActive
			s.txParams, s.local = s.params.clone(), sessionParams{}
		}
	case cmdCommit, cmdRollback:
		if !s.inTx {
			s.notice(codeNoActiveTransaction, "there is no transaction in progress")
			break
		}
		if cmd.kind == cmdCommit && s.txStatus == txFailed {
			cmd.tag = "ROLLBACK"
		}
		if cmd.tag == "ROLLBACK" {
			s.restoreParams(s.txParams)
		} else {
			s.restoreParams(s.withLocalUndone())
		}
		s.endTransaction()
	case cmdSavepoint:
		if !s.inTx {
			return newError(codeNoActiveTransaction, "SAVEPOINT can only be used in transaction blocks")
		}
		s.saves = append(s.saves, savepoint{name: cmd.param, params: s.params.clone()})
	case cmdRelease, cmdRollbackTo:
		if !s.inTx {
			return newError(codeNoActiveTransaction, fmt.Sprintf("%s can only be used in transaction blocks", strings.ToUpper(cmd.stmt.word(0).text)))
		}
		i := len(s.saves) - 1
		for i >= 0 && s.saves[i].name != cmd.param {
			i--
		}
		if i < 0 {
			return newError(codeInvalidSavepoint, fmt.Sprintf("savepoint %q does not exist", cmd.param))
		}
		if cmd.kind == cmdRollbackTo {
			s.restoreParams(s.saves[i].params)
			s.saves = s.saves[:i+1]
			s.txStatus = txActive
		} else {
			s.saves = s.saves[:i]
		}
	case cmdSet:
		if cmd.local && !s.inTx {
			s.notice(codeNoActiveTransaction, "SET LOCAL can only be used in transaction blocks")
			break
		}
		before := s.params.clone()
		var e *pgError
		if cmd.reset {
			e = s.params.reset(cmd.param, s.engineSetting)
		} else {
			e = s.params.set(cmd.param, cmd.value, s.engineSetting)
		}
		if e != nil {
			return e
		}
		if cmd.local {
			key := strings.ToLower(cmd.param)
			if _, saved := s.local[key]; !saved {
				s.local[key] = before[key]
			}
		}
		s.params.limitTimeout(s.srv.opts.StatementTimeout)
		s.reportChanges(before)
	case cmdReset:
		before := s.params.clone()
		if cmd.param == "all" {
			for _, d := range paramDefs {
				s.params.reset(d.name, s.engineSetting)
			}
		} else if e := s.params.reset(cmd.param, s.engineSetting); e != nil {
			return e
		}
		s.params.limitTimeout(s.srv.opts.StatementTimeout)
		s.reportChanges(before)
	case cmdShow:
		return s.show(cmd, describe, formats)
	case cmdDeclare:
		if !cmd.hold && !s.inTx {
			return newError(codeNoActiveTransaction, "DECLARE CURSOR can only be used in transaction blocks")
		}
		if _, exists := s.portals[cmd.param]; exists {
			return newError(codeDuplicateCursor, fmt.Sprintf("cursor %q already exists", cmd.param))
		}
		p, e := s.rewrite(command{kind: cmdQuery, stmt: cmd.query})
		if e != nil {
			return e
		}
		pt := &portal{stmt: p, hold: cmd.hold}
		if e := s.open(pt); e != nil {
			return e
		}
		s.portals[cmd.param] = pt
	case cmdFetch, cmdMove:
		return s.fetch(cmd, describe, formats)
	case cmdPrepare:
		if _, exists := s.stmts[cmd.param]; exists || cmd.param == "" {
			return newError(codeDuplicatePreparedStmt, fmt.Sprintf("prepared statement %q already exists", cmd.param))
		}
		inner := classify(cmd.query)
		if inner.kind != cmdQuery {
			return newError(codeFeatureNotSupported, "PREPARE supports queries only")
		}
		p, e := s.prepareQuery(inner, nil)
		if e != nil {
			return e
		}
		s.stmts[cmd.param] = p
	case cmdExecute:
		pt, e := s.executePortal(cmd)
		if e != nil {
			return e
		}
		pt.formats = formats
		defer pt.close()
		return s.runPortal(pt, 0, describe)
	case cmdCloseCursor:
		if cmd.param == "all" {
			s.closePortals(true)
		} else if pt, ok := s.portals[cmd.param]; ok {
			pt.close()
			delete(s.portals, cmd.param)
		} else {
			return newError(codeInvalidCursorName, fmt.Sprintf("cursor %q does not exist", cmd.param))
		}
	case cmdDiscard:
		if s.inTx {
			return newError(codeActiveTransaction, "DISCARD ALL cannot run inside a transaction block")
		}
		before := s.params.clone()
		s.params = newSessionParams(s.user, s.srv.opts.MaxConnections, s.params["ssl"] == "on")
		s.params.limitTimeout(s.srv.opts.StatementTimeout)
		s.reportChanges(before)
		s.closePortals(true)
		clear(s.stmts)
	case cmdDeallocate:
		if cmd.param == "all" {
			clear(s.stmts)
		} else if _, ok := s.stmts[cmd.param]; !ok {
			return newError(codeUndefinedPreparedStmt, fmt.Sprintf("prepared statement %q does not exist", cmd.param))
		} else {
			delete(s.stmts, cmd.param)
		}
	}
	s.send(&pgproto3.CommandComplete{CommandTag: []byte(cmd.tag)})
	return nil
}

// endTransaction closes the transaction block and lets go of its version.
func (s *session) endTransaction() {
	s.closePortals(false)
	s.inTx, s.txStatus = false, txIdle
	s.txParams, s.local, s.saves = nil, nil, nil
	s.unpin()
}

// withLocalUndone returns the parameters with SET LOCAL changes reverted.
func (s *session) withLocalUndone() sessionParams {
	p := s.params.clone()
	for k, v := range s.local {
		p[k] = v
	}
	return p
}

func (s *session) restoreParams(p sessionParams) {
	if p == nil {
		return
	}
	before := s.params
	s.params = p.clone()
	s.reportChanges(before)
}

// reportChanges sends ParameterStatus for reported parameters that changed.
func (s *session) reportChanges(before sessionParams) {
	old := before.reported()
	for name, value := range s.params.reported() {
		if old[name] != value {
			s.send(&pgproto3.ParameterStatus{Name: name, Value: value})
		}
	}
}

func (s *session) notice(code, message string) {
	s.send(&pgproto3.NoticeResponse{Severity: "WARNING", SeverityUnlocalized: "WARNING", Code: code, Message: message})
}

// showColumns describes the result of SHOW.
func showColumns(cmd command) []column {
	if cmd.param == "all" {
		return []column{textColumn("name"), textColumn("setting"), textColumn("description")}
	}
	name := cmd.param
	if def, ok := paramByName(name); ok {
		name = def.name
	}
	return []column{textColumn(name)}
}

func textColumn(name string) column {
	return column{name: name, typmod: -1}.as(oidText, kindText)
}

func (s *session) show(cmd command, describe bool, formats []int16) *pgError {
	var rows [][]string
	if cmd.param == "all" {
		for _, r := range s.params.all() {
			rows = append(rows, r[:])
		}
	} else {
		value, ok := s.params.get(cmd.param)
		if !ok {
			return newError(codeUndefinedObject, fmt.Sprintf("unrecognized configuration parameter %q", cmd.param))
		}
		rows = append(rows, []string{value})
	}
	cols := showColumns(cmd)
	if describe {
		s.send(rowDescription(cols, formats))
	}
	for _, r := range rows {
		values := make([][]byte, len(r))
		for i, v := range r {
			values[i] = []byte(v)
		}
		s.send(&pgproto3.DataRow{Values: values})
	}
	s.send(&pgproto3.CommandComplete{CommandTag: []byte("SHOW")})
	return nil
}

// rowDescription describes cols with the result formats of a Bind.
func rowDescription(cols []column, formats []int16) *pgproto3.RowDescription {
	fields := make([]pgproto3.FieldDescription, len(cols))
	for i, c := range cols {
		fields[i] = pgproto3.FieldDescription{
			Name:         []byte(c.name),
			DataTypeOID:  c.oid,
			DataTypeSize: c.length,
			TypeModifier: c.typmod,
			Format:       formatOf(formats, i),
		}
	}
	return &pgproto3.RowDescription{Fields: fields}
}

// formatOf applies the Bind rule: no codes means text, one code applies to
// all columns, otherwise one code per column.
func formatOf(formats []int16, i int) int16 {
	switch len(formats) {
	case 0:
		return 0
	case 1:
		return formats[0]
	}
	if i < len(formats) {
		return formats[i]
	}
	return 0
}
