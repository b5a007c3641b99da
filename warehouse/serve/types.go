package serve

import (
	"github.com/duckdb/duckdb-go/v2"
)

// pgType is a PostgreSQL type the server reports, with the DuckDB type it
// stands for. One table drives the RowDescription OIDs, the pg_type view and
// format_type(), so the catalog and the wire always agree.
type pgType struct {
	oid      uint32
	name     string // pg_type.typname
	sqlName  string // what format_type() prints
	length   int16  // pg_type.typlen; -1 for variable length
	array    uint32 // OID of the array type
	category string // pg_type.typcategory
	duck     string // DuckDB type name as in duckdb_columns().data_type
}

const (
	oidBool        = 16
	oidBytea       = 17
	oidChar        = 18
	oidName        = 19
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidText        = 25
	oidOID         = 26
	oidJSON        = 114
	oidFloat4      = 700
	oidFloat8      = 701
	oidUnknown     = 705
	oidBPChar      = 1042
	oidVarchar     = 1043
	oidDate        = 1082
	oidTime        = 1083
	oidTimestamp   = 1114
	oidTimestampTZ = 1184
	oidInterval    = 1186
	oidTimeTZ      = 1266
	oidNumeric     = 1700
	oidUUID        = 2950
)

var pgTypes = []pgType{
	{oidBool, "bool", "boolean", 1, 1000, "B", "BOOLEAN"},
	{oidBytea, "bytea", "bytea", -1, 1001, "U", "BLOB"},
	{oidChar, "char", `"char"`, 1, 1002, "Z", ""},
	{oidName, "name", "name", 64, 1003, "S", ""},
	{oidInt8, "int8", "bigint", 8, 1016, "N", "BIGINT"},
	{oidInt2, "int2", "smallint", 2, 1005, "N", "SMALLINT"},
	{oidInt4, "int4", "integer", 4, 1007, "N", "INTEGER"},
	{oidText, "text", "text", -1, 1009, "S", ""},
	{oidOID, "oid", "oid", 4, 1028, "N", ""},
	{oidJSON, "json", "json", -1, 199, "U", "JSON"},
	{oidFloat4, "float4", "real", 4, 1021, "N", "FLOAT"},
	{oidFloat8, "float8", "double precision", 8, 1022, "N", "DOUBLE"},
	{oidBPChar, "bpchar", "character", -1, 1014, "S", ""},
	{oidVarchar, "varchar", "character varying", -1, 1015, "S", "VARCHAR"},
	{oidDate, "date", "date", 4, 1182, "D", "DATE"},
	{oidTime, "time", "time without time zone", 8, 1183, "D", "TIME"},
	{oidTimestamp, "timestamp", "timestamp without time zone", 8, 1115, "D", "TIMESTAMP"},
	{oidTimestampTZ, "timestamptz", "timestamp with time zone", 8, 1185, "D", "TIMESTAMP WITH TIME ZONE"},
	{oidInterval, "interval", "interval", 16, 1187, "T", "INTERVAL"},
	{oidTimeTZ, "timetz", "time with time zone", 12, 1270, "D", "TIME WITH TIME ZONE"},
	{oidNumeric, "numeric", "numeric", -1, 1231, "N", "DECIMAL"},
	{oidUUID, "uuid", "uuid", 16, 2951, "U", "UUID"},
}

// typeIO is a type's I/O functions, as pg_proc has them: typinput,
// typoutput, typreceive and typsend of pg_type are their OIDs. Clients tell
// an array type from its base type by its receive function (array_recv).
type typeIO struct {
	prefix string    // proname is prefix + in, out, recv, send
	oids   [4]uint32 // PostgreSQL's OIDs of input, output, receive, send
	// volatile is each function's provolatile: i immutable, s stable.
	volatile string
	typmod   bool // input and receive take (value, type OID, typmod)
}

// arrayIO serves every array type.
var arrayIO = typeIO{"array_", [4]uint32{750, 751, 2400, 2401}, "ssss", true}

var typeIOs = map[uint32]typeIO{
	oidBool:        {"bool", [4]uint32{1242, 1243, 2436, 2437}, "iiii", false},
	oidBytea:       {"bytea", [4]uint32{1244, 31, 2412, 2413}, "iiii", false},
	oidChar:        {"char", [4]uint32{1245, 33, 2434, 2435}, "iiii", false},
	oidName:        {"name", [4]uint32{34, 35, 2422, 2423}, "iiss", false},
	oidInt8:        {"int8", [4]uint32{460, 461, 2408, 2409}, "iiii", false},
	oidInt2:        {"int2", [4]uint32{38, 39, 2404, 2405}, "iiii", false},
	oidInt4:        {"int4", [4]uint32{42, 43, 2406, 2407}, "iiii", false},
	oidText:        {"text", [4]uint32{46, 47, 2414, 2415}, "iiss", false},
	oidOID:         {"oid", [4]uint32{1798, 1799, 2418, 2419}, "iiii", false},
	oidJSON:        {"json_", [4]uint32{321, 322, 323, 324}, "iiii", false},
	oidFloat4:      {"float4", [4]uint32{200, 201, 2424, 2425}, "iiii", false},
	oidFloat8:      {"float8", [4]uint32{214, 215, 2426, 2427}, "iiii", false},
	oidBPChar:      {"bpchar", [4]uint32{1044, 1045, 2430, 2431}, "iiss", true},
	oidVarchar:     {"varchar", [4]uint32{1046, 1047, 2432, 2433}, "iiss", true},
	oidDate:        {"date_", [4]uint32{1084, 1085, 2468, 2469}, "ssii", false},
	oidTime:        {"time_", [4]uint32{1143, 1144, 2470, 2471}, "siii", true},
	oidTimestamp:   {"timestamp_", [4]uint32{1312, 1313, 2474, 2475}, "ssii", true},
	oidTimestampTZ: {"timestamptz_", [4]uint32{1150, 1151, 2476, 2477}, "ssii", true},
	oidInterval:    {"interval_", [4]uint32{1160, 1161, 2478, 2479}, "ssii", true},
	oidTimeTZ:      {"timetz_", [4]uint32{1350, 1351, 2472, 2473}, "siii", true},
	oidNumeric:     {"numeric_", [4]uint32{1701, 1702, 2460, 2461}, "iiii", true},
	oidUUID:        {"uuid_", [4]uint32{2952, 2953, 2961, 2962}, "iiii", false},
}

// duckAliases maps the other DuckDB type names to the table above.
var duckAliases = map[string]uint32{
	"TINYINT": oidInt2, "UTINYINT": oidInt2, "USMALLINT": oidInt4, "UINTEGER": oidInt8,
	"UBIGINT": oidNumeric, "HUGEINT": oidNumeric, "UHUGEINT": oidNumeric, "BIGNUM": oidNumeric,
	"TIMESTAMP_S": oidTimestamp, "TIMESTAMP_MS": oidTimestamp, "TIMESTAMP_NS": oidTimestamp,
}

func typeByOID(oid uint32) (pgType, bool) {
	for _, t := range pgTypes {
		if t.oid == oid {
			return t, true
		}
	}
	return pgType{}, false
}

// valueKind says how a column's values are encoded on the wire.
type valueKind uint8

const (
	kindText valueKind = iota // strings and everything shown as text
	kindBool
	kindInt2
	kindInt4
	kindInt8
	kindFloat4
	kindFloat8
	kindNumeric
	kindBytea
	kindDate
	kindTime
	kindTimeTZ
	kindTimestamp
	kindTimestampTZ
	kindInterval
	kindUUID
	kindJSON
	kindArray
)

// column describes one result column.
type column struct {
	name   string
	oid    uint32
	typmod int32
	length int16
	kind   valueKind
	elem   *column // element of an array column
}

// columnFor maps a DuckDB result type to the PostgreSQL type clients see.
func columnFor(name string, info duckdb.TypeInfo) column {
	c := column{name: name, typmod: -1}
	if info == nil {
		return c.as(oidText, kindText)
	}
	if info.Alias() == "JSON" {
		return c.as(oidJSON, kindJSON)
	}
	switch info.InternalType() {
	case duckdb.TYPE_BOOLEAN:
		return c.as(oidBool, kindBool)
	case duckdb.TYPE_TINYINT, duckdb.TYPE_SMALLINT, duckdb.TYPE_UTINYINT:
		return c.as(oidInt2, kindInt2)
	case duckdb.TYPE_INTEGER, duckdb.TYPE_USMALLINT:
		return c.as(oidInt4, kindInt4)
	case duckdb.TYPE_BIGINT, duckdb.TYPE_UINTEGER:
		return c.as(oidInt8, kindInt8)
	case duckdb.TYPE_UBIGINT, duckdb.TYPE_HUGEINT, duckdb.TYPE_UHUGEINT, duckdb.TYPE_BIGNUM:
		return c.as(oidNumeric, kindNumeric)
	case duckdb.TYPE_FLOAT:
		return c.as(oidFloat4, kindFloat4)
	case duckdb.TYPE_DOUBLE:
		return c.as(oidFloat8, kindFloat8)
	case duckdb.TYPE_DECIMAL:
		c = c.as(oidNumeric, kindNumeric)
		if d, ok := info.Details().(*duckdb.DecimalDetails); ok {
			c.typmod = int32(d.Width)<<16 | int32(d.Scale) + 4
		}
		return c
	case duckdb.TYPE_VARCHAR:
		return c.as(oidVarchar, kindText)
	case duckdb.TYPE_BLOB:
		return c.as(oidBytea, kindBytea)
	case duckdb.TYPE_DATE:
		return c.as(oidDate, kindDate)
	case duckdb.TYPE_TIME:
		return c.as(oidTime, kindTime)
	case duckdb.TYPE_TIME_TZ:
		return c.as(oidTimeTZ, kindTimeTZ)
	case duckdb.TYPE_TIMESTAMP, duckdb.TYPE_TIMESTAMP_S, duckdb.TYPE_TIMESTAMP_MS, duckdb.TYPE_TIMESTAMP_NS:
		return c.as(oidTimestamp, kindTimestamp)
	case duckdb.TYPE_TIMESTAMP_TZ:
		return c.as(oidTimestampTZ, kindTimestampTZ)
	case duckdb.TYPE_INTERVAL:
		return c.as(oidInterval, kindInterval)
	case duckdb.TYPE_UUID:
		return c.as(oidUUID, kindUUID)
	case duckdb.TYPE_LIST, duckdb.TYPE_ARRAY:
		var child duckdb.TypeInfo
		switch d := info.Details().(type) {
		case *duckdb.ListDetails:
			child = d.Child
		case *duckdb.ArrayDetails:
			child = d.Child
		}
		elem := columnFor("", child)
		t, ok := typeByOID(elem.oid)
		if !ok || elem.kind == kindArray {
			return c.as(oidText, kindText)
		}
		c = c.as(t.array, kindArray)
		c.elem = &elem
		return c
	}
	// ENUM, STRUCT, MAP, UNION, BIT and the rest travel as text.
	return c.as(oidText, kindText)
}

// columnOfType is a column of the PostgreSQL type oid, for results whose
// types the server knows better than the engine (see prepared.types).
func columnOfType(name string, oid uint32) column {
	c := column{name: name, typmod: -1}
	if elem, ok := arrayElement(oid); ok {
		e := columnOfType("", elem.oid)
		c = c.as(oid, kindArray)
		c.elem = &e
		return c
	}
	kind := kindText
	switch oid {
	case oidOID, oidInt4:
		kind = kindInt4
	case oidInt8:
		kind = kindInt8
	case oidBool:
		kind = kindBool
	}
	return c.as(oid, kind)
}

func (c column) as(oid uint32, kind valueKind) column {
	c.oid, c.kind = oid, kind
	c.length = -1
	if t, ok := typeByOID(oid); ok {
		c.length = t.length
	}
	return c
}
