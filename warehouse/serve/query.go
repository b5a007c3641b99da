package serve

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/jackc/pgx/v5/pgproto3"
)

// prepared is a parsed statement: a named or unnamed prepared statement of
// the extended protocol, or one statement of a simple query.
type prepared struct {
	cmd       command
	sql       string   // what the engine runs, for queries and COPY
	paramOIDs []uint32 // parameter types as reported to the client
	casts     []string // DuckDB types of the parameters, for inlining
	columns   []column // result columns; nil when there are none
	lookup    *lookupPlan
	types     []uint32 // result column types that replace the engine's, for a known client query
}

// portal is a prepared statement with its parameters bound, or a cursor
// opened by DECLARE.
type portal struct {
	stmt    *prepared
	args    []any
	formats []int16
	cur     *cursor  // open rows of a suspended Execute or of a cursor
	columns []column // result columns, known once the query runs
	hold    bool     // DECLARE ... WITH HOLD: kept at the end of the transaction
	done    bool
}

func (p *portal) close() {
	if p.cur != nil {
		p.cur.close()
		p.cur = nil
	}
}

// cursor is a running query on one engine connection.
type cursor struct {
	engines *engines
	eng     *engine
	conn    *sql.Conn
	stmt    *duckdb.Stmt
	rows    driver.Rows
	ctx     context.Context
	cancel  context.CancelFunc
	values  []driver.Value
	columns []column
	count   int64
}

func (c *cursor) close() {
	if c.rows != nil {
		c.rows.Close()
	}
	if c.stmt != nil {
		c.stmt.Close()
	}
	if c.conn != nil {
		c.conn.Close()
	}
	c.cancel()
	c.engines.release(c.eng)
}

// checkStatementType lets through only statements that read: queries and
// EXPLAIN of queries.
func checkStatementType(stmt *duckdb.Stmt) *pgError {
	t, err := stmt.StatementType()
	if err != nil {
		return asPGError(err, nil)
	}
	switch t {
	case duckdb.STATEMENT_TYPE_SELECT, duckdb.STATEMENT_TYPE_EXPLAIN:
		return nil
	}
	return errReadOnly("this statement")
}

// withDuckStmt prepares query on a connection of eng and calls f with it.
// The statement stays open if f returns keep = true.
func withDuckStmt(ctx context.Context, eng *engine, query string, f func(conn *sql.Conn, stmt *duckdb.Stmt) (keep bool, e *pgError)) *pgError {
	conn, err := eng.db.Conn(ctx)
	if err != nil {
		return asPGError(err, context.Cause(ctx))
	}
	keep := false
	var fe *pgError
	err = conn.Raw(func(dc any) error {
		// Prepare, unlike PrepareContext, refuses a string of several
		// statements instead of running all but the last.
		st, err := dc.(*duckdb.Conn).Prepare(query)
		if err != nil {
			return err
		}
		stmt := st.(*duckdb.Stmt)
		keep, fe = f(conn, stmt)
		if !keep {
			stmt.Close()
		}
		return nil
	})
	if err != nil || !keep {
		conn.Close()
	}
	if err != nil {
		return asPGError(err, context.Cause(ctx))
	}
	return fe
}

// describeStmt returns the result columns of a prepared DuckDB statement.
func describeStmt(stmt *duckdb.Stmt) []column {
	n, err := stmt.ColumnCount()
	if err != nil {
		return nil
	}
	cols := make([]column, n)
	for i := range n {
		name, _ := stmt.ColumnName(i)
		info, err := stmt.ColumnTypeInfo(i)
		if err != nil {
			info = nil
		}
		cols[i] = columnFor(pgColumnName(name), info)
	}
	return cols
}

// describe returns the result columns of the prepared statement's engine
// statement, with the types the server knows better.
func (p *prepared) describe(stmt *duckdb.Stmt) []column {
	cols := describeStmt(stmt)
	if len(p.types) == len(cols) {
		for i, oid := range p.types {
			cols[i] = columnOfType(cols[i].name, oid)
		}
	}
	return cols
}

var functionColumn = regexp.MustCompile(`^(?:[A-Za-z_][A-Za-z0-9_]*\.)*"?([A-Za-z_][A-Za-z0-9_]*)"?\(.*\)$`)

// pgColumnName names result columns the way PostgreSQL does where DuckDB
// differs: count(*) is "count" rather than "count_star()", a function call
// is named after the function, a bare literal or expression is "?column?".
func pgColumnName(name string) string {
	if m := functionColumn.FindStringSubmatch(name); m != nil && !strings.HasPrefix(strings.ToUpper(name), "CAST(") {
		if m[1] == "count_star" {
			return "count"
		}
		return m[1]
	}
	if strings.HasPrefix(name, "'") || strings.HasPrefix(name, "(") || strings.HasPrefix(strings.ToUpper(name), "CAST(") {
		return "?column?"
	}
	if _, err := strconv.ParseFloat(name, 64); err == nil {
		return "?column?"
	}
	return name
}

// rewrite adapts a query or COPY to the engine; simple queries run it as is.
func (s *session) rewrite(cmd command) (*prepared, *pgError) {
	st := cmd.stmt
	if cmd.kind == cmdCopyOut {
		st = cmd.copy.query
	}
	s.noteQuery(cmd.stmt.text())
	text, e := rewriteForEngine(st, s.rewriteContext())
	if e != nil {
		return nil, e
	}
	p := &prepared{cmd: cmd, sql: text}
	if isAsyncpgTypeIntrospection(st) {
		p.sql, p.types = asyncpgTypesSQL, asyncpgTypeColumns
	}
	if cmd.kind == cmdQuery {
		p.lookup = matchLookup(st)
	}
	return p, nil
}

//go:embed asyncpg_types.sql
var asyncpgTypesSQL string

// asyncpgTypeColumns are the types of asyncpg_types.sql's columns: asyncpg
// decodes them with its built-in codecs, which know oid[] and text[] but not
// bigint[] and varchar[].
var asyncpgTypeColumns = []uint32{oidOID, oidName, oidName, oidChar, oidOID, oidOID, oidChar, oidOID,
	arrayOf(oidOID), arrayOf(oidText), oidInt4, oidText, oidText, oidText}

// isAsyncpgTypeIntrospection recognizes asyncpg's type introspection query
// by its recursive CTE, typeinfo_tree.
func isAsyncpgTypeIntrospection(st statement) bool {
	return st.word(0).is("WITH") && st.word(1).is("RECURSIVE") && st.word(2).is("typeinfo_tree")
}

// prepareQuery rewrites and prepares a query or COPY for the engine, to
// learn its parameters and columns. declared are the parameter types a
// Parse message gave.
func (s *session) prepareQuery(cmd command, declared []uint32) (*prepared, *pgError) {
	p, e := s.rewrite(cmd)
	if e != nil {
		return nil, e
	}
	ctx, done := s.statementContext()
	defer done()
	eng, e := s.engine(ctx)
	if e != nil {
		return nil, e
	}
	var describeSQL string
	describe := func(_ *sql.Conn, stmt *duckdb.Stmt) (bool, *pgError) {
		if e := checkStatementType(stmt); e != nil {
			return false, e
		}
		n := max(stmt.NumInput(), len(declared))
		p.paramOIDs = make([]uint32, n)
		p.casts = make([]string, n)
		untyped, lists := map[int]string{}, map[int]string{}
		castOIDs := castParamOIDs(p.sql)
		for i := range n {
			var declaredOID uint32
			if i < len(declared) {
				declaredOID = declared[i]
			}
			if declaredOID == 0 {
				declaredOID = castOIDs[i+1]
			}
			var duckType duckdb.Type
			if i < stmt.NumInput() {
				duckType, _ = stmt.ParamType(i + 1)
			}
			p.paramOIDs[i] = paramOID(declaredOID, duckType)
			p.casts[i] = duckParamTypes[duckType]
			_, isArray := arrayElement(p.paramOIDs[i])
			switch {
			case i >= stmt.NumInput():
			case duckType == duckdb.TYPE_INVALID || duckType == duckdb.TYPE_ANY:
				untyped[i+1] = duckTypeForOID(p.paramOIDs[i])
			case isArray:
				lists[i+1] = duckTypeForOID(p.paramOIDs[i])
			}
		}
		if len(untyped) > 0 || len(lists) > 0 {
			p.sql = castUntypedParams(p.sql, untyped)
			// DuckDB resolves no result type of a statement with a list
			// parameter: describe it with typed NULLs in their place.
			describeSQL = typedNullParams(p.sql, lists)
			return false, nil
		}
		p.columns = p.describe(stmt)
		return false, nil
	}
	if e := withDuckStmt(ctx, eng, p.sql, describe); e != nil {
		return nil, e
	}
	if p.columns == nil {
		// Parameters got casts; prepare again for the column types.
		e := withDuckStmt(ctx, eng, describeSQL, func(_ *sql.Conn, stmt *duckdb.Stmt) (bool, *pgError) {
			p.columns = p.describe(stmt)
			return false, nil
		})
		if e != nil {
			return nil, e
		}
	}
	return p, nil
}

func (s *session) rewriteContext() rewriteContext {
	return rewriteContext{user: s.user, pid: s.pid, setting: s.params.get,
		activity: func() string { return s.srv.statActivity(s.user, s.pid) }}
}

// paramOID picks the type reported for a parameter: the client's, else the
// one DuckDB inferred, else text.
func paramOID(declared uint32, duckType duckdb.Type) uint32 {
	if declared != 0 {
		return declared
	}
	var info duckdb.TypeInfo
	if duckType != duckdb.TYPE_DECIMAL && duckType != duckdb.TYPE_INVALID && duckType != duckdb.TYPE_ANY {
		info, _ = duckdb.NewTypeInfo(duckType)
	}
	if duckType == duckdb.TYPE_DECIMAL {
		return oidNumeric
	}
	if info == nil {
		return oidText
	}
	return columnFor("", info).oid
}

// duckTypeForOID is the DuckDB type an untyped parameter is cast to.
func duckTypeForOID(oid uint32) string {
	switch oid {
	case oidNumeric, oidText, oidVarchar, oidBPChar, oidName, oidUnknown, oidJSON:
		return "VARCHAR"
	case oidOID:
		return "BIGINT"
	}
	if t, ok := typeByOID(oid); ok && t.duck != "" {
		return t.duck
	}
	if elem, ok := arrayElement(oid); ok {
		return duckTypeForOID(elem.oid) + "[]"
	}
	return "VARCHAR"
}

// maxOpenCursors bounds the queries one connection keeps open at once
// (suspended portals and cursors): each holds an engine connection and a
// streaming result's buffers.
const maxOpenCursors = 32

// open starts the portal's query and keeps its rows for runPortal.
func (s *session) open(pt *portal) *pgError {
	open := 0
	for _, p := range s.portals {
		if p.cur != nil && p != pt {
			open++
		}
	}
	if open >= maxOpenCursors {
		return newError(codeProgramLimitExceeded, fmt.Sprintf("too many open cursors and portals in this connection: at most %d run at once; close some (CLOSE, or end the transaction)", maxOpenCursors))
	}
	ctx, done := s.statementContext()
	eng, e := s.engine(ctx)
	if e != nil {
		done()
		return e
	}
	s.srv.engines.retain(eng)
	fail := func(e *pgError) *pgError {
		done()
		s.srv.engines.release(eng)
		return e
	}
	cur := &cursor{engines: s.srv.engines, eng: eng, ctx: ctx, cancel: done}
	if pt.stmt.lookup != nil {
		cols, rows, ok, err := lookupResult(eng, pt.stmt.lookup, pt.args, pt.stmt.casts)
		if err != nil {
			return fail(newError(codeInternalError, err.Error()))
		}
		if ok {
			if pt.stmt.columns != nil && !sameColumns(cols, pt.stmt.columns) {
				return fail(errPlanChanged())
			}
			cur.rows, cur.columns = rows, cols
			cur.values = make([]driver.Value, len(cols))
			pt.cur, pt.columns = cur, cols
			return nil
		}
	}
	query := pt.stmt.sql
	if len(pt.args) > 0 {
		query = inlineParams(query, pt.args, pt.stmt.casts)
	}
	e = withDuckStmt(ctx, eng, query, func(conn *sql.Conn, stmt *duckdb.Stmt) (bool, *pgError) {
		cur.conn, cur.stmt = conn, stmt
		if e := checkStatementType(stmt); e != nil {
			return false, e
		}
		cur.columns = pt.stmt.describe(stmt)
		if pt.stmt.columns != nil && !sameColumns(cur.columns, pt.stmt.columns) {
			return false, errPlanChanged()
		}
		rows, err := queryStreaming(ctx, stmt)
		if err != nil {
			return false, asPGError(err, context.Cause(ctx))
		}
		cur.rows = rows
		cur.values = make([]driver.Value, len(cur.columns))
		return true, nil
	})
	if e != nil {
		return fail(e)
	}
	pt.cur, pt.columns = cur, cur.columns
	return nil
}

// errPlanChanged is PostgreSQL's answer to a prepared statement whose result
// columns changed under it.
func errPlanChanged() *pgError {
	return newError(codeFeatureNotSupported, "cached plan must not change result type: the marts were republished with a different schema; prepare the statement again")
}

func sameColumns(a, b []column) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].oid != b[i].oid {
			return false
		}
	}
	return true
}

// runPortal sends up to maxRows rows (0: all) of the portal's query and
// then CommandComplete, or PortalSuspended if rows may remain.
func (s *session) runPortal(pt *portal, maxRows int64, describe bool) *pgError {
	if pt.done {
		s.send(&pgproto3.CommandComplete{CommandTag: []byte("SELECT 0")})
		return nil
	}
	if pt.cur == nil {
		if e := s.open(pt); e != nil {
			return e
		}
		if describe {
			s.send(rowDescription(pt.columns, pt.formats))
		}
	}
	_, more, e := s.sendRows(pt, maxRows, pt.formats)
	if e != nil {
		return e
	}
	if more {
		s.send(&pgproto3.PortalSuspended{})
		return nil
	}
	tag := "SELECT " + strconv.FormatInt(pt.cur.count, 10)
	if pt.stmt.cmd.stmt.word(0).is("EXPLAIN") {
		tag = "EXPLAIN"
	}
	s.send(&pgproto3.CommandComplete{CommandTag: []byte(tag)})
	pt.close()
	pt.done = true
	return nil
}

// executePortal binds the values of SQL EXECUTE to the prepared statement
// it names: each value, an SQL expression, takes the place of its $n.
func (s *session) executePortal(cmd command) (*portal, *pgError) {
	p, ok := s.stmts[cmd.param]
	if !ok || p.cmd.kind != cmdQuery {
		return nil, newError(codeUndefinedPreparedStmt, fmt.Sprintf("prepared statement %q does not exist", cmd.param))
	}
	if len(cmd.args) != len(p.paramOIDs) {
		return nil, newError(codeSyntaxError, fmt.Sprintf("wrong number of parameters for prepared statement %q: expected %d, got %d",
			cmd.param, len(p.paramOIDs), len(cmd.args)))
	}
	values := make([]string, len(cmd.args))
	for i, a := range cmd.args {
		text, e := rewriteForEngine(a, s.rewriteContext())
		if e != nil {
			return nil, e
		}
		values[i] = "(" + text + ")"
		if i < len(p.casts) && p.casts[i] != "" {
			values[i] = "CAST(" + values[i] + " AS " + p.casts[i] + ")"
		}
	}
	bound := *p
	bound.sql = substituteParams(p.sql, values)
	bound.lookup = nil
	return &portal{stmt: &bound}, nil
}

// fetch answers FETCH from a cursor opened by DECLARE, in the result formats
// of the FETCH's own Bind (nil, all text, in the simple protocol).
func (s *session) fetch(cmd command, describe bool, formats []int16) *pgError {
	pt, ok := s.portals[cmd.param]
	if !ok {
		return newError(codeInvalidCursorName, fmt.Sprintf("cursor %q does not exist", cmd.param))
	}
	if describe {
		s.send(rowDescription(pt.columns, formats))
	}
	var sent int64
	if !pt.done {
		var more bool
		var e *pgError
		if cmd.kind == cmdMove {
			sent, more, e = s.skipRows(pt, cmd.count)
		} else {
			sent, more, e = s.sendRows(pt, cmd.count, formats)
		}
		if e != nil {
			return e
		}
		if !more {
			pt.close()
			pt.done = true
		}
	}
	tag := "FETCH "
	if cmd.kind == cmdMove {
		tag = "MOVE "
	}
	s.send(&pgproto3.CommandComplete{CommandTag: []byte(tag + strconv.FormatInt(sent, 10))})
	return nil
}

// skipRows reads up to maxRows rows (0: all) of the portal's open cursor
// without sending them, for MOVE, and reports whether rows may remain.
func (s *session) skipRows(pt *portal, maxRows int64) (skipped int64, more bool, e *pgError) {
	cur := pt.cur
	for maxRows <= 0 || skipped < maxRows {
		if err := cur.rows.Next(cur.values); err != nil {
			if errors.Is(err, io.EOF) {
				return skipped, false, nil
			}
			return skipped, false, s.failPortal(pt, asPGError(err, context.Cause(cur.ctx)))
		}
		cur.count++
		skipped++
	}
	return skipped, true, nil
}

// sendRows streams up to maxRows rows (0: all) of the portal's open cursor
// in the given result formats and reports whether rows may remain.
func (s *session) sendRows(pt *portal, maxRows int64, resultFormats []int16) (sent int64, more bool, e *pgError) {
	cur := pt.cur
	tf := s.params.textFormat()
	formats := make([]bool, len(cur.columns))
	for i := range formats {
		formats[i] = formatOf(resultFormats, i) == 1
	}
	var buf []byte
	values := make([][]byte, len(cur.columns))
	offsets := make([]int, 2*len(cur.columns))
	for maxRows <= 0 || sent < maxRows {
		if err := cur.rows.Next(cur.values); err != nil {
			if errors.Is(err, io.EOF) {
				return sent, false, nil
			}
			return sent, false, s.failPortal(pt, asPGError(err, context.Cause(cur.ctx)))
		}
		if cur.count%1024 == 0 && cur.ctx.Err() != nil {
			return sent, false, s.failPortal(pt, asPGError(cur.ctx.Err(), context.Cause(cur.ctx)))
		}
		// Encode the row into one buffer, then slice it: offsets survive
		// the buffer growing.
		buf = buf[:0]
		for i, v := range cur.values {
			offsets[2*i] = -1
			if v == nil {
				continue
			}
			start := len(buf)
			var err error
			if buf, err = appendValue(buf, &cur.columns[i], v, formats[i], tf); err != nil {
				return sent, false, s.failPortal(pt, newError(codeInternalError, fmt.Sprintf("encode column %q: %v", cur.columns[i].name, err)))
			}
			offsets[2*i], offsets[2*i+1] = start, len(buf)
		}
		for i := range values {
			values[i] = nil
			if offsets[2*i] >= 0 {
				values[i] = buf[offsets[2*i]:offsets[2*i+1]]
			}
		}
		s.be.Send(&pgproto3.DataRow{Values: values})
		s.buffered += len(buf) + 4*len(values)
		cur.count++
		sent++
		if s.buffered >= flushThreshold {
			if err := s.flush(); err != nil {
				return sent, false, s.failPortal(pt, newFatal(codeProtocolViolation, "connection lost"))
			}
		}
	}
	return sent, true, nil
}

func (s *session) failPortal(pt *portal, e *pgError) *pgError {
	pt.close()
	pt.done = true
	return e
}

// binaryCopyHeader starts PostgreSQL's binary COPY format: the signature,
// 32-bit flags (no OIDs) and a header extension of length 0.
const binaryCopyHeader = "PGCOPY\n\xff\r\n\x00" + "\x00\x00\x00\x00" + "\x00\x00\x00\x00"

// runCopy answers COPY ... TO STDOUT: the query's rows as COPY text, CSV or
// binary.
func (s *session) runCopy(pt *portal) *pgError {
	if e := s.open(pt); e != nil {
		return e
	}
	cur := pt.cur
	spec := pt.stmt.cmd.copy
	tf := s.params.textFormat()
	format := uint16(0)
	if spec.binary {
		format = 1
	}
	formats := make([]uint16, len(cur.columns))
	for i := range formats {
		formats[i] = format
	}
	s.send(&pgproto3.CopyOutResponse{OverallFormat: byte(format), ColumnFormatCodes: formats})
	var line []byte
	switch {
	case spec.binary:
		// Like PostgreSQL, the header travels in the first row's message
		// (psycopg 3 expects it there), or the trailer's when there is no row.
		line = append(line, binaryCopyHeader...)
	case spec.header:
		for i, c := range cur.columns {
			if i > 0 {
				line = append(line, spec.delimiter...)
			}
			line = appendCopyField(line, []byte(c.name), spec, false)
		}
		line = append(line, '\n')
		s.send(&pgproto3.CopyData{Data: line})
		line = line[:0]
	}
	var field []byte
	for {
		if err := cur.rows.Next(cur.values); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return s.failPortal(pt, asPGError(err, context.Cause(cur.ctx)))
		}
		if cur.count%1024 == 0 && cur.ctx.Err() != nil {
			return s.failPortal(pt, asPGError(cur.ctx.Err(), context.Cause(cur.ctx)))
		}
		var err error
		if spec.binary {
			line, err = appendBinaryCopyRow(line, cur.columns, cur.values, tf)
		} else {
			line, field, err = appendTextCopyRow(line, field, cur.columns, cur.values, spec, tf)
		}
		if err != nil {
			return s.failPortal(pt, newError(codeInternalError, err.Error()))
		}
		s.be.Send(&pgproto3.CopyData{Data: line})
		s.buffered += len(line) + 5
		line = line[:0]
		cur.count++
		if s.buffered >= flushThreshold {
			if err := s.flush(); err != nil {
				return s.failPortal(pt, newFatal(codeProtocolViolation, "connection lost"))
			}
		}
	}
	if spec.binary {
		s.send(&pgproto3.CopyData{Data: binary.BigEndian.AppendUint16(line, 0xffff)}) // the trailer: field count -1
	}
	s.send(&pgproto3.CopyDone{})
	s.send(&pgproto3.CommandComplete{CommandTag: []byte("COPY " + strconv.FormatInt(cur.count, 10))})
	pt.close()
	pt.done = true
	return nil
}

// appendTextCopyRow appends one row in COPY text or CSV format; field is
// scratch space for one value.
func appendTextCopyRow(line, field []byte, cols []column, values []driver.Value, spec *copySpec, tf textFormat) ([]byte, []byte, error) {
	for i, v := range values {
		if i > 0 {
			line = append(line, spec.delimiter...)
		}
		if v == nil {
			line = append(line, spec.null...)
			continue
		}
		var err error
		field, err = appendText(field[:0], &cols[i], v, tf)
		if err != nil {
			return nil, field, fmt.Errorf("encode column %q: %w", cols[i].name, err)
		}
		line = appendCopyField(line, field, spec, true)
	}
	return append(line, '\n'), field, nil
}

// appendBinaryCopyRow appends one tuple in binary COPY format: the field
// count, then each value's length (-1 for NULL) and its binary form, the
// one the extended protocol sends.
func appendBinaryCopyRow(line []byte, cols []column, values []driver.Value, tf textFormat) ([]byte, error) {
	line = binary.BigEndian.AppendUint16(line, uint16(len(values)))
	for i, v := range values {
		var err error
		if line, err = appendBinaryField(line, &cols[i], v, tf); err != nil {
			return nil, fmt.Errorf("encode column %q: %w", cols[i].name, err)
		}
	}
	return line, nil
}

// appendCopyField escapes one value for COPY text or CSV format.
func appendCopyField(line, field []byte, spec *copySpec, value bool) []byte {
	if !spec.csv {
		for _, c := range field {
			switch c {
			case '\\':
				line = append(line, `\\`...)
			case '\n':
				line = append(line, `\n`...)
			case '\r':
				line = append(line, `\r`...)
			case '\t':
				line = append(line, `\t`...)
			default:
				if c == spec.delimiter[0] {
					line = append(line, '\\')
				}
				line = append(line, c)
			}
		}
		return line
	}
	quote := spec.forceQuote && value || len(field) == 0 && spec.null == "" ||
		string(field) == spec.null || bytes.ContainsAny(field, spec.delimiter+spec.quote+"\r\n")
	if !quote {
		return append(line, field...)
	}
	line = append(line, spec.quote...)
	for _, c := range field {
		if c == spec.quote[0] || c == spec.escape[0] {
			line = append(line, spec.escape...)
		}
		line = append(line, c)
	}
	return append(line, spec.quote...)
}
