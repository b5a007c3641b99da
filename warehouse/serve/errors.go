package serve

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/jackc/pgx/v5/pgproto3"
)

// SQLSTATE codes the server sends; names follow PostgreSQL's errcodes.txt.
const (
	codeSyntaxError            = "42601"
	codeUndefinedTable         = "42P01"
	codeUndefinedColumn        = "42703"
	codeUndefinedFunction      = "42883"
	codeUndefinedObject        = "42704"
	codeUndefinedSchema        = "3F000"
	codeInvalidCatalogName     = "3D000"
	codeGroupingError          = "42803"
	codeDatatypeMismatch       = "42804"
	codeDuplicatePreparedStmt  = "42P05"
	codeUndefinedPreparedStmt  = "26000"
	codeInvalidCursorName      = "34000"
	codeReadOnlyTransaction    = "25006"
	codeInFailedTransaction    = "25P02"
	codeActiveTransaction      = "25001"
	codeNoActiveTransaction    = "25P01"
	codeInvalidSavepoint       = "3B001"
	codeDuplicateCursor        = "42P03"
	codeQueryCanceled          = "57014"
	codeAdminShutdown          = "57P01"
	codeCannotConnectNow       = "57P03"
	codeInvalidPassword        = "28P01"
	codeInvalidAuthSpec        = "28000"
	codeTooManyConnections     = "53300"
	codeOutOfMemory            = "53200"
	codeProgramLimitExceeded   = "54000"
	codeInsufficientPrivilege  = "42501"
	codeProtocolViolation      = "08P01"
	codeFeatureNotSupported    = "0A000"
	codeInvalidParameterValue  = "22023"
	codeInvalidTextRepr        = "22P02"
	codeInvalidBinaryRepr      = "22P03"
	codeNumericOutOfRange      = "22003"
	codeDivisionByZero         = "22012"
	codeCantChangeRuntimeParam = "55P02"
	codeSyntaxOrAccessRule     = "42000"
	codeIOError                = "58030"
	codeInternalError          = "XX000"
)

// pgError is an error as the client sees it.
type pgError struct {
	Severity string // ERROR, or FATAL when the connection closes after it
	Code     string
	Message  string
	Detail   string
	Hint     string
}

func newError(code, message string) *pgError {
	return &pgError{Severity: "ERROR", Code: code, Message: message}
}

func newFatal(code, message string) *pgError {
	return &pgError{Severity: "FATAL", Code: code, Message: message}
}

func (e *pgError) Error() string { return e.Code + ": " + e.Message }

func (e *pgError) response() *pgproto3.ErrorResponse {
	return &pgproto3.ErrorResponse{
		Severity:            e.Severity,
		SeverityUnlocalized: e.Severity,
		Code:                e.Code,
		Message:             e.Message,
		Detail:              hidePaths(e.Detail),
		Hint:                e.Hint,
	}
}

// asPGError turns any error from the engine or the server into what the
// client sees. cause is the reason the query context ended, if it did.
func asPGError(err error, cause error) *pgError {
	var pe *pgError
	if errors.As(err, &pe) {
		return pe
	}
	switch {
	case errors.Is(cause, errStatementTimeout):
		return newError(codeQueryCanceled, "canceling statement due to statement timeout")
	case errors.Is(cause, errCanceledByClient):
		return newError(codeQueryCanceled, "canceling statement due to user request")
	case errors.Is(cause, errShuttingDown):
		return newFatal(codeAdminShutdown, "terminating connection due to administrator command")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return newError(codeQueryCanceled, "canceling statement")
	}
	var de *duckdb.Error
	if !errors.As(err, &de) {
		return newError(codeInternalError, hidePaths(err.Error()))
	}
	return engineError(de)
}

var (
	errStatementTimeout = errors.New("statement timeout")
	errCanceledByClient = errors.New("canceled by client")
	errShuttingDown     = errors.New("server shutting down")
)

// engineError maps a DuckDB error to a SQLSTATE and a PostgreSQL-style
// message: the first line without DuckDB's "<Kind> Error: " prefix. DuckDB's
// "Did you mean" suggestions are dropped: they name the engine's internal
// macros and catalogs, not anything a client can use.
func engineError(de *duckdb.Error) *pgError {
	msg := de.Msg
	if _, rest, ok := strings.Cut(msg, " Error: "); ok && !strings.Contains(msg[:len(msg)-len(rest)], "\n") {
		msg = rest
	}
	msg, _, _ = strings.Cut(msg, "\n")
	msg = strings.TrimSpace(msg)
	return newError(engineErrorCode(de.Type, msg), hideHome(msg))
}

// serverHome is the server's home directory, which engine errors name when
// a client reaches for extensions or secrets (duckdb_extensions()).
var serverHome, _ = os.UserHomeDir()

// absolutePath is a file system path in a server-made text.
var absolutePath = regexp.MustCompile(`(^|[\s"'(=])(/[^\s"':,;()]+)+`)

// hidePaths shortens the absolute paths in a text the server made (the
// details of "no published marts", internal errors) to their last element:
// clients learn which file, not where the data directory is.
func hidePaths(msg string) string {
	return absolutePath.ReplaceAllStringFunc(msg, func(m string) string {
		i := strings.IndexByte(m, '/')
		return m[:i] + filepath.Base(m[i:])
	})
}

// hideHome writes the server's home directory as ~ in an error text.
func hideHome(msg string) string {
	if len(serverHome) < 2 {
		return msg
	}
	return strings.ReplaceAll(msg, strings.TrimSuffix(serverHome, "/")+"/", "~/")
}

func engineErrorCode(t duckdb.ErrorType, msg string) string {
	lower := strings.ToLower(msg)
	switch t {
	case duckdb.ErrorTypeParser, duckdb.ErrorTypeSyntax:
		return codeSyntaxError
	case duckdb.ErrorTypeCatalog:
		switch {
		case strings.Contains(lower, "table with name"), strings.Contains(lower, "view with name"):
			return codeUndefinedTable
		case strings.Contains(lower, "function with name"), strings.Contains(lower, "macro"):
			return codeUndefinedFunction
		case strings.Contains(lower, "schema with name"):
			return codeUndefinedSchema
		case strings.Contains(lower, "catalog"):
			return codeInvalidCatalogName
		}
		return codeUndefinedObject
	case duckdb.ErrorTypeBinder:
		switch {
		case strings.Contains(lower, "referenced column"), strings.Contains(lower, "column") && strings.Contains(lower, "not found"),
			strings.Contains(lower, "does not have a column"):
			return codeUndefinedColumn
		case strings.Contains(lower, "no function matches"), strings.Contains(lower, "does not support the supplied arguments"):
			return codeUndefinedFunction
		case strings.Contains(lower, "group by"):
			return codeGroupingError
		case strings.Contains(lower, "referenced table"):
			return codeUndefinedTable
		}
		return codeSyntaxOrAccessRule
	case duckdb.ErrorTypeConversion, duckdb.ErrorTypeMismatchType, duckdb.ErrorTypeInvalidType:
		return codeInvalidTextRepr
	case duckdb.ErrorTypeOutOfRange, duckdb.ErrorTypeDecimal:
		return codeNumericOutOfRange
	case duckdb.ErrorTypeDivideByZero:
		return codeDivisionByZero
	case duckdb.ErrorTypeInterrupt:
		return codeQueryCanceled
	case duckdb.ErrorTypeOutOfMemory:
		return codeOutOfMemory
	case duckdb.ErrorTypePermission:
		return codeInsufficientPrivilege
	case duckdb.ErrorTypeInvalidInput:
		if strings.Contains(lower, "read-only") {
			return codeReadOnlyTransaction
		}
		if strings.Contains(lower, "configuration") {
			return codeInsufficientPrivilege
		}
		return codeInvalidParameterValue
	case duckdb.ErrorTypeNotImplemented:
		return codeFeatureNotSupported
	case duckdb.ErrorTypeIO:
		return codeIOError
	case duckdb.ErrorTypeParameterNotResolved, duckdb.ErrorTypeParameterNotAllowed:
		return codeDatatypeMismatch
	}
	return codeInternalError
}
