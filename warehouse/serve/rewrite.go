package serve

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/duckdb/duckdb-go/v2"
)

// rewriteContext supplies the session values some PostgreSQL functions return.
type rewriteContext struct {
	user    string
	pid     uint32
	setting func(name string) (string, bool)
	// activity renders pg_stat_activity, the server's sessions, as a subquery.
	activity func() string
}

// regexOps are PostgreSQL's regular expression operators. PostgreSQL matches
// anywhere in the string, DuckDB's ~ matches the whole string.
var regexOps = map[string]struct {
	op              string
	caseInsensitive bool
}{
	"~": {"~", false}, "!~": {"!~", false}, "~*": {"~", true}, "!~*": {"!~", true},
}

// literalCasts are casts of a string literal that PostgreSQL evaluates by
// looking a name up, or by parsing the literal its own way.
var literalCasts = map[string]string{
	"regclass": "pg_regclass", "regtype": "pg_regtype", "regnamespace": "pg_regnamespace", "regproc": "pg_regproc",
	"bytea": "pg_bytea",
}

// regCasts are the OID alias types whose casts from expressions are rewritten.
var regCasts = map[string]string{"regclass": "pg_regclass", "regtype": "pg_regtype", "regproc": "pg_regproc"}

// regTextCast writes the conversion of an OID alias value, whose type name
// is at typ, to its name when ::text (or varchar, name) follows, as
// PostgreSQL prints 'bool'::regtype::text as boolean. It returns how many
// tokens it consumed.
func regTextCast(toks []token, typ int, b *strings.Builder) int {
	kind := strings.ToLower(toks[typ].text)
	if regCasts[kind] == "" {
		return 0
	}
	cast := nextWord(toks, typ)
	if cast < 0 || !toks[cast].is("::") {
		return 0
	}
	target := nextWord(toks, cast)
	if target < 0 || !toks[target].is("text") && !toks[target].is("varchar") && !toks[target].is("name") {
		return 0
	}
	fmt.Fprintf(b, ".pg_%s_text()", kind)
	return target - typ
}

// infoSchemaViews are the information_schema views emulated over the marts
// with PostgreSQL's type names; the others are DuckDB's.
var infoSchemaViews = map[string]bool{"tables": true, "columns": true, "schemata": true, "views": true,
	"table_constraints": true, "key_column_usage": true}

// rewriteForEngine adapts a statement to DuckDB, token by token, so nothing
// inside string literals or quoted identifiers changes:
//   - pg_catalog.x becomes x, which resolves to the emulation in the
//     compatibility schema first and to DuckDB's pg_catalog otherwise;
//   - information_schema.columns (tables, schemata, views, table_constraints,
//     key_column_usage) becomes information_schema_columns, the emulation
//     over the marts;
//   - OPERATOR(pg_catalog.~) becomes ~, COLLATE clauses are dropped;
//   - x ~ 'pattern' matches anywhere, as in PostgreSQL;
//   - 'name'::regclass looks the table up;
//   - current_user, current_setting('x') and pg_backend_pid() get the
//     session's values;
//   - FROM generate_series(...) s names the column s too;
//   - x = ANY(array) becomes list_contains(array, x).
func rewriteForEngine(st statement, rc rewriteContext) (string, *pgError) {
	toks := anyOfArrays(stripQualifiers(st.tokens))
	var b strings.Builder
	columnAlias := -1 // the alias of a set-returning function, which also names its column
	closeAt := -1     // the end of a function call made a subquery
	replace := map[int]string{}
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if text, ok := replace[i]; ok {
			b.WriteString(text)
			continue
		}
		next := nextWord(toks, i)
		switch {
		case t.kind == tokOp && regexOps[t.text].op != "" && next >= 0 && toks[next].kind == tokString:
			op := regexOps[t.text]
			pattern := stringValue(toks[next].text)
			flags := "s"
			if op.caseInsensitive {
				flags = "is"
			}
			fmt.Fprintf(&b, "%s %s", op.op, quoteString("(?"+flags+").*(?:"+pattern+").*"))
			i = next
			continue
		case t.kind == tokString && next >= 0 && toks[next].is("::"):
			typ := nextWord(toks, next)
			if typ >= 0 && literalCasts[strings.ToLower(toks[typ].text)] != "" {
				fmt.Fprintf(&b, "%s(%s)", literalCasts[strings.ToLower(toks[typ].text)], quoteString(stringValue(t.text)))
				i = typ + regTextCast(toks, typ, &b)
				continue
			}
			if typ >= 0 && isArrayType(toks, typ) {
				// '{1,2}'::int[]: DuckDB casts a list of strings, not
				// PostgreSQL's array literal.
				if items, err := parseArrayText(stringValue(t.text)); err == nil {
					b.WriteString(sqlLiteral(items))
					continue
				}
			}
		case t.kind == tokString && next >= 0 && toks[next].is("AS") && prevIs(toks, i, "(") &&
			prevIs(toks, prevWord(toks, i), "CAST") && nextWord(toks, next) >= 0 && isArrayType(toks, nextWord(toks, next)):
			// CAST('{1,2}' AS bigint[]), as pgx's simple protocol sends an
			// array parameter: the same literal as above.
			if items, err := parseArrayText(stringValue(t.text)); err == nil {
				b.WriteString(sqlLiteral(items))
				continue
			}
		case (t.kind == tokNumber || t.kind == tokParam) && next >= 0 && toks[next].is("::") &&
			nextWord(toks, next) >= 0 && regCasts[strings.ToLower(toks[nextWord(toks, next)].text)] != "":
			// 23::regtype: a number cannot take a chained function call.
			fmt.Fprintf(&b, "(%s)", t.text)
			continue
		case t.is("::") && next >= 0 && regCasts[strings.ToLower(toks[next].text)] != "":
			// expr::regclass: a name is looked up, an OID stays; DuckDB's
			// function chaining applies the conversion to expr as a whole.
			fmt.Fprintf(&b, ".pg_to_%s()", strings.ToLower(toks[next].text))
			i = next + regTextCast(toks, next, &b)
			continue
		case t.kind == tokString && (t.text[0] == 'e' || t.text[0] == 'E'):
			// DuckDB reads E'' strings, but normalizing them keeps the regex
			// rule above from having to care.
			b.WriteString(quoteString(stringValue(t.text)))
			continue
		case t.kind == tokIdent && !prevIs(toks, i, ".") && (next < 0 || !toks[next].is("(")):
			switch strings.ToLower(t.text) {
			case "pg_stat_activity":
				if rc.activity == nil || !prevIs(toks, i, "FROM") && !prevIs(toks, i, "JOIN") && !prevIs(toks, i, ",") {
					break
				}
				b.WriteString(rc.activity())
				if next < 0 || toks[next].kind != tokIdent || isClauseKeyword(toks[next].text) {
					b.WriteString(" AS pg_stat_activity")
				}
				continue
			case "current_user", "session_user", "current_role", "user":
				fmt.Fprintf(&b, "current_user(%s)", quoteString(rc.user))
				continue
			}
		case t.kind == tokIdent && !prevIs(toks, i, ".") && next >= 0 && toks[next].is("("):
			switch strings.ToLower(t.text) {
			case "pg_backend_pid":
				if close := nextWord(toks, next); close >= 0 && toks[close].is(")") {
					fmt.Fprintf(&b, "pg_backend_pid(%d)", rc.pid)
					i = close
					continue
				}
			case "format":
				if formatCall(toks, next, replace) {
					b.WriteString("pg_format")
					continue
				}
			case "json_build_object":
				b.WriteString("json_object")
				continue
			case "string_to_array":
				// A scalar function in FROM is a one-row table in PostgreSQL.
				if end := aliasedSetFunction(toks, i, next); end > 0 {
					b.WriteString("(SELECT ")
					closeAt, columnAlias = closingParen(toks, next), end
				}
			case "generate_series", "unnest", "generate_subscripts", "regexp_split_to_table", "string_to_table":
				// These return one column, which an alias in FROM names in
				// PostgreSQL; in DuckDB the alias only names the table.
				if end := aliasedSetFunction(toks, i, next); end > 0 {
					columnAlias = end
				}
			case "current_setting":
				end, text, err := rewriteCurrentSetting(toks, next, rc)
				if err != nil {
					return "", err
				}
				if end > 0 {
					b.WriteString(text)
					i = end
					continue
				}
			}
		}
		b.WriteString(t.text)
		if i == closeAt {
			b.WriteString(")")
		}
		if i == columnAlias {
			fmt.Fprintf(&b, "(%s)", t.text)
		}
	}
	return b.String(), nil
}

// aliasedSetFunction returns the index of the alias of a set-returning
// function called in FROM or JOIN with an alias and no column list, or 0.
func aliasedSetFunction(toks []token, name, open int) int {
	if !prevIs(toks, name, "FROM") && !prevIs(toks, name, "JOIN") && !prevIs(toks, name, "LATERAL") &&
		!(prevIs(toks, name, ",") && inFromList(toks, name)) {
		return 0
	}
	depth := 0
	closing := -1
	for j := open; j < len(toks); j++ {
		if toks[j].is("(") {
			depth++
		} else if toks[j].is(")") {
			depth--
			if depth == 0 {
				closing = j
				break
			}
		}
	}
	if closing < 0 {
		return 0
	}
	alias := nextWord(toks, closing)
	if alias >= 0 && toks[alias].is("AS") {
		alias = nextWord(toks, alias)
	}
	if alias < 0 || toks[alias].kind != tokIdent && toks[alias].kind != tokQuotedIdent || isClauseKeyword(toks[alias].text) {
		return 0
	}
	if after := nextWord(toks, alias); after >= 0 && toks[after].is("(") {
		return 0
	}
	return alias
}

// inFromList reports whether the token at i is in a FROM list: the nearest
// clause keyword before it, at its parenthesis depth, is FROM.
func inFromList(toks []token, i int) bool {
	depth := 0
	for j := i - 1; j >= 0; j-- {
		switch {
		case toks[j].is(")"):
			depth++
		case toks[j].is("("):
			if depth--; depth < 0 {
				return false
			}
		case depth == 0 && toks[j].is("FROM"):
			return true
		case depth == 0 && (toks[j].is("SELECT") || toks[j].is("WHERE") || isClauseKeyword(toks[j].text) && !toks[j].is("JOIN")):
			return false
		}
	}
	return false
}

// formatCall plans the rewrite of PostgreSQL's format(f, a, ...), whose "("
// is at open, into pg_format(f, [CAST((a) AS VARCHAR), ...]): the tokens to
// replace go in replace, the arguments themselves are rewritten as usual.
func formatCall(toks []token, open int, replace map[int]string) bool {
	closing := closingParen(toks, open)
	if closing < 0 {
		return false
	}
	var commas []int
	depth := 0
	for j := open + 1; j < closing; j++ {
		switch {
		case toks[j].is("(") || toks[j].is("["):
			depth++
		case toks[j].is(")") || toks[j].is("]"):
			depth--
		case depth == 0 && toks[j].is(","):
			commas = append(commas, j)
		}
	}
	if len(commas) == 0 {
		replace[closing] = ", []::VARCHAR[])"
		return true
	}
	replace[commas[0]] = ", [CAST(("
	for _, c := range commas[1:] {
		replace[c] = ") AS VARCHAR), CAST(("
	}
	replace[closing] = ") AS VARCHAR)])"
	return true
}

// closingParen returns the index of the ")" matching the "(" at open, or -1.
func closingParen(toks []token, open int) int {
	depth := 0
	for j := open; j < len(toks); j++ {
		if toks[j].is("(") {
			depth++
		} else if toks[j].is(")") {
			if depth--; depth == 0 {
				return j
			}
		}
	}
	return -1
}

// isClauseKeyword reports words that can follow a FROM item and are not an alias.
func isClauseKeyword(w string) bool {
	switch strings.ToUpper(w) {
	case "WHERE", "GROUP", "ORDER", "LIMIT", "OFFSET", "JOIN", "LEFT", "RIGHT", "INNER", "FULL", "CROSS",
		"NATURAL", "ON", "USING", "UNION", "EXCEPT", "INTERSECT", "WINDOW", "HAVING", "QUALIFY", "WITH", "FETCH", "FOR":
		return true
	}
	return false
}

// rewriteCurrentSetting turns current_setting('name' [, missing_ok]) into
// current_setting('name', 'value'); open is the index of "(". It returns the
// index of ")" or 0 when the argument is not a literal.
func rewriteCurrentSetting(toks []token, open int, rc rewriteContext) (int, string, *pgError) {
	arg := nextWord(toks, open)
	if arg < 0 || toks[arg].kind != tokString {
		return 0, "", nil
	}
	end := nextWord(toks, arg)
	missingOK := false
	if end >= 0 && toks[end].is(",") {
		flag := nextWord(toks, end)
		if flag < 0 {
			return 0, "", nil
		}
		missingOK = toks[flag].is("true")
		end = nextWord(toks, flag)
	}
	if end < 0 || !toks[end].is(")") {
		return 0, "", nil
	}
	name := stringValue(toks[arg].text)
	value, ok := rc.setting(name)
	switch {
	case ok:
		return end, fmt.Sprintf("current_setting(%s, %s)", quoteString(name), quoteString(value)), nil
	case missingOK:
		return end, fmt.Sprintf("current_setting(%s, NULL::VARCHAR)", quoteString(name)), nil
	}
	return 0, "", newError(codeUndefinedObject, fmt.Sprintf("unrecognized configuration parameter %q", name))
}

// hiddenEngineViews are DuckDB's introspection functions (and views) that
// show server file system paths; clients get catalog.sql's copies without
// them, however they qualify the name (system.main., main.).
var hiddenEngineViews = map[string]string{
	"duckdb_databases":     compatSchema + ".duckdb_databases",
	"duckdb_settings":      compatSchema + ".duckdb_settings",
	"pragma_database_list": compatSchema + ".pragma_database_list",
}

// stripQualifiers removes pg_catalog. qualifiers, OPERATOR() wrappers and
// COLLATE clauses, and points information_schema views and the engine's
// path-showing functions at the emulation.
func stripQualifiers(toks []token) []token {
	out := make([]token, 0, len(toks))
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		next := nextWord(toks, i)
		switch {
		case (t.kind == tokIdent || t.kind == tokQuotedIdent) && hiddenEngineViews[strings.ToLower(identValue(t))] != "":
			out = dropQualifier(out)
			out = append(out, token{kind: tokIdent, text: hiddenEngineViews[strings.ToLower(identValue(t))]})
			// duckdb_settings() and the view duckdb_settings read the same.
			if next >= 0 && toks[next].is("(") {
				if closing := nextWord(toks, next); closing >= 0 && toks[closing].is(")") {
					i = closing
				}
			}
			continue
		case t.kind == tokIdent && strings.EqualFold(t.text, "pg_catalog") && next >= 0 && toks[next].is(".") && !prevIs(toks, i, "."):
			i = next
			continue
		case t.kind == tokIdent && strings.EqualFold(t.text, "information_schema") && next >= 0 && toks[next].is(".") && !prevIs(toks, i, "."):
			if name := nextWord(toks, next); name >= 0 && strings.EqualFold(identValue(toks[name]), "_pg_expandarray") {
				out = append(out, toks[name])
				i = name
				continue
			}
			if name := nextWord(toks, next); name >= 0 && infoSchemaViews[strings.ToLower(identValue(toks[name]))] {
				out = append(out, token{kind: tokIdent, text: "information_schema_" + strings.ToLower(identValue(toks[name]))})
				i = name
				continue
			}
		case t.is("OPERATOR") && next >= 0 && toks[next].is("("):
			// OPERATOR(pg_catalog.~) or OPERATOR(~)
			j := nextWord(toks, next)
			if j >= 0 && toks[j].kind == tokIdent && nextWord(toks, j) >= 0 && toks[nextWord(toks, j)].is(".") {
				j = nextWord(toks, nextWord(toks, j))
			}
			if j >= 0 && toks[j].kind == tokOp {
				if closing := nextWord(toks, j); closing >= 0 && toks[closing].is(")") {
					out = append(out, token{kind: tokSpace, text: " "}, toks[j])
					i = closing
					continue
				}
			}
		case t.is("COLLATE") && next >= 0 && (toks[next].kind == tokIdent || toks[next].kind == tokQuotedIdent):
			i = next
			if dot := nextWord(toks, i); dot >= 0 && toks[dot].is(".") {
				if name := nextWord(toks, dot); name >= 0 {
					i = name
				}
			}
			continue
		}
		out = append(out, t)
	}
	return out
}

// dropQualifier removes the qualifier (system.main.) the tokens end with.
func dropQualifier(out []token) []token {
	for {
		j := len(out) - 1
		for j >= 0 && out[j].kind == tokSpace {
			j--
		}
		if j < 0 || !out[j].is(".") {
			return out
		}
		k := j - 1
		for k >= 0 && out[k].kind == tokSpace {
			k--
		}
		if k < 0 || out[k].kind != tokIdent && out[k].kind != tokQuotedIdent {
			return out
		}
		out = out[:k]
	}
}

// anyOfArrays turns x = ANY(array) into list_contains(array, x), for an x
// that is a column, literal or parameter: DuckDB runs = ANY as a subquery,
// which it cannot put in the condition of an outer join (SQLAlchemy's
// get_indexes joins pg_attribute ON a.attnum = ANY(ix.indkey)).
func anyOfArrays(toks []token) []token {
	out := make([]token, 0, len(toks))
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		anyWord := nextWord(toks, i)
		if !t.is("=") || anyWord < 0 || !toks[anyWord].is("ANY") {
			out = append(out, t)
			continue
		}
		open := nextWord(toks, anyWord)
		if open < 0 || !toks[open].is("(") {
			out = append(out, t)
			continue
		}
		first, closing := nextWord(toks, open), closingParen(toks, open)
		start := operandStart(out)
		if closing < 0 || first < 0 || start < 0 || toks[first].is("SELECT") || toks[first].is("WITH") || toks[first].is("VALUES") {
			out = append(out, t)
			continue
		}
		operand := slices.Clone(out[start:])
		for operand[len(operand)-1].kind == tokSpace {
			operand = operand[:len(operand)-1]
		}
		out = append(out[:start], token{kind: tokIdent, text: "list_contains"}, token{kind: tokPunct, text: "("})
		out = append(out, toks[open+1:closing]...)
		out = append(out, token{kind: tokPunct, text: ","}, token{kind: tokSpace, text: " "})
		out = append(out, operand...)
		out = append(out, token{kind: tokPunct, text: ")"})
		i = closing
	}
	return out
}

// operandStart returns where the operand that ends toks starts: a
// qualified name, a literal or a parameter, followed by spaces; or -1.
func operandStart(toks []token) int {
	j := len(toks) - 1
	for j >= 0 && toks[j].kind == tokSpace {
		j--
	}
	if j < 0 {
		return -1
	}
	switch toks[j].kind {
	case tokString, tokNumber, tokParam:
		return j
	case tokIdent, tokQuotedIdent:
	default:
		return -1
	}
	for j >= 2 && toks[j-1].is(".") && (toks[j-2].kind == tokIdent || toks[j-2].kind == tokQuotedIdent) {
		j -= 2
	}
	return j
}

// isArrayType reports whether the type name at typ is followed by [].
func isArrayType(toks []token, typ int) bool {
	open := nextWord(toks, typ)
	return open >= 0 && toks[open].is("[") && nextWord(toks, open) >= 0 && toks[nextWord(toks, open)].is("]")
}

func nextWord(toks []token, i int) int {
	for j := i + 1; j < len(toks); j++ {
		if toks[j].kind != tokSpace {
			return j
		}
	}
	return -1
}

func prevWord(toks []token, i int) int {
	for j := i - 1; j >= 0; j-- {
		if toks[j].kind != tokSpace {
			return j
		}
	}
	return -1
}

func prevIs(toks []token, i int, s string) bool {
	for j := i - 1; j >= 0; j-- {
		if toks[j].kind != tokSpace {
			return toks[j].is(s)
		}
	}
	return false
}

// castUntypedParams casts the $n parameters DuckDB cannot infer a type for,
// to the type the client declared or to text, as PostgreSQL does.
func castUntypedParams(sql string, duckTypes map[int]string) string {
	return castParams(sql, duckTypes, false)
}

// typedNullParams replaces $n parameters with NULLs of their DuckDB types.
func typedNullParams(sql string, duckTypes map[int]string) string {
	return castParams(sql, duckTypes, true)
}

func castParams(sql string, duckTypes map[int]string, null bool) string {
	if len(duckTypes) == 0 {
		return sql
	}
	var b strings.Builder
	for _, t := range lex(sql) {
		if t.kind == tokParam {
			n, _ := strconv.Atoi(t.text[1:])
			if typ, ok := duckTypes[n]; ok {
				value := t.text
				if null {
					value = "NULL"
				}
				fmt.Fprintf(&b, "CAST(%s AS %s)", value, typ)
				continue
			}
		}
		b.WriteString(t.text)
	}
	return b.String()
}

// substituteParams writes values[n-1], SQL text, in place of each $n.
func substituteParams(sql string, values []string) string {
	var b strings.Builder
	for _, t := range lex(sql) {
		if t.kind == tokParam {
			if n, err := strconv.Atoi(t.text[1:]); err == nil && n >= 1 && n <= len(values) {
				b.WriteString(values[n-1])
				continue
			}
		}
		b.WriteString(t.text)
	}
	return b.String()
}

// inlineParams writes bound parameter values into the query as literals.
// DuckDB plans a query with constants better than one with parameters: it
// prunes row groups by their min/max and uses an index for a point lookup.
// casts[i] is the DuckDB type of $i+1 when it is known, so the literal keeps
// the type the parameter had.
func inlineParams(sql string, args []any, casts []string) string {
	var b strings.Builder
	for _, t := range lex(sql) {
		if t.kind == tokParam {
			n, err := strconv.Atoi(t.text[1:])
			if err == nil && n >= 1 && n <= len(args) {
				lit := sqlLiteral(args[n-1])
				if n <= len(casts) && casts[n-1] != "" {
					lit = "CAST(" + lit + " AS " + casts[n-1] + ")"
				}
				b.WriteString(lit)
				continue
			}
		}
		b.WriteString(t.text)
	}
	return b.String()
}

// sqlLiteral renders a decoded parameter (see decodeParam) as a literal.
func sqlLiteral(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		return quoteString(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return "CAST(" + quoteString(strconv.FormatFloat(x, 'g', -1, 64)) + " AS DOUBLE)"
	case bool:
		return strconv.FormatBool(x)
	case []byte:
		return "unhex(" + quoteString(hex.EncodeToString(x)) + ")"
	case []any:
		items := make([]string, len(x))
		for i, item := range x {
			items[i] = sqlLiteral(item)
		}
		return "[" + strings.Join(items, ", ") + "]"
	}
	return quoteString(fmt.Sprint(v))
}

// duckParamTypes are the parameter types kept when a value is inlined.
var duckParamTypes = map[duckdb.Type]string{
	duckdb.TYPE_BOOLEAN: "BOOLEAN", duckdb.TYPE_TINYINT: "TINYINT", duckdb.TYPE_SMALLINT: "SMALLINT",
	duckdb.TYPE_INTEGER: "INTEGER", duckdb.TYPE_BIGINT: "BIGINT", duckdb.TYPE_UTINYINT: "UTINYINT",
	duckdb.TYPE_USMALLINT: "USMALLINT", duckdb.TYPE_UINTEGER: "UINTEGER", duckdb.TYPE_UBIGINT: "UBIGINT",
	duckdb.TYPE_HUGEINT: "HUGEINT", duckdb.TYPE_FLOAT: "FLOAT", duckdb.TYPE_DOUBLE: "DOUBLE",
	duckdb.TYPE_VARCHAR: "VARCHAR", duckdb.TYPE_BLOB: "BLOB", duckdb.TYPE_DATE: "DATE", duckdb.TYPE_TIME: "TIME",
	duckdb.TYPE_TIMESTAMP: "TIMESTAMP", duckdb.TYPE_TIMESTAMP_TZ: "TIMESTAMPTZ", duckdb.TYPE_INTERVAL: "INTERVAL",
	duckdb.TYPE_UUID: "UUID",
}
