package serve

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // TimeZone works on machines without a zoneinfo database
)

// Session parameters live in the server: SET and SHOW never reach the engine,
// whose settings are locked.

// serverVersion is what clients parse to pick their PostgreSQL dialect.
const (
	serverVersion    = "15.0 (custmart)"
	serverVersionNum = "150000"
)

type paramDef struct {
	name     string // PostgreSQL's spelling, e.g. DateStyle
	value    string // default
	report   bool   // sent in ParameterStatus when it changes
	readOnly bool   // SET fails like it does in PostgreSQL
	desc     string
	// normalize validates a new value and returns the stored form.
	normalize func(string) (string, *pgError)
	// show prints the stored form as SHOW does, when it differs.
	show func(string) string
}

var paramDefs = []paramDef{
	{name: "server_version", value: serverVersion, report: true, readOnly: true, desc: "Shows the server version."},
	{name: "server_version_num", value: serverVersionNum, readOnly: true, desc: "Shows the server version as an integer."},
	{name: "server_encoding", value: "UTF8", report: true, readOnly: true, desc: "Shows the server (database) character set encoding."},
	{name: "client_encoding", value: "UTF8", report: true, desc: "Sets the client's character set encoding.", normalize: normalizeEncoding},
	{name: "DateStyle", value: "ISO, MDY", report: true, desc: "Sets the display format for date and time values.", normalize: normalizeDateStyle},
	{name: "IntervalStyle", value: "postgres", report: true, desc: "Sets the display format for interval values.", normalize: onlyValue("postgres")},
	{name: "TimeZone", value: "UTC", report: true, desc: "Sets the time zone for displaying and interpreting time stamps.", normalize: normalizeTimeZone},
	{name: "integer_datetimes", value: "on", report: true, readOnly: true, desc: "Shows whether datetimes are integer based."},
	{name: "standard_conforming_strings", value: "on", report: true, desc: "Causes '...' strings to treat backslashes literally.", normalize: onlyValue("on")},
	{name: "application_name", value: "", report: true, desc: "Sets the application name to be reported in statistics and logs."},
	{name: "is_superuser", value: "off", report: true, readOnly: true, desc: "Shows whether the current user is a superuser."},
	{name: "session_authorization", value: "", report: true, readOnly: true, desc: "Sets the session user name."},
	{name: "default_transaction_read_only", value: "on", report: true, desc: "Sets the default read-only status of new transactions."},
	{name: "transaction_read_only", value: "on", desc: "Sets the current transaction's read-only status."},
	{name: "in_hot_standby", value: "off", report: true, readOnly: true, desc: "Shows whether hot standby is currently active."},
	{name: "search_path", value: "main", desc: "Sets the schema search order for names that are not schema-qualified."},
	{name: "extra_float_digits", value: "1", desc: "Sets the number of digits displayed for floating-point values.", normalize: normalizeFloatDigits},
	{name: "statement_timeout", value: "0", desc: "Sets the maximum allowed duration of any statement.", normalize: normalizeDuration, show: showDuration},
	{name: "lock_timeout", value: "0", desc: "Sets the maximum allowed duration of any wait for a lock.", normalize: normalizeDuration, show: showDuration},
	{name: "idle_in_transaction_session_timeout", value: "0", desc: "Sets the maximum allowed idle time between queries, when in a transaction.", normalize: normalizeDuration, show: showDuration},
	{name: "idle_session_timeout", value: "0", desc: "Sets the maximum allowed idle time between queries, when not in a transaction.", normalize: normalizeDuration, show: showDuration},
	{name: "transaction_isolation", value: "read committed", desc: "Sets the current transaction's isolation level."},
	{name: "default_transaction_isolation", value: "read committed", desc: "Sets the transaction isolation level of each new transaction."},
	{name: "transaction_deferrable", value: "off", desc: "Whether to defer a read-only serializable transaction until it can be executed with no possible serialization failures."},
	{name: "default_transaction_deferrable", value: "off", desc: "Sets the default deferrable status of new transactions."},
	{name: "bytea_output", value: "hex", desc: "Sets the output format for bytea.", normalize: onlyValue("hex")},
	{name: "client_min_messages", value: "notice", desc: "Sets the message levels that are sent to the client."},
	{name: "max_identifier_length", value: "63", readOnly: true, desc: "Shows the maximum identifier length."},
	{name: "max_index_keys", value: "32", readOnly: true, desc: "Shows the maximum number of index keys."},
	{name: "block_size", value: "8192", readOnly: true, desc: "Shows the size of a disk block."},
	{name: "lc_collate", value: "C.UTF-8", readOnly: true, desc: "Shows the collation order locale."},
	{name: "lc_ctype", value: "C.UTF-8", readOnly: true, desc: "Shows the character classification and case conversion locale."},
	{name: "lc_messages", value: "C.UTF-8", desc: "Sets the language in which messages are displayed."},
	{name: "lc_monetary", value: "C.UTF-8", desc: "Sets the locale for formatting monetary amounts."},
	{name: "lc_numeric", value: "C.UTF-8", desc: "Sets the locale for formatting numbers."},
	{name: "lc_time", value: "C.UTF-8", desc: "Sets the locale for formatting date and time values."},
	{name: "max_connections", value: "100", readOnly: true, desc: "Sets the maximum number of concurrent connections."},
	{name: "ssl", value: "off", readOnly: true, desc: "Enables SSL connections."},
	{name: "password_encryption", value: "scram-sha-256", readOnly: true, desc: "Chooses the algorithm for encrypting passwords."},
	{name: "row_security", value: "on", desc: "Enable row security."},
	{name: "synchronous_commit", value: "on", desc: "Sets the current transaction's synchronization level."},
	{name: "work_mem", value: "4MB", desc: "Sets the maximum memory to be used for query workspaces."},
	{name: "jit", value: "off", desc: "Allow JIT compilation."},
	{name: "timezone_abbreviations", value: "Default", desc: "Selects a file of time zone abbreviations."},
	{name: "escape_string_warning", value: "on", desc: "Warn about backslash escapes in ordinary string literals."},
	{name: "backslash_quote", value: "safe_encoding", desc: "Sets whether \"\\'\" is allowed in string literals."},
	{name: "default_text_search_config", value: "pg_catalog.simple", desc: "Sets default text search configuration."},
	{name: "geqo", value: "on", desc: "Enables genetic query optimization."},
	{name: "enable_seqscan", value: "on", desc: "Enables the planner's use of sequential-scan plans."},
	{name: "array_nulls", value: "on", desc: "Enable input of NULL elements in arrays."},
	{name: "quote_all_identifiers", value: "off", desc: "When generating SQL fragments, quote all identifiers."},
}

// paramByName finds a parameter definition; names are case-insensitive.
func paramByName(name string) (paramDef, bool) {
	name = strings.ToLower(name)
	for _, d := range paramDefs {
		if strings.ToLower(d.name) == name {
			return d, true
		}
	}
	return paramDef{}, false
}

// isSessionParam reports whether SHOW name is answered by the server.
func isSessionParam(name string) bool {
	_, ok := paramByName(name)
	return ok || strings.Contains(name, ".")
}

// sessionParams holds a session's values, keyed by lower-case name.
type sessionParams map[string]string

func newSessionParams(user string, maxConnections int, tlsOn bool) sessionParams {
	p := sessionParams{}
	for _, d := range paramDefs {
		p[strings.ToLower(d.name)] = d.value
	}
	p["session_authorization"] = user
	p["max_connections"] = strconv.Itoa(maxConnections)
	if tlsOn {
		p["ssl"] = "on"
	}
	return p
}

func (p sessionParams) clone() sessionParams { return maps.Clone(p) }

// get returns a parameter as SHOW prints it.
func (p sessionParams) get(name string) (string, bool) {
	v, ok := p[strings.ToLower(name)]
	if def, known := paramByName(name); ok && known && def.show != nil {
		v = def.show(v)
	}
	return v, ok
}

// set validates and stores a value; engineSettings names the settings of the
// engine that clients must not touch.
func (p sessionParams) set(name, value string, engineSetting func(string) bool) *pgError {
	def, ok := paramByName(name)
	if !ok {
		if strings.Contains(name, ".") {
			// Custom options (myapp.setting) are allowed, as in PostgreSQL.
			p[strings.ToLower(name)] = value
			return nil
		}
		return unknownParam(name, engineSetting)
	}
	if def.readOnly {
		return newError(codeCantChangeRuntimeParam, fmt.Sprintf("parameter %q cannot be changed", def.name))
	}
	if def.normalize != nil {
		v, err := def.normalize(value)
		if err != nil {
			return err
		}
		value = v
	}
	p[strings.ToLower(def.name)] = value
	return nil
}

func unknownParam(name string, engineSetting func(string) bool) *pgError {
	if engineSetting(name) {
		e := newError(codeInsufficientPrivilege, fmt.Sprintf("permission denied to set parameter %q", name))
		e.Hint = "engine settings of the custmart server are fixed by its configuration"
		return e
	}
	return newError(codeUndefinedObject, fmt.Sprintf("unrecognized configuration parameter %q", name))
}

// reset restores a parameter's default.
func (p sessionParams) reset(name string, engineSetting func(string) bool) *pgError {
	def, ok := paramByName(name)
	if !ok {
		if strings.Contains(name, ".") {
			delete(p, strings.ToLower(name))
			return nil
		}
		return unknownParam(name, engineSetting)
	}
	if !def.readOnly {
		p[strings.ToLower(def.name)] = def.value
	}
	return nil
}

// reported returns the parameters sent in ParameterStatus, by PostgreSQL name.
func (p sessionParams) reported() map[string]string {
	out := map[string]string{}
	for _, d := range paramDefs {
		if d.report {
			out[d.name] = p[strings.ToLower(d.name)]
		}
	}
	return out
}

// all lists every parameter for SHOW ALL, sorted by name.
func (p sessionParams) all() [][3]string {
	var rows [][3]string
	for _, d := range paramDefs {
		v, _ := p.get(d.name)
		rows = append(rows, [3]string{d.name, v, d.desc})
	}
	slices.SortFunc(rows, func(a, b [3]string) int { return strings.Compare(strings.ToLower(a[0]), strings.ToLower(b[0])) })
	return rows
}

func (p sessionParams) textFormat() textFormat {
	loc, err := loadTimeZone(p["timezone"])
	if err != nil {
		loc = time.UTC
	}
	digits, _ := strconv.Atoi(p["extra_float_digits"])
	return textFormat{location: loc, extraFloatDigit: digits}
}

// limitTimeout makes statement_timeout the limit the server enforces: the
// client's value when it is lower than the server's, else the server's.
func (p sessionParams) limitTimeout(limit time.Duration) {
	own := p.statementTimeout()
	if limit > 0 && (own == 0 || own > limit) {
		p["statement_timeout"] = strconv.FormatInt(limit.Milliseconds(), 10)
	}
}

// statementTimeout is the session's statement_timeout; 0 means none.
func (p sessionParams) statementTimeout() time.Duration {
	ms, _ := strconv.ParseInt(p["statement_timeout"], 10, 64)
	return time.Duration(ms) * time.Millisecond
}

func onlyValue(allowed string) func(string) (string, *pgError) {
	return func(v string) (string, *pgError) {
		if strings.EqualFold(v, allowed) {
			return allowed, nil
		}
		e := newError(codeFeatureNotSupported, fmt.Sprintf("value %q is not supported: the custmart server only supports %q", v, allowed))
		return "", e
	}
}

func normalizeEncoding(v string) (string, *pgError) {
	switch {
	case isUTF8(v):
		return "UTF8", nil
	case cleanEncodingName(v) == "sqlascii":
		return "SQL_ASCII", nil
	}
	e := newError(codeFeatureNotSupported, fmt.Sprintf("client_encoding %q is not supported", v))
	e.Hint = "the custmart server only speaks UTF8"
	return "", e
}

func normalizeDateStyle(v string) (string, *pgError) {
	order := "MDY"
	iso := true
	for _, part := range strings.Split(v, ",") {
		switch strings.ToUpper(strings.TrimSpace(part)) {
		case "ISO", "":
		case "MDY", "US", "NONEURO", "NONEUROPEAN":
			order = "MDY"
		case "DMY", "EURO", "EUROPEAN":
			order = "DMY"
		case "YMD":
			order = "YMD"
		default:
			iso = false
		}
	}
	if !iso {
		e := newError(codeFeatureNotSupported, fmt.Sprintf("DateStyle %q is not supported", v))
		e.Hint = "the custmart server writes dates in ISO format"
		return "", e
	}
	return "ISO, " + order, nil
}

func normalizeTimeZone(v string) (string, *pgError) {
	if _, err := loadTimeZone(v); err != nil {
		return "", newError(codeInvalidParameterValue, fmt.Sprintf("invalid value for parameter \"TimeZone\": %q", v))
	}
	return v, nil
}

func loadTimeZone(name string) (*time.Location, error) {
	switch strings.ToUpper(name) {
	case "UTC", "GMT", "Z", "ZULU", "UCT", "":
		return time.UTC, nil
	}
	return time.LoadLocation(name)
}

func normalizeFloatDigits(v string) (string, *pgError) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < -15 || n > 3 {
		return "", newError(codeInvalidParameterValue, fmt.Sprintf("invalid value for parameter \"extra_float_digits\": %q", v))
	}
	return strconv.Itoa(n), nil
}

// showDuration prints milliseconds in PostgreSQL's units: the largest unit
// that divides the value, as 1000 shows as 1s and 1500 as 1500ms.
func showDuration(ms string) string {
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil || n == 0 {
		return ms
	}
	for _, u := range []struct {
		name string
		size int64
	}{{"d", 86_400_000}, {"h", 3_600_000}, {"min", 60_000}, {"s", 1000}} {
		if n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return ms + "ms"
}

// normalizeDuration stores a time setting in milliseconds, accepting
// PostgreSQL's units: 5000, '5s', '2min'.
func normalizeDuration(v string) (string, *pgError) {
	s := strings.TrimSpace(strings.ToLower(v))
	num := strings.TrimRightFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	unit := strings.TrimSpace(s[len(num):])
	n, err := strconv.ParseFloat(num, 64)
	scale := map[string]float64{"": 1, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}[unit]
	if err != nil || scale == 0 || n < 0 {
		return "", newError(codeInvalidParameterValue, fmt.Sprintf("invalid value for a time parameter: %q; use milliseconds or a unit such as '30s'", v))
	}
	return strconv.FormatInt(int64(n*scale), 10), nil
}

// typeNameOIDs are the SQL spellings of types a parameter can be cast to.
var typeNameOIDs = map[string]uint32{
	"int": oidInt4, "integer": oidInt4, "int4": oidInt4, "bigint": oidInt8, "int8": oidInt8,
	"smallint": oidInt2, "int2": oidInt2, "double": oidFloat8, "float8": oidFloat8, "float": oidFloat8,
	"real": oidFloat4, "float4": oidFloat4, "numeric": oidNumeric, "decimal": oidNumeric,
	"text": oidText, "varchar": oidVarchar, "bool": oidBool, "boolean": oidBool, "date": oidDate,
	"timestamp": oidTimestamp, "timestamptz": oidTimestampTZ, "interval": oidInterval,
	"uuid": oidUUID, "bytea": oidBytea, "json": oidJSON, "time": oidTime, "oid": oidOID,
}

// castParamOIDs finds parameters cast to a type in the query, $2::bigint or
// CAST($2 AS bigint): in PostgreSQL such a parameter has the cast's type.
func castParamOIDs(sql string) map[int]uint32 {
	toks := lex(sql)
	out := map[int]uint32{}
	for i, t := range toks {
		if t.kind != tokParam {
			continue
		}
		n, err := strconv.Atoi(t.text[1:])
		if err != nil {
			continue
		}
		cast := nextWord(toks, i)
		if cast < 0 || !toks[cast].is("::") && !toks[cast].is("AS") {
			continue
		}
		if toks[cast].is("AS") && !prevIs(toks, i, "(") {
			continue
		}
		name := nextWord(toks, cast)
		if name < 0 || toks[name].kind != tokIdent {
			continue
		}
		typ := strings.ToLower(toks[name].text)
		if after := nextWord(toks, name); typ == "double" && after >= 0 && toks[after].is("precision") {
			typ = "float8"
		}
		if oid, ok := typeNameOIDs[typ]; ok {
			if isArrayType(toks, name) {
				oid = arrayOf(oid)
			}
			out[n] = oid
		}
	}
	return out
}
