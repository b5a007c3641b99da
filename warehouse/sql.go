package warehouse

import (
	"database/sql"
	"strings"
)

// ParquetOptions are the COPY options of every Parquet file custmart writes
// (lake, quarantine, published marts): zstd at level 1 is 15-20% cheaper to
// write than the default level and, on this data, about as small.
const ParquetOptions = "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1"

// Quote renders s as a SQL string literal.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// ScanValues scans the current row of rows into one value per column, as
// the driver returns them.
func ScanValues(rows *sql.Rows, columns int) ([]any, error) {
	vals := make([]any, columns)
	ptrs := make([]any, columns)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	return vals, rows.Scan(ptrs...)
}

// Ident renders s as a quoted SQL identifier.
func Ident(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
