package serve

import (
	"strings"
)

// The server needs to know where statements end, what kind of command each one
// is and how to adapt PostgreSQL-only syntax for DuckDB, without a full SQL
// parser. A lexer that follows PostgreSQL's rules for strings, quoted
// identifiers, comments and dollar quoting is enough for all three, and makes
// sure nothing inside a literal is ever touched.

type tokenKind int

const (
	tokSpace       tokenKind = iota // whitespace and comments
	tokIdent                        // unquoted identifier or keyword
	tokQuotedIdent                  // "identifier"
	tokString                       // '...', E'...', $$...$$ and friends
	tokNumber                       // 42, 1.5e3
	tokParam                        // $1
	tokOp                           // operator characters: + - * / < > = ~ ! @ # % ^ & | ` ?
	tokPunct                        // ( ) , ; . [ ] { } : ::
)

type token struct {
	kind tokenKind
	text string
}

// is reports whether t is the keyword or punctuation s (keywords compare
// case-insensitively).
func (t token) is(s string) bool {
	switch t.kind {
	case tokIdent:
		return strings.EqualFold(t.text, s)
	case tokPunct, tokOp:
		return t.text == s
	}
	return false
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func isIdentChar(c byte) bool {
	return isIdentStart(c) || c >= '0' && c <= '9' || c == '$'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

const opChars = "+-*/<>=~!@#%^&|`?"

// lex splits sql into tokens. Unterminated strings and comments run to the end
// of the input; DuckDB reports them as syntax errors.
func lex(sql string) []token {
	var toks []token
	i := 0
	for i < len(sql) {
		start := i
		c := sql[i]
		kind := tokPunct
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			for i < len(sql) && strings.IndexByte(" \t\n\r\f\v", sql[i]) >= 0 {
				i++
			}
			kind = tokSpace
		case c == '-' && strings.HasPrefix(sql[i:], "--"):
			if n := strings.IndexByte(sql[i:], '\n'); n >= 0 {
				i += n + 1
			} else {
				i = len(sql)
			}
			kind = tokSpace
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			i = skipBlockComment(sql, i)
			kind = tokSpace
		case c == '\'':
			i = skipQuoted(sql, i, '\'', false)
			kind = tokString
		case (c == 'e' || c == 'E') && i+1 < len(sql) && sql[i+1] == '\'':
			i = skipQuoted(sql, i+1, '\'', true)
			kind = tokString
		case (c == 'b' || c == 'B' || c == 'x' || c == 'X' || c == 'n' || c == 'N') && i+1 < len(sql) && sql[i+1] == '\'':
			i = skipQuoted(sql, i+1, '\'', false)
			kind = tokString
		case (c == 'u' || c == 'U') && strings.HasPrefix(sql[i+1:], "&'"):
			i = skipQuoted(sql, i+2, '\'', false)
			kind = tokString
		case c == '"':
			i = skipQuoted(sql, i, '"', false)
			kind = tokQuotedIdent
		case c == '$':
			if i+1 < len(sql) && isDigit(sql[i+1]) {
				i++
				for i < len(sql) && isDigit(sql[i]) {
					i++
				}
				kind = tokParam
			} else if end, ok := skipDollarQuoted(sql, i); ok {
				i = end
				kind = tokString
			} else {
				i++
				kind = tokOp
			}
		case isIdentStart(c):
			for i < len(sql) && isIdentChar(sql[i]) {
				i++
			}
			kind = tokIdent
		case isDigit(c) || c == '.' && i+1 < len(sql) && isDigit(sql[i+1]):
			i = skipNumber(sql, i)
			kind = tokNumber
		case c == ':' && strings.HasPrefix(sql[i:], "::"):
			i += 2
		case strings.IndexByte(opChars, c) >= 0:
			for i < len(sql) && strings.IndexByte(opChars, sql[i]) >= 0 {
				// A comment start ends an operator, as in PostgreSQL.
				if strings.HasPrefix(sql[i:], "--") || strings.HasPrefix(sql[i:], "/*") {
					break
				}
				i++
			}
			kind = tokOp
		default:
			i++
		}
		toks = append(toks, token{kind: kind, text: sql[start:i]})
	}
	return toks
}

func skipBlockComment(sql string, i int) int {
	depth := 0
	for i < len(sql) {
		switch {
		case strings.HasPrefix(sql[i:], "/*"):
			depth++
			i += 2
		case strings.HasPrefix(sql[i:], "*/"):
			depth--
			i += 2
			if depth == 0 {
				return i
			}
		default:
			i++
		}
	}
	return i
}

// skipQuoted returns the index after the literal that opens at sql[i] with
// quote q; a doubled quote is an escaped quote, and so is a backslash-quote in
// E” strings.
func skipQuoted(sql string, i int, q byte, backslash bool) int {
	i++
	for i < len(sql) {
		switch {
		case backslash && sql[i] == '\\':
			i += 2
		case sql[i] == q:
			if i+1 < len(sql) && sql[i+1] == q {
				i += 2
				continue
			}
			return i + 1
		default:
			i++
		}
	}
	return len(sql)
}

func skipDollarQuoted(sql string, i int) (int, bool) {
	j := i + 1
	for j < len(sql) && sql[j] != '$' {
		if !isIdentChar(sql[j]) || sql[j] == '$' {
			return 0, false
		}
		j++
	}
	if j >= len(sql) {
		return 0, false
	}
	tag := sql[i : j+1]
	if end := strings.Index(sql[j+1:], tag); end >= 0 {
		return j + 1 + end + len(tag), true
	}
	return len(sql), true
}

func skipNumber(sql string, i int) int {
	for i < len(sql) && (isDigit(sql[i]) || sql[i] == '.' || sql[i] == '_') {
		i++
	}
	if i < len(sql) && (sql[i] == 'e' || sql[i] == 'E') {
		j := i + 1
		if j < len(sql) && (sql[j] == '+' || sql[j] == '-') {
			j++
		}
		if j < len(sql) && isDigit(sql[j]) {
			i = j
			for i < len(sql) && isDigit(sql[i]) {
				i++
			}
		}
	}
	return i
}

// stringValue decodes a string literal token into its value.
func stringValue(lit string) string {
	switch {
	case strings.HasPrefix(lit, "$"):
		end := strings.IndexByte(lit[1:], '$') + 2
		if len(lit) >= 2*end {
			return lit[end : len(lit)-end]
		}
		return ""
	case lit[0] == 'e' || lit[0] == 'E':
		return unescapeBackslash(trimQuotes(lit[1:]))
	case lit[0] == '\'':
		return strings.ReplaceAll(trimQuotes(lit), "''", "'")
	}
	// B'', X'', N'' and U&'' keep their prefix meaning; callers only decode
	// plain strings.
	return strings.ReplaceAll(trimQuotes(lit[strings.IndexByte(lit, '\''):]), "''", "'")
}

func trimQuotes(s string) string {
	if len(s) >= 2 && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return strings.TrimPrefix(s, s[:1])
}

func unescapeBackslash(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\'' && i+1 < len(s) && s[i+1] == '\'' {
			b.WriteByte('\'')
			i++
			continue
		}
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// quoteString renders s as a standard SQL string literal.
func quoteString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// identValue returns the name an identifier token stands for: unquoted names
// fold to lower case, quoted ones keep their spelling.
func identValue(t token) string {
	if t.kind == tokQuotedIdent {
		return strings.ReplaceAll(trimQuotes(t.text), `""`, `"`)
	}
	return strings.ToLower(t.text)
}

// statement is one SQL command of a query string.
type statement struct {
	tokens []token
	words  []token // the tokens without whitespace and comments
	pos    []int   // pos[i] is the index of words[i] in tokens
}

func (s statement) text() string {
	var b strings.Builder
	for _, t := range s.tokens {
		b.WriteString(t.text)
	}
	return strings.TrimSpace(b.String())
}

// word returns the i-th significant token, or an empty token.
func (s statement) word(i int) token {
	if i < len(s.words) {
		return s.words[i]
	}
	return token{}
}

func newStatement(toks []token) statement {
	st := statement{tokens: toks}
	for i, t := range toks {
		if t.kind != tokSpace {
			st.words = append(st.words, t)
			st.pos = append(st.pos, i)
		}
	}
	return st
}

// splitStatements splits a query string at top-level semicolons and drops
// empty statements.
func splitStatements(sql string) []statement {
	var out []statement
	var cur []token
	flush := func() {
		st := newStatement(cur)
		if len(st.words) > 0 {
			out = append(out, st)
		}
		cur = nil
	}
	for _, t := range lex(sql) {
		if t.kind == tokPunct && t.text == ";" {
			flush()
			continue
		}
		cur = append(cur, t)
	}
	flush()
	return out
}
