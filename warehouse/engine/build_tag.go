//go:build !duckdb_arrow

package engine

// QueryChunks needs duckdb-go's Arrow interface, which it compiles only
// under the duckdb_arrow build tag. Without the tag this undefined name is
// what the compiler prints first: build with `make build` or
// `go build -tags duckdb_arrow ./cmd/custmart`.
var _ = build_custmart_with_tags_duckdb_arrow
