package serve

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

// activity is what pg_stat_activity shows of a session.
type activity struct {
	started    time.Time
	query      string // the last statement, as the client sent it
	queryStart time.Time
}

// noteQuery records the statement the session is about to run.
func (s *session) noteQuery(sql string) {
	s.mu.Lock()
	s.activity.query = sql
	s.activity.queryStart = time.Now()
	s.mu.Unlock()
}

// statActivity renders the server's sessions as the rows of
// pg_stat_activity, a subquery with PostgreSQL's columns. Like PostgreSQL for
// a role that is not a superuser, another user's query text is hidden. The
// viewer's own session is running the statement that asks.
func (srv *Server) statActivity(viewer string, self uint32) string {
	srv.mu.Lock()
	sessions := make([]*session, 0, len(srv.sessions))
	for _, sess := range srv.sessions {
		sessions = append(sessions, sess)
	}
	srv.mu.Unlock()
	slices.SortFunc(sessions, func(a, b *session) int { return int(a.pid) - int(b.pid) })
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "NULL::TIMESTAMPTZ"
		}
		return "TIMESTAMPTZ " + quoteString(t.UTC().Format("2006-01-02 15:04:05.999999Z"))
	}
	var rows []string
	for _, sess := range sessions {
		sess.mu.Lock()
		act, busy := sess.activity, sess.running != nil
		sess.mu.Unlock()
		state, query := "idle", act.query
		if busy || sess.pid == self {
			state = "active"
		}
		if sess.user != viewer {
			query = "<insufficient privilege>"
		}
		host, port := "", "0"
		if sess.conn != nil {
			host, port, _ = net.SplitHostPort(sess.conn.RemoteAddr().String())
		}
		appName, _ := sess.params.get("application_name")
		rows = append(rows, fmt.Sprintf("(%d, %s, %s, %s, %s, %s, %s, %s, %s)",
			sess.pid, quoteString(sess.user), quoteString(appName), quoteString(host), port,
			ts(act.started), ts(act.queryStart), quoteString(state), quoteString(query)))
	}
	return `(SELECT 16384::BIGINT AS datid, '` + catalogName + `' AS datname, pid::INTEGER AS pid, NULL::INTEGER AS leader_pid,
		memory.pgcompat.pg_role_oid(usename) AS usesysid, usename, application_name, client_addr, NULL::VARCHAR AS client_hostname,
		client_port::INTEGER AS client_port, backend_start, NULL::TIMESTAMPTZ AS xact_start, query_start, query_start AS state_change,
		NULL::VARCHAR AS wait_event_type, NULL::VARCHAR AS wait_event, state, NULL::BIGINT AS backend_xid, NULL::BIGINT AS backend_xmin,
		NULL::BIGINT AS query_id, query, 'client backend' AS backend_type
	FROM (VALUES ` + strings.Join(rows, ", ") + `) a(pid, usename, application_name, client_addr, client_port, backend_start, query_start, state, query))`
}
