package lake

import (
	"fmt"
	"slices"
	"strings"

	"github.com/custmart/custmart/warehouse"
)

// TransactionSchema is the typed schema of the lake's transaction files, as
// "name TYPE", in file order: the canonical columns a source maps, then what
// the lake derives (is_refund) and records (where each row came from).
// Their day is the Hive partition of the date=YYYY-MM-DD folder they are in.
// Readers of the lake take it from here.
var TransactionSchema = append(slices.Clip(canonicalSchema),
	"is_refund BOOLEAN", "source VARCHAR", "batch_id VARCHAR", "source_file VARCHAR", "source_line BIGINT")

// canonicalSchema is the part of TransactionSchema that sources map.
var canonicalSchema = []string{
	"transaction_id VARCHAR", "order_id VARCHAR", "customer_id VARCHAR", "ts TIMESTAMP",
	"amount DECIMAL(18,2)", "quantity DECIMAL(18,3)", "unit_price DECIMAL(18,4)", "currency VARCHAR",
	"channel VARCHAR", "store_id VARCHAR", "product_id VARCHAR",
}

// CanonicalColumns are the columns a source maps its own columns onto
// (Source.Columns), in file order.
var CanonicalColumns = schemaNames(canonicalSchema)

func schemaNames(schema []string) []string {
	names := make([]string, len(schema))
	for i, def := range schema {
		names[i], _, _ = strings.Cut(def, " ")
	}
	return names
}

// QuarantineSchema is the typed schema of the lake's quarantine files.
var QuarantineSchema = []string{
	"source VARCHAR", "file VARCHAR", "line BIGINT", "raw VARCHAR", "reason_code VARCHAR",
	"message VARCHAR", "batch_id VARCHAR", "quarantined_at TIMESTAMP",
}

// EmptyRelation is a SELECT with the schema's columns and no rows.
func EmptyRelation(schema []string) string {
	return relation(schema, func(typ string) string { return "NULL::" + typ }) + " WHERE false"
}

// failingRelation is a SELECT with the schema's columns whose every read
// fails with msg: through its filter (a count) and through each column (a
// filter the optimizer would otherwise fold away on constant NULLs).
func failingRelation(schema []string, msg string) string {
	fail := fmt.Sprintf("error(%s)", warehouse.Quote(msg))
	return relation(schema, func(typ string) string { return fail + "::" + typ }) + " WHERE " + fail
}

func relation(schema []string, value func(typ string) string) string {
	cols := make([]string, len(schema))
	for i, def := range schema {
		name, typ, _ := strings.Cut(def, " ")
		cols[i] = value(typ) + " AS " + name
	}
	return "SELECT " + strings.Join(cols, ", ")
}
