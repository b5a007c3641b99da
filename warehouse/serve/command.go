package serve

import (
	"fmt"
	"strconv"
	"strings"
)

// commandKind says who answers a statement: the server itself (transaction
// control, session parameters, COPY framing) or the DuckDB engine.
type commandKind int

const (
	cmdQuery       commandKind = iota // a query for the engine
	cmdBegin                          // BEGIN, START TRANSACTION
	cmdCommit                         // COMMIT, END
	cmdRollback                       // ROLLBACK, ABORT
	cmdSavepoint                      // SAVEPOINT name
	cmdRelease                        // RELEASE [SAVEPOINT] name
	cmdRollbackTo                     // ROLLBACK TO [SAVEPOINT] name
	cmdSet                            // SET name = value
	cmdReset                          // RESET name, RESET ALL
	cmdShow                           // SHOW name, SHOW ALL
	cmdCopyOut                        // COPY ... TO STDOUT
	cmdDiscard                        // DISCARD ALL
	cmdDeallocate                     // DEALLOCATE name, DEALLOCATE ALL
	cmdDeclare                        // DECLARE name CURSOR FOR query
	cmdFetch                          // FETCH [FORWARD] [n | ALL] FROM name
	cmdMove                           // MOVE [FORWARD] [n | ALL] FROM name: FETCH without the rows
	cmdPrepare                        // PREPARE name [(type, ...)] AS query
	cmdExecute                        // EXECUTE name [(value, ...)]
	cmdCloseCursor                    // CLOSE name, CLOSE ALL
	cmdNoop                           // accepted and ignored, e.g. SET TRANSACTION, UNLISTEN
	cmdRefused                        // never runs: writes, file access, engine control
)

// command is a classified statement.
type command struct {
	kind  commandKind
	stmt  statement
	tag   string   // CommandComplete tag of server-answered commands
	err   *pgError // why a cmdRefused command is refused
	param string   // SET, SHOW, RESET, DEALLOCATE: the parameter or statement name; "all" for ALL
	value string   // SET: the new value; empty with reset
	reset bool     // SET ... TO DEFAULT behaves like RESET
	local bool     // SET LOCAL: until the end of the transaction
	copy  *copySpec
	query statement   // DECLARE, PREPARE: the query
	hold  bool        // DECLARE ... WITH HOLD: the cursor outlives its transaction
	count int64       // FETCH, MOVE: rows to fetch; 0 means all
	args  []statement // EXECUTE: the parameter values, as SQL expressions
}

// Statements that would write, grouped by the SQLSTATE a refusal carries.
var (
	writeKeywords = map[string]bool{
		"INSERT": true, "UPDATE": true, "DELETE": true, "MERGE": true, "UPSERT": true,
		"CREATE": true, "DROP": true, "ALTER": true, "TRUNCATE": true, "GRANT": true,
		"REVOKE": true, "COMMENT": true, "REINDEX": true, "CLUSTER": true, "REFRESH": true,
		"IMPORT": true, "LOCK": true, "SECURITY": true, "REPLACE": true,
	}
	privilegedKeywords = map[string]bool{
		"ATTACH": true, "DETACH": true, "INSTALL": true, "LOAD": true, "FORCE": true,
		"PRAGMA": true, "CALL": true, "EXPORT": true, "USE": true, "CHECKPOINT": true,
		"VACUUM": true, "ANALYZE": true,
	}
	unsupportedKeywords = map[string]bool{
		"LISTEN": true, "NOTIFY": true, "DO": true,
	}
	// queryKeywords start statements that only read; EXPLAIN may wrap them.
	queryKeywords = map[string]bool{
		"SELECT": true, "WITH": true, "VALUES": true, "TABLE": true, "FROM": true, "(": true,
		"SUMMARIZE": true, "DESCRIBE": true, "SHOW": true, "PIVOT": true, "UNPIVOT": true,
	}
)

func classify(st statement) command {
	first := strings.ToUpper(st.word(0).text)
	cmd := command{kind: cmdQuery, stmt: st}
	switch {
	case first == "BEGIN" || first == "START" && st.word(1).is("TRANSACTION"):
		return command{kind: cmdBegin, stmt: st, tag: "BEGIN"}
	case first == "COMMIT" || first == "END":
		return command{kind: cmdCommit, stmt: st, tag: "COMMIT"}
	case first == "ROLLBACK" || first == "ABORT":
		i := 1
		if st.word(i).is("WORK") || st.word(i).is("TRANSACTION") {
			i++
		}
		if first == "ROLLBACK" && st.word(i).is("TO") {
			i++
			if st.word(i).is("SAVEPOINT") {
				i++
			}
			return command{kind: cmdRollbackTo, stmt: st, tag: "ROLLBACK", param: identValue(st.word(i))}
		}
		return command{kind: cmdRollback, stmt: st, tag: "ROLLBACK"}
	case first == "SAVEPOINT":
		return command{kind: cmdSavepoint, stmt: st, tag: "SAVEPOINT", param: identValue(st.word(1))}
	case first == "RELEASE":
		i := 1
		if st.word(i).is("SAVEPOINT") {
			i++
		}
		return command{kind: cmdRelease, stmt: st, tag: "RELEASE", param: identValue(st.word(i))}
	case first == "SET":
		return classifySet(st)
	case first == "RESET":
		return classifyReset(st)
	case first == "SHOW":
		if name, ok := showParam(st); ok {
			return command{kind: cmdShow, stmt: st, tag: "SHOW", param: name}
		}
		return cmd
	case first == "COPY":
		return classifyCopy(st)
	case first == "DISCARD":
		if st.word(1).is("ALL") {
			return command{kind: cmdDiscard, stmt: st, tag: "DISCARD ALL"}
		}
		return command{kind: cmdNoop, stmt: st, tag: "DISCARD " + strings.ToUpper(st.word(1).text)}
	case first == "DEALLOCATE":
		i := 1
		if st.word(i).is("PREPARE") {
			i++
		}
		if st.word(i).is("ALL") {
			return command{kind: cmdDeallocate, stmt: st, tag: "DEALLOCATE ALL", param: "all"}
		}
		return command{kind: cmdDeallocate, stmt: st, tag: "DEALLOCATE", param: identValue(st.word(i))}
	case first == "DECLARE":
		return classifyDeclare(st)
	case first == "FETCH", first == "MOVE":
		return classifyFetch(st)
	case first == "PREPARE":
		return classifyPrepare(st)
	case first == "EXECUTE":
		return classifyExecute(st)
	case first == "CLOSE":
		if st.word(1).is("ALL") {
			return command{kind: cmdCloseCursor, stmt: st, tag: "CLOSE CURSOR ALL", param: "all"}
		}
		return command{kind: cmdCloseCursor, stmt: st, tag: "CLOSE CURSOR", param: identValue(st.word(1))}
	case first == "UNLISTEN":
		return command{kind: cmdNoop, stmt: st, tag: "UNLISTEN"}
	case first == "EXPLAIN":
		return classifyExplain(st)
	case writeKeywords[first]:
		return refused(st, errReadOnly(first))
	case privilegedKeywords[first]:
		return refused(st, errNotAllowed(first))
	case unsupportedKeywords[first]:
		return refused(st, newError(codeFeatureNotSupported, fmt.Sprintf("%s is not supported by the custmart server", first)))
	}
	return cmd
}

func refused(st statement, err *pgError) command {
	return command{kind: cmdRefused, stmt: st, err: err}
}

func errReadOnly(what string) *pgError {
	e := newError(codeReadOnlyTransaction, fmt.Sprintf("cannot execute %s in a read-only transaction", what))
	e.Hint = "the custmart server serves published marts read-only"
	return e
}

func errNotAllowed(what string) *pgError {
	e := newError(codeInsufficientPrivilege, fmt.Sprintf("permission denied: %s is not allowed on the custmart server", what))
	e.Hint = "the custmart server only runs queries over the published marts"
	return e
}

// classifyExplain allows EXPLAIN [ANALYZE] of a query and nothing else.
func classifyExplain(st statement) command {
	i := 1
	for st.word(i).is("ANALYZE") || st.word(i).is("VERBOSE") {
		i++
	}
	inner := strings.ToUpper(st.word(i).text)
	if !queryKeywords[inner] || inner == "(" {
		return refused(st, errNotAllowed("EXPLAIN of "+inner))
	}
	return command{kind: cmdQuery, stmt: st}
}

func classifySet(st statement) command {
	i := 1
	local := false
	switch {
	case st.word(i).is("SESSION") && st.word(i+1).is("CHARACTERISTICS"):
		return command{kind: cmdNoop, stmt: st, tag: "SET"}
	case st.word(i).is("SESSION") && st.word(i+1).is("AUTHORIZATION"), st.word(i).is("ROLE"):
		return refused(st, errNotAllowed("SET ROLE"))
	case st.word(i).is("SESSION"):
		i++
	case st.word(i).is("LOCAL"):
		local = true
		i++
	case st.word(i).is("GLOBAL"), st.word(i).is("VARIABLE"), st.word(i).is("PERSISTENT"):
		return refused(st, errNotAllowed("SET "+strings.ToUpper(st.word(i).text)))
	}
	cmd := command{kind: cmdSet, stmt: st, tag: "SET", local: local}
	switch {
	case st.word(i).is("TRANSACTION"):
		return command{kind: cmdNoop, stmt: st, tag: "SET"}
	case st.word(i).is("TIME") && st.word(i+1).is("ZONE"):
		cmd.param = "timezone"
		i += 2
	case st.word(i).is("NAMES"):
		cmd.param = "client_encoding"
		i++
	case st.word(i).is("SCHEMA"):
		cmd.param = "search_path"
		i++
	default:
		name := identValue(st.word(i))
		i++
		for st.word(i).is(".") {
			name += "." + identValue(st.word(i+1))
			i += 2
		}
		cmd.param = name
		if !st.word(i).is("TO") && !st.word(i).is("=") {
			return refused(st, newError(codeSyntaxError, fmt.Sprintf("syntax error in SET %s: expected TO or =", name)))
		}
		i++
	}
	cmd.value, cmd.reset = setValue(st.words[min(i, len(st.words)):])
	return cmd
}

// setValue renders the value list of SET as PostgreSQL stores it.
func setValue(words []token) (value string, reset bool) {
	if len(words) == 1 && (words[0].is("DEFAULT") || words[0].is("LOCAL")) {
		return "", true
	}
	var parts []string
	cur := ""
	for _, w := range words {
		switch {
		case w.is(","):
			parts = append(parts, cur)
			cur = ""
		case w.kind == tokString:
			cur += stringValue(w.text)
		case w.kind == tokIdent, w.kind == tokQuotedIdent:
			cur += identValue(w)
		default:
			cur += w.text
		}
	}
	return strings.Join(append(parts, cur), ", "), false
}

func classifyReset(st statement) command {
	switch {
	case st.word(1).is("ALL"):
		return command{kind: cmdReset, stmt: st, tag: "RESET", param: "all"}
	case st.word(1).is("TIME") && st.word(2).is("ZONE"):
		return command{kind: cmdReset, stmt: st, tag: "RESET", param: "timezone"}
	case st.word(1).is("ROLE"), st.word(1).is("SESSION"):
		return command{kind: cmdNoop, stmt: st, tag: "RESET"}
	}
	return command{kind: cmdReset, stmt: st, tag: "RESET", param: identValue(st.word(1))}
}

// showParam returns the parameter a SHOW statement asks for.
func showParam(st statement) (string, bool) {
	switch {
	case st.word(1).is("TIME") && st.word(2).is("ZONE"):
		return "timezone", true
	case st.word(1).is("TRANSACTION") && st.word(2).is("ISOLATION"):
		return "transaction_isolation", true
	case st.word(1).is("SESSION") && st.word(2).is("AUTHORIZATION"):
		return "session_authorization", true
	case st.word(1).is("ALL"):
		return "all", true
	}
	name := identValue(st.word(1))
	if len(st.words) == 4 && st.word(2).is(".") {
		return name + "." + identValue(st.word(3)), true
	}
	if len(st.words) != 2 || !isSessionParam(name) {
		// SHOW TABLES and other DuckDB forms go to the engine.
		return "", false
	}
	return name, true
}

// classifyDeclare reads DECLARE name [NO SCROLL] CURSOR [WITH[OUT] HOLD]
// FOR query. Cursors read forward only, in text.
func classifyDeclare(st statement) command {
	cmd := command{kind: cmdDeclare, stmt: st, tag: "DECLARE CURSOR", param: identValue(st.word(1))}
	i := 2
	for ; i < len(st.words) && !st.word(i).is("CURSOR"); i++ {
		switch {
		case st.word(i).is("BINARY"):
			return refused(st, newError(codeFeatureNotSupported, "binary cursors are not supported"))
		case st.word(i).is("SCROLL") && !st.word(i-1).is("NO"):
			return refused(st, newError(codeFeatureNotSupported, "scrollable cursors are not supported: cursors read forward only"))
		}
	}
	i++
	if st.word(i).is("WITH") || st.word(i).is("WITHOUT") {
		cmd.hold = st.word(i).is("WITH")
		i += 2
	}
	if !st.word(i).is("FOR") || i+1 >= len(st.words) {
		return refused(st, newError(codeSyntaxError, "syntax error in DECLARE: expected CURSOR ... FOR query"))
	}
	if !queryKeywords[strings.ToUpper(st.word(i+1).text)] {
		return refused(st, errReadOnly("DECLARE CURSOR FOR "+strings.ToUpper(st.word(i+1).text)))
	}
	cmd.query = innerStatement(st, i+1, len(st.words))
	return cmd
}

// classifyPrepare reads PREPARE name [(type, ...)] AS query. The types are
// read like a Parse message's.
func classifyPrepare(st statement) command {
	cmd := command{kind: cmdPrepare, stmt: st, tag: "PREPARE", param: identValue(st.word(1))}
	i := 2
	for i < len(st.words) && !st.word(i).is("AS") {
		i++
	}
	if i+1 >= len(st.words) {
		return refused(st, newError(codeSyntaxError, "syntax error in PREPARE: expected PREPARE name [(type, ...)] AS query"))
	}
	cmd.query = innerStatement(st, i+1, len(st.words))
	return cmd
}

// classifyExecute reads EXECUTE name [(value, ...)].
func classifyExecute(st statement) command {
	cmd := command{kind: cmdExecute, stmt: st, param: identValue(st.word(1))}
	if !st.word(2).is("(") {
		return cmd
	}
	depth, start := 0, 3
	for i := 2; i < len(st.words); i++ {
		switch w := st.word(i); {
		case w.is("("), w.is("["):
			depth++
		case w.is(")"), w.is("]"):
			depth--
			if depth == 0 {
				if i > start {
					cmd.args = append(cmd.args, innerStatement(st, start, i))
				}
				return cmd
			}
		case w.is(",") && depth == 1:
			cmd.args = append(cmd.args, innerStatement(st, start, i))
			start = i + 1
		}
	}
	return refused(st, newError(codeSyntaxError, "syntax error in EXECUTE: unbalanced parentheses"))
}

// classifyFetch reads FETCH [NEXT | FORWARD [n | ALL] | n | ALL] [FROM | IN] name,
// and MOVE with the same arguments.
func classifyFetch(st statement) command {
	cmd := command{kind: cmdFetch, stmt: st, count: 1}
	if st.word(0).is("MOVE") {
		cmd.kind = cmdMove
	}
	i := 1
	count := func(w token) bool {
		switch {
		case w.is("ALL"):
			cmd.count = 0
		case w.kind == tokNumber:
			n, err := strconv.ParseInt(w.text, 10, 64)
			if err != nil || n < 1 {
				return false
			}
			cmd.count = n
		default:
			return false
		}
		return true
	}
	switch w := st.word(i); {
	case w.is("NEXT"):
		i++
	case w.is("FORWARD"):
		i++
		if count(st.word(i)) {
			i++
		}
	case w.kind == tokNumber, w.is("ALL"):
		if !count(w) {
			return refused(st, newError(codeFeatureNotSupported, "cursors read forward only: FETCH a positive count"))
		}
		i++
	case w.is("PRIOR"), w.is("BACKWARD"), w.is("FIRST"), w.is("LAST"), w.is("ABSOLUTE"), w.is("RELATIVE"), w.is("-"):
		return refused(st, newError(codeFeatureNotSupported, "cursors read forward only: use FETCH NEXT, FETCH FORWARD n or FETCH ALL"))
	}
	if st.word(i).is("FROM") || st.word(i).is("IN") {
		i++
	}
	cmd.param = identValue(st.word(i))
	return cmd
}

// copySpec is a COPY ... TO STDOUT request.
type copySpec struct {
	query      statement
	csv        bool
	binary     bool // PostgreSQL's binary COPY format, values as the extended protocol's binary
	header     bool
	delimiter  string
	null       string
	quote      string
	escape     string
	forceQuote bool // FORCE_QUOTE *: quote every non-null CSV value
}

func classifyCopy(st statement) command {
	words := st.words
	i := 1
	var query statement
	if st.word(i).is("(") {
		depth := 0
		j := i
		for ; j < len(words); j++ {
			if words[j].is("(") {
				depth++
			} else if words[j].is(")") {
				depth--
				if depth == 0 {
					break
				}
			}
		}
		if j >= len(words) {
			return refused(st, newError(codeSyntaxError, "syntax error in COPY: unbalanced parentheses"))
		}
		query = innerStatement(st, i+1, j)
		i = j + 1
	} else {
		// COPY table [(columns)] TO STDOUT reads the whole table.
		table := ""
		for ; i < len(words) && !words[i].is("(") && !words[i].is("TO") && !words[i].is("FROM"); i++ {
			table += words[i].text
		}
		cols := "*"
		if i < len(words) && words[i].is("(") {
			var names []string
			for i++; i < len(words) && !words[i].is(")"); i++ {
				if !words[i].is(",") {
					names = append(names, words[i].text)
				}
			}
			i++
			cols = strings.Join(names, ", ")
		}
		query = newStatement(lex("SELECT " + cols + " FROM " + table))
	}
	switch {
	case i < len(words) && words[i].is("FROM"):
		return refused(st, errReadOnly("COPY FROM"))
	case i+1 >= len(words) || !words[i].is("TO"):
		return refused(st, newError(codeSyntaxError, "syntax error in COPY: expected TO STDOUT"))
	case !words[i+1].is("STDOUT"):
		e := newError(codeInsufficientPrivilege, "COPY to a file or program is not allowed on the custmart server")
		e.Hint = `use COPY ... TO STDOUT, or \copy in psql, to write the file on the client`
		return refused(st, e)
	}
	spec := &copySpec{query: query, delimiter: "\t", null: `\N`}
	if err := parseCopyOptions(words[i+2:], spec); err != nil {
		return refused(st, err)
	}
	return command{kind: cmdCopyOut, stmt: st, copy: spec}
}

// innerStatement builds a statement from the significant tokens from..to-1
// of st, keeping the whitespace between them.
func innerStatement(st statement, from, to int) statement {
	if from >= to {
		return statement{}
	}
	return newStatement(st.tokens[st.pos[from] : st.pos[to-1]+1])
}

func parseCopyOptions(words []token, spec *copySpec) *pgError {
	if len(words) > 0 && words[0].is("WITH") {
		words = words[1:]
	}
	type option struct {
		name  string
		value string
	}
	var opts []option
	if len(words) > 0 && words[0].is("(") {
		// COPY ... WITH (FORMAT csv, HEADER, DELIMITER ';')
		var cur []string
		for _, w := range words[1:] {
			if w.is(",") || w.is(")") {
				if len(cur) > 0 {
					opts = append(opts, option{strings.ToLower(cur[0]), strings.Join(cur[1:], " ")})
				}
				cur = nil
				continue
			}
			if w.kind == tokString {
				cur = append(cur, stringValue(w.text))
			} else {
				cur = append(cur, w.text)
			}
		}
	} else {
		// The pre-9.0 syntax psql's \copy still sends: CSV HEADER DELIMITER AS ';'.
		for i := 0; i < len(words); i++ {
			name := strings.ToLower(words[i].text)
			switch name {
			case "binary", "csv", "header":
				opts = append(opts, option{name, ""})
			case "delimiter", "null", "quote", "escape", "encoding":
				if i+1 < len(words) && words[i+1].is("AS") {
					i++
				}
				if i+1 < len(words) {
					opts = append(opts, option{name, stringValue(words[i+1].text)})
					i++
				}
			case "force":
				if i+2 < len(words) && words[i+1].is("QUOTE") && words[i+2].is("*") {
					opts = append(opts, option{"force_quote", "*"})
					i += 2
				} else {
					return newError(codeFeatureNotSupported, "COPY FORCE options other than FORCE QUOTE * are not supported")
				}
			default:
				return newError(codeSyntaxError, fmt.Sprintf("syntax error in COPY options at %q", words[i].text))
			}
		}
	}
	delimiterSet, nullSet := false, false
	var csvOnly string // a CSV option given, which binary format refuses
	for _, o := range opts {
		switch o.name {
		case "format", "binary", "csv":
			format := strings.ToLower(o.value)
			if o.name != "format" {
				format = o.name
			}
			switch format {
			case "csv":
				spec.csv, spec.binary = true, false
			case "binary":
				spec.csv, spec.binary = false, true
			case "text":
				spec.csv, spec.binary = false, false
			default:
				return newError(codeFeatureNotSupported, fmt.Sprintf("COPY format %q is not supported: use text, csv or binary", format))
			}
		case "header":
			switch strings.ToLower(o.value) {
			case "", "true", "on", "1":
				spec.header = true
			case "false", "off", "0":
				spec.header = false
			default:
				return newError(codeInvalidParameterValue, fmt.Sprintf("COPY HEADER %q is not supported for COPY TO", o.value))
			}
		case "delimiter":
			spec.delimiter = o.value
			delimiterSet = true
		case "null":
			spec.null = o.value
			nullSet = true
		case "quote":
			spec.quote = o.value
			csvOnly = "quote"
		case "escape":
			spec.escape = o.value
			csvOnly = "escape"
		case "force_quote":
			if o.value != "*" {
				return newError(codeFeatureNotSupported, "COPY FORCE_QUOTE only supports *")
			}
			spec.forceQuote = true
			csvOnly = "force quote"
		case "encoding":
			if !isUTF8(o.value) {
				return newError(codeFeatureNotSupported, fmt.Sprintf("COPY ENCODING %q is not supported: the server only speaks UTF8", o.value))
			}
		default:
			return newError(codeSyntaxError, fmt.Sprintf("COPY option %q is not recognized", o.name))
		}
	}
	if spec.binary {
		// PostgreSQL's refusals of text and CSV options in binary format.
		for _, o := range []struct {
			set  bool
			name string
		}{{delimiterSet, "DELIMITER"}, {nullSet, "NULL"}, {spec.header, "HEADER"}} {
			if o.set {
				return newError(codeSyntaxError, fmt.Sprintf("cannot specify %s in BINARY mode", o.name))
			}
		}
		if csvOnly != "" {
			return newError(codeFeatureNotSupported, fmt.Sprintf("COPY %s available only in CSV mode", csvOnly))
		}
		return nil
	}
	if spec.csv {
		if !delimiterSet {
			spec.delimiter = ","
		}
		if !nullSet {
			spec.null = ""
		}
		if spec.quote == "" {
			spec.quote = `"`
		}
		if spec.escape == "" {
			spec.escape = spec.quote
		}
	}
	if len(spec.delimiter) != 1 || spec.csv && (len(spec.quote) != 1 || len(spec.escape) != 1) {
		return newError(codeInvalidParameterValue, "COPY delimiter, quote and escape must be single one-byte characters")
	}
	return nil
}

// isUTF8 reports whether name spells UTF8 the way PostgreSQL matches
// encoding names: case and every character but letters and digits ignored,
// so UTF8, utf-8, 'utf-8' (asyncpg's quoted value) and unicode all match.
func isUTF8(name string) bool {
	switch cleanEncodingName(name) {
	case "utf8", "unicode":
		return true
	}
	return false
}

// cleanEncodingName is PostgreSQL's clean_encoding_name: lower case, letters
// and digits only.
func cleanEncodingName(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}
