package serve

import (
	"fmt"

	"github.com/jackc/pgx/v5/pgproto3"
)

// The extended query protocol: Parse, Bind, Describe, Execute, Close. Each
// handler returns the error to report; the session then skips to Sync.

func (s *session) parse(m *pgproto3.Parse) *pgError {
	if _, exists := s.stmts[m.Name]; exists && m.Name != "" {
		return newError(codeDuplicatePreparedStmt, fmt.Sprintf("prepared statement %q already exists", m.Name))
	}
	stmts := splitStatements(m.Query)
	var p *prepared
	switch len(stmts) {
	case 0:
		p = &prepared{paramOIDs: m.ParameterOIDs}
	case 1:
		cmd := classify(stmts[0])
		if e := s.checkAborted(cmd); e != nil {
			return e
		}
		switch cmd.kind {
		case cmdQuery, cmdCopyOut:
			var e *pgError
			if p, e = s.prepareQuery(cmd, m.ParameterOIDs); e != nil {
				return e
			}
			if cmd.kind == cmdCopyOut {
				p.columns = nil
			}
		case cmdRefused:
			return cmd.err
		case cmdShow:
			p = &prepared{cmd: cmd, paramOIDs: m.ParameterOIDs, columns: showColumns(cmd)}
		case cmdFetch:
			p = &prepared{cmd: cmd, paramOIDs: m.ParameterOIDs}
			if pt, ok := s.portals[cmd.param]; ok {
				p.columns = pt.columns
			}
		case cmdExecute:
			p = &prepared{cmd: cmd, paramOIDs: m.ParameterOIDs}
			if target, ok := s.stmts[cmd.param]; ok {
				p.columns = target.columns
			}
		default:
			p = &prepared{cmd: cmd, paramOIDs: m.ParameterOIDs}
		}
	default:
		return newError(codeSyntaxError, "cannot insert multiple commands into a prepared statement")
	}
	s.stmts[m.Name] = p
	s.send(&pgproto3.ParseComplete{})
	return nil
}

func (s *session) bind(m *pgproto3.Bind) *pgError {
	p, ok := s.stmts[m.PreparedStatement]
	if !ok {
		return newError(codeUndefinedPreparedStmt, fmt.Sprintf("prepared statement %q does not exist", m.PreparedStatement))
	}
	if old, exists := s.portals[m.DestinationPortal]; exists {
		if m.DestinationPortal != "" {
			return newError(codeDuplicateCursor, fmt.Sprintf("portal %q already exists", m.DestinationPortal))
		}
		old.close()
	}
	if len(m.Parameters) != len(p.paramOIDs) {
		return newError(codeProtocolViolation, fmt.Sprintf("bind message supplies %d parameters, but prepared statement %q requires %d",
			len(m.Parameters), m.PreparedStatement, len(p.paramOIDs)))
	}
	if n := len(m.ParameterFormatCodes); n > 1 && n != len(m.Parameters) {
		return newError(codeProtocolViolation, fmt.Sprintf("bind message has %d parameter formats but %d parameters", n, len(m.Parameters)))
	}
	if n := len(m.ResultFormatCodes); n > 1 && n != len(p.columns) {
		return newError(codeProtocolViolation, fmt.Sprintf("bind message has %d result formats but query has %d columns", n, len(p.columns)))
	}
	args := make([]any, len(m.Parameters))
	for i, raw := range m.Parameters {
		binary := formatOf(m.ParameterFormatCodes, i) == 1
		v, err := decodeParam(p.paramOIDs[i], binary, raw)
		if err != nil {
			code := codeInvalidTextRepr
			if binary {
				code = codeInvalidBinaryRepr
			}
			return newError(code, fmt.Sprintf("parameter $%d: %v", i+1, err))
		}
		args[i] = v
	}
	s.portals[m.DestinationPortal] = &portal{stmt: p, args: args, formats: m.ResultFormatCodes}
	s.send(&pgproto3.BindComplete{})
	return nil
}

func (s *session) describe(m *pgproto3.Describe) *pgError {
	switch m.ObjectType {
	case 'S':
		p, ok := s.stmts[m.Name]
		if !ok {
			return newError(codeUndefinedPreparedStmt, fmt.Sprintf("prepared statement %q does not exist", m.Name))
		}
		s.send(&pgproto3.ParameterDescription{ParameterOIDs: p.paramOIDs})
		s.describeRows(p.columns, nil)
	case 'P':
		pt, ok := s.portals[m.Name]
		if !ok {
			return newError(codeInvalidCursorName, fmt.Sprintf("portal %q does not exist", m.Name))
		}
		cols := pt.stmt.columns
		if cols == nil {
			// A cursor opened by DECLARE: its query has run.
			cols = pt.columns
		}
		s.describeRows(cols, pt.formats)
	default:
		return newError(codeProtocolViolation, fmt.Sprintf("invalid DESCRIBE message subtype %d", m.ObjectType))
	}
	return nil
}

func (s *session) describeRows(cols []column, formats []int16) {
	if cols == nil {
		s.send(&pgproto3.NoData{})
		return
	}
	s.send(rowDescription(cols, formats))
}

func (s *session) execute(m *pgproto3.Execute) *pgError {
	pt, ok := s.portals[m.Portal]
	if !ok {
		return newError(codeInvalidCursorName, fmt.Sprintf("portal %q does not exist", m.Portal))
	}
	cmd := pt.stmt.cmd
	if e := s.checkAborted(cmd); e != nil {
		return e
	}
	switch {
	case cmd.stmt.words == nil:
		s.send(&pgproto3.EmptyQueryResponse{})
		return nil
	case cmd.kind == cmdQuery:
		return s.runPortal(pt, int64(m.MaxRows), false)
	case cmd.kind == cmdCopyOut:
		return s.runCopy(pt)
	}
	return s.runServerCommand(cmd, false, pt.formats)
}

func (s *session) closeObject(m *pgproto3.Close) *pgError {
	switch m.ObjectType {
	case 'S':
		delete(s.stmts, m.Name)
	case 'P':
		if pt, ok := s.portals[m.Name]; ok {
			pt.close()
			delete(s.portals, m.Name)
		}
	default:
		return newError(codeProtocolViolation, fmt.Sprintf("invalid CLOSE message subtype %d", m.ObjectType))
	}
	s.send(&pgproto3.CloseComplete{})
	return nil
}
