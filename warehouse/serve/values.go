package serve

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/custmart/custmart/warehouse"
	"github.com/duckdb/duckdb-go/v2"
)

// Values on the wire: the text and binary forms PostgreSQL clients expect
// for each column kind, and the decoding of Bind parameters.

// textFormat holds the session settings that change the text form of values.
type textFormat struct {
	location        *time.Location // TimeZone, for timestamptz
	extraFloatDigit int
}

// pgEpoch is 2000-01-01, the origin of PostgreSQL's binary dates and times.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// appendValue appends the wire form of v (never nil) for column c.
func appendValue(buf []byte, c *column, v any, binaryFormat bool, tf textFormat) ([]byte, error) {
	if binaryFormat {
		return appendBinary(buf, c, v, tf)
	}
	return appendText(buf, c, v, tf)
}

func appendText(buf []byte, c *column, v any, tf textFormat) ([]byte, error) {
	switch c.kind {
	case kindBool:
		if b, ok := v.(bool); ok {
			if b {
				return append(buf, 't'), nil
			}
			return append(buf, 'f'), nil
		}
	case kindFloat4:
		if f, ok := v.(float32); ok {
			return appendFloat(buf, float64(f), 32, tf.extraFloatDigit), nil
		}
	case kindFloat8:
		if f, ok := v.(float64); ok {
			return appendFloat(buf, f, 64, tf.extraFloatDigit), nil
		}
	case kindBytea:
		if b, ok := v.([]byte); ok {
			buf = append(buf, `\x`...)
			return hex.AppendEncode(buf, b), nil
		}
	case kindDate:
		if t, ok := v.(time.Time); ok {
			return appendDate(buf, t), nil
		}
	case kindTime:
		if t, ok := v.(time.Time); ok {
			return t.AppendFormat(buf, "15:04:05.999999"), nil
		}
	case kindTimeTZ:
		if t, ok := v.(time.Time); ok {
			return appendOffset(t.AppendFormat(buf, "15:04:05.999999"), t), nil
		}
	case kindTimestamp:
		if t, ok := v.(time.Time); ok {
			return appendTimestamp(buf, t), nil
		}
	case kindTimestampTZ:
		if t, ok := v.(time.Time); ok {
			t = t.In(tf.location)
			return appendOffset(appendTimestamp(buf, t), t), nil
		}
	case kindInterval:
		if iv, ok := v.(duckdb.Interval); ok {
			return appendInterval(buf, iv), nil
		}
	case kindUUID:
		if b, ok := v.([]byte); ok && len(b) == 16 {
			return appendUUID(buf, b), nil
		}
	case kindJSON:
		if s, ok := v.(string); ok {
			return append(buf, s...), nil
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode json value: %w", err)
		}
		return append(buf, b...), nil
	case kindArray:
		if items, ok := v.([]any); ok {
			return appendArrayText(buf, c.elem, items, tf)
		}
	}
	return appendGeneric(buf, v), nil
}

// appendGeneric renders values whose column kind needs no special text form.
func appendGeneric(buf []byte, v any) []byte {
	switch x := v.(type) {
	case string:
		return append(buf, x...)
	case int8:
		return strconv.AppendInt(buf, int64(x), 10)
	case int16:
		return strconv.AppendInt(buf, int64(x), 10)
	case int32:
		return strconv.AppendInt(buf, int64(x), 10)
	case int64:
		return strconv.AppendInt(buf, x, 10)
	case uint8:
		return strconv.AppendUint(buf, uint64(x), 10)
	case uint16:
		return strconv.AppendUint(buf, uint64(x), 10)
	case uint32:
		return strconv.AppendUint(buf, uint64(x), 10)
	case uint64:
		return strconv.AppendUint(buf, x, 10)
	case *big.Int:
		return x.Append(buf, 10)
	case duckdb.Decimal:
		return appendDecimal(buf, x.Value, int(x.Scale))
	case bool:
		if x {
			return append(buf, "true"...)
		}
		return append(buf, "false"...)
	case float32:
		return appendFloat(buf, float64(x), 32, 1)
	case float64:
		return appendFloat(buf, x, 64, 1)
	case time.Time:
		return appendTimestamp(buf, x)
	case []byte:
		return append(buf, x...)
	case []any:
		buf = append(buf, '[')
		for i, item := range x {
			if i > 0 {
				buf = append(buf, ", "...)
			}
			buf = appendNested(buf, item)
		}
		return append(buf, ']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		buf = append(buf, '{')
		for i, k := range keys {
			if i > 0 {
				buf = append(buf, ", "...)
			}
			buf = append(buf, quoteString(k)...)
			buf = append(buf, ": "...)
			buf = appendNested(buf, x[k])
		}
		return append(buf, '}')
	case duckdb.OrderedMap:
		buf = append(buf, '{')
		for i, k := range x.Keys() {
			if i > 0 {
				buf = append(buf, ", "...)
			}
			val, _ := x.Get(k)
			buf = appendNested(buf, k)
			buf = append(buf, '=')
			buf = appendNested(buf, val)
		}
		return append(buf, '}')
	case duckdb.Interval:
		return appendInterval(buf, x)
	case fmt.Stringer:
		return append(buf, x.String()...)
	}
	return fmt.Appendf(buf, "%v", v)
}

// appendNested renders a value inside a DuckDB-style list, struct or map.
func appendNested(buf []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(buf, "NULL"...)
	case string:
		return append(buf, quoteString(x)...)
	}
	return appendGeneric(buf, v)
}

// appendFloat follows PostgreSQL's float output: the shortest exact form
// (extra_float_digits > 0, the default), switching to exponent notation
// outside 1e-4..1e15 (1e6 for real), or %g with 15+extra digits otherwise.
func appendFloat(buf []byte, f float64, bits int, extraDigits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(buf, "NaN"...)
	case math.IsInf(f, 1):
		return append(buf, "Infinity"...)
	case math.IsInf(f, -1):
		return append(buf, "-Infinity"...)
	}
	if extraDigits <= 0 {
		digits := 15
		if bits == 32 {
			digits = 6
		}
		return strconv.AppendFloat(buf, f, 'g', max(digits+extraDigits, 1), bits)
	}
	limit := 15
	if bits == 32 {
		limit = 6
	}
	start := len(buf)
	buf = strconv.AppendFloat(buf, f, 'e', -1, bits)
	exp, _ := strconv.Atoi(string(buf[bytes.IndexByte(buf[start:], 'e')+start+1:]))
	if exp < -4 || exp >= limit {
		return buf
	}
	return strconv.AppendFloat(buf[:start], f, 'f', -1, bits)
}

// appendDecimal writes the unscaled value v with scale digits after the
// point, the way PostgreSQL prints numeric(p, scale).
func appendDecimal(buf []byte, v *big.Int, scale int) []byte {
	if !v.IsInt64() {
		return append(buf, warehouse.DecimalText(v, scale)...)
	}
	n := v.Int64()
	if n < 0 {
		buf = append(buf, '-')
	}
	start := len(buf)
	buf = strconv.AppendUint(buf, absUint64(n), 10)
	if scale == 0 {
		return buf
	}
	if digits := len(buf) - start; digits <= scale {
		// Pad to one digit before the point: 5 with scale 2 is 0.05.
		pad := scale - digits + 1
		buf = append(buf, make([]byte, pad)...)
		copy(buf[start+pad:], buf[start:len(buf)-pad])
		for i := range pad {
			buf[start+i] = '0'
		}
	}
	buf = append(buf, 0)
	point := len(buf) - 1 - scale
	copy(buf[point+1:], buf[point:len(buf)-1])
	buf[point] = '.'
	return buf
}

func absUint64(n int64) uint64 {
	if n < 0 {
		return uint64(-(n + 1)) + 1
	}
	return uint64(n)
}

func appendDate(buf []byte, t time.Time) []byte {
	if t.Year() <= 0 {
		return t.AddDate(1-2*t.Year(), 0, 0).AppendFormat(buf, "2006-01-02 BC")
	}
	return t.AppendFormat(buf, "2006-01-02")
}

func appendTimestamp(buf []byte, t time.Time) []byte {
	return t.AppendFormat(buf, "2006-01-02 15:04:05.999999")
}

// appendOffset writes a UTC offset the way PostgreSQL does: +02, -03:30.
func appendOffset(buf []byte, t time.Time) []byte {
	_, off := t.Zone()
	if off%3600 == 0 {
		return t.AppendFormat(buf, "-07")
	}
	if off%60 == 0 {
		return t.AppendFormat(buf, "-07:00")
	}
	return t.AppendFormat(buf, "-07:00:00")
}

// appendInterval writes PostgreSQL's default IntervalStyle (postgres):
// "1 year 2 mons 3 days 04:05:06.5".
func appendInterval(buf []byte, iv duckdb.Interval) []byte {
	start := len(buf)
	unit := func(n int64, name string) {
		if n == 0 {
			return
		}
		if len(buf) > start {
			buf = append(buf, ' ')
		}
		buf = strconv.AppendInt(buf, n, 10)
		buf = append(buf, ' ')
		buf = append(buf, name...)
		if n != 1 && n != -1 {
			buf = append(buf, 's')
		}
	}
	unit(int64(iv.Months/12), "year")
	unit(int64(iv.Months%12), "mon")
	unit(int64(iv.Days), "day")
	if iv.Micros != 0 || len(buf) == start {
		if len(buf) > start {
			buf = append(buf, ' ')
		}
		us := iv.Micros
		if us < 0 {
			buf = append(buf, '-')
			us = -us
		}
		buf = fmt.Appendf(buf, "%02d:%02d:%02d", us/3_600_000_000, us/60_000_000%60, us/1_000_000%60)
		if frac := us % 1_000_000; frac != 0 {
			buf = append(buf, strings.TrimRight(fmt.Sprintf(".%06d", frac), "0")...)
		}
	}
	return buf
}

func appendUUID(buf []byte, b []byte) []byte {
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:16])
	return append(buf, out[:]...)
}

// appendArrayText writes a PostgreSQL array literal: {1,2,NULL,"a b"}.
func appendArrayText(buf []byte, elem *column, items []any, tf textFormat) ([]byte, error) {
	buf = append(buf, '{')
	for i, item := range items {
		if i > 0 {
			buf = append(buf, ',')
		}
		if item == nil {
			buf = append(buf, "NULL"...)
			continue
		}
		text, err := appendText(nil, elem, item, tf)
		if err != nil {
			return nil, err
		}
		s := string(text)
		if s == "" || strings.EqualFold(s, "NULL") || strings.ContainsAny(s, "{},\"\\ \t\n\r") {
			buf = append(buf, '"')
			for j := 0; j < len(s); j++ {
				if s[j] == '"' || s[j] == '\\' {
					buf = append(buf, '\\')
				}
				buf = append(buf, s[j])
			}
			buf = append(buf, '"')
			continue
		}
		buf = append(buf, s...)
	}
	return append(buf, '}'), nil
}

func appendBinary(buf []byte, c *column, v any, tf textFormat) ([]byte, error) {
	switch c.kind {
	case kindBool:
		if b, ok := v.(bool); ok {
			if b {
				return append(buf, 1), nil
			}
			return append(buf, 0), nil
		}
	case kindInt2:
		if n, ok := toInt64(v); ok {
			return binary.BigEndian.AppendUint16(buf, uint16(int16(n))), nil
		}
	case kindInt4:
		if n, ok := toInt64(v); ok {
			return binary.BigEndian.AppendUint32(buf, uint32(int32(n))), nil
		}
	case kindInt8:
		if n, ok := toInt64(v); ok {
			return binary.BigEndian.AppendUint64(buf, uint64(n)), nil
		}
	case kindFloat4:
		if f, ok := v.(float32); ok {
			return binary.BigEndian.AppendUint32(buf, math.Float32bits(f)), nil
		}
	case kindFloat8:
		if f, ok := v.(float64); ok {
			return binary.BigEndian.AppendUint64(buf, math.Float64bits(f)), nil
		}
	case kindNumeric:
		switch x := v.(type) {
		case duckdb.Decimal:
			return appendNumericBinary(buf, x.Value, int(x.Scale)), nil
		case *big.Int:
			return appendNumericBinary(buf, x, 0), nil
		case uint64:
			return appendNumericBinary(buf, new(big.Int).SetUint64(x), 0), nil
		}
	case kindBytea, kindUUID:
		if b, ok := v.([]byte); ok {
			return append(buf, b...), nil
		}
	case kindDate:
		if t, ok := v.(time.Time); ok {
			days := math.Floor(float64(t.Unix()-pgEpoch.Unix()) / 86400)
			return binary.BigEndian.AppendUint32(buf, uint32(int32(days))), nil
		}
	case kindTime:
		if t, ok := v.(time.Time); ok {
			return binary.BigEndian.AppendUint64(buf, uint64(microsOfDay(t))), nil
		}
	case kindTimeTZ:
		if t, ok := v.(time.Time); ok {
			_, off := t.Zone()
			buf = binary.BigEndian.AppendUint64(buf, uint64(microsOfDay(t)))
			return binary.BigEndian.AppendUint32(buf, uint32(int32(-off))), nil
		}
	case kindTimestamp, kindTimestampTZ:
		if t, ok := v.(time.Time); ok {
			return binary.BigEndian.AppendUint64(buf, uint64(t.UnixMicro()-pgEpoch.UnixMicro())), nil
		}
	case kindInterval:
		if iv, ok := v.(duckdb.Interval); ok {
			buf = binary.BigEndian.AppendUint64(buf, uint64(iv.Micros))
			buf = binary.BigEndian.AppendUint32(buf, uint32(iv.Days))
			return binary.BigEndian.AppendUint32(buf, uint32(iv.Months)), nil
		}
	case kindArray:
		if items, ok := v.([]any); ok {
			return appendArrayBinary(buf, c.elem, items, tf)
		}
	}
	// text, varchar and json have the same binary and text forms.
	return appendText(buf, c, v, tf)
}

func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	}
	return 0, false
}

func microsOfDay(t time.Time) int64 {
	return int64(t.Hour())*3_600_000_000 + int64(t.Minute())*60_000_000 + int64(t.Second())*1_000_000 + int64(t.Nanosecond()/1000)
}

// appendNumericBinary writes PostgreSQL's binary numeric: base-10000 digits
// with a weight (position of the first digit) and a display scale.
func appendNumericBinary(buf []byte, v *big.Int, scale int) []byte {
	s := new(big.Int).Abs(v).String()
	if len(s) <= scale {
		s = strings.Repeat("0", scale-len(s)+1) + s
	}
	intPart, fracPart := s[:len(s)-scale], s[len(s)-scale:]
	intPart = strings.Repeat("0", (4-len(intPart)%4)%4) + intPart
	fracPart += strings.Repeat("0", (4-len(fracPart)%4)%4)
	var digits []uint16
	for i := 0; i < len(intPart); i += 4 {
		d, _ := strconv.Atoi(intPart[i : i+4])
		digits = append(digits, uint16(d))
	}
	weight := len(digits) - 1
	for i := 0; i < len(fracPart); i += 4 {
		d, _ := strconv.Atoi(fracPart[i : i+4])
		digits = append(digits, uint16(d))
	}
	for len(digits) > 0 && digits[0] == 0 {
		digits = digits[1:]
		weight--
	}
	for len(digits) > 0 && digits[len(digits)-1] == 0 {
		digits = digits[:len(digits)-1]
	}
	sign := uint16(0)
	if v.Sign() < 0 {
		sign = 0x4000
	}
	if len(digits) == 0 {
		weight = 0
	}
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(digits)))
	buf = binary.BigEndian.AppendUint16(buf, uint16(int16(weight)))
	buf = binary.BigEndian.AppendUint16(buf, sign)
	buf = binary.BigEndian.AppendUint16(buf, uint16(scale))
	for _, d := range digits {
		buf = binary.BigEndian.AppendUint16(buf, d)
	}
	return buf
}

// appendArrayBinary writes a one-dimensional PostgreSQL array.
func appendArrayBinary(buf []byte, elem *column, items []any, tf textFormat) ([]byte, error) {
	hasNull := uint32(0)
	if slices.Contains(items, nil) {
		hasNull = 1
	}
	ndim := uint32(1)
	if len(items) == 0 {
		ndim = 0
	}
	buf = binary.BigEndian.AppendUint32(buf, ndim)
	buf = binary.BigEndian.AppendUint32(buf, hasNull)
	buf = binary.BigEndian.AppendUint32(buf, elem.oid)
	if ndim == 0 {
		return buf, nil
	}
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(items)))
	buf = binary.BigEndian.AppendUint32(buf, 1)
	for _, item := range items {
		var err error
		if buf, err = appendBinaryField(buf, elem, item, tf); err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// appendBinaryField writes a value as arrays' elements and binary COPY's
// fields carry it: its length (-1 for NULL), then its binary form.
func appendBinaryField(buf []byte, c *column, v any, tf textFormat) ([]byte, error) {
	if v == nil {
		return binary.BigEndian.AppendUint32(buf, math.MaxUint32), nil
	}
	lenAt := len(buf)
	buf = append(buf, 0, 0, 0, 0)
	buf, err := appendBinary(buf, c, v, tf)
	if err != nil {
		return nil, err
	}
	binary.BigEndian.PutUint32(buf[lenAt:], uint32(len(buf)-lenAt-4))
	return buf, nil
}

// decodeParam turns a Bind parameter into a value DuckDB can bind. Text
// parameters stay strings: DuckDB casts them to the parameter's type the way
// PostgreSQL parses literals.
func decodeParam(oid uint32, binaryFormat bool, data []byte) (any, error) {
	if data == nil {
		return nil, nil
	}
	_, isArray := arrayElement(oid)
	if !binaryFormat {
		switch {
		case oid == oidBytea:
			return decodeByteaText(string(data))
		case isArray:
			return parseArrayText(string(data))
		}
		return string(data), nil
	}
	if isArray {
		return decodeArrayBinary(oid, data)
	}
	wrongLength := func(want int) error {
		return fmt.Errorf("binary %s parameter has %d bytes, want %d", typeName(oid), len(data), want)
	}
	switch oid {
	case oidBool:
		if len(data) != 1 {
			return nil, wrongLength(1)
		}
		return data[0] != 0, nil
	case oidInt2:
		if len(data) != 2 {
			return nil, wrongLength(2)
		}
		return int64(int16(binary.BigEndian.Uint16(data))), nil
	case oidInt4, oidOID:
		if len(data) != 4 {
			return nil, wrongLength(4)
		}
		if oid == oidOID {
			return int64(binary.BigEndian.Uint32(data)), nil
		}
		return int64(int32(binary.BigEndian.Uint32(data))), nil
	case oidInt8:
		if len(data) != 8 {
			return nil, wrongLength(8)
		}
		return int64(binary.BigEndian.Uint64(data)), nil
	case oidFloat4:
		if len(data) != 4 {
			return nil, wrongLength(4)
		}
		return float64(math.Float32frombits(binary.BigEndian.Uint32(data))), nil
	case oidFloat8:
		if len(data) != 8 {
			return nil, wrongLength(8)
		}
		return math.Float64frombits(binary.BigEndian.Uint64(data)), nil
	case oidText, oidVarchar, oidBPChar, oidName, oidJSON, oidUnknown, 0:
		return string(data), nil
	case oidBytea:
		return slices.Clone(data), nil
	case oidNumeric:
		return decodeNumericBinary(data)
	case oidDate:
		if len(data) != 4 {
			return nil, wrongLength(4)
		}
		days := int32(binary.BigEndian.Uint32(data))
		return string(appendDate(nil, pgEpoch.AddDate(0, 0, int(days)))), nil
	case oidTimestamp, oidTimestampTZ:
		if len(data) != 8 {
			return nil, wrongLength(8)
		}
		t := time.UnixMicro(pgEpoch.UnixMicro() + int64(binary.BigEndian.Uint64(data))).UTC()
		s := string(appendTimestamp(nil, t))
		if oid == oidTimestampTZ {
			s += "+00"
		}
		return s, nil
	case oidUUID:
		if len(data) != 16 {
			return nil, wrongLength(16)
		}
		return string(appendUUID(nil, data)), nil
	}
	return nil, fmt.Errorf("binary parameters of type %s are not supported: send it in text format", typeName(oid))
}

func typeName(oid uint32) string {
	if t, ok := typeByOID(oid); ok {
		return t.sqlName
	}
	return "oid " + strconv.FormatUint(uint64(oid), 10)
}

func decodeByteaText(s string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(s, `\x`); ok {
		b, err := hex.DecodeString(rest)
		if err != nil {
			return nil, fmt.Errorf("invalid hex bytea parameter: %w", err)
		}
		return b, nil
	}
	return []byte(s), nil
}

// decodeNumericBinary returns the decimal string of a binary numeric.
func decodeNumericBinary(data []byte) (string, error) {
	if len(data) < 8 {
		return "", fmt.Errorf("binary numeric parameter has %d bytes, want at least 8", len(data))
	}
	ndigits := int(binary.BigEndian.Uint16(data))
	weight := int(int16(binary.BigEndian.Uint16(data[2:])))
	sign := binary.BigEndian.Uint16(data[4:])
	dscale := int(binary.BigEndian.Uint16(data[6:]))
	if len(data) != 8+2*ndigits {
		return "", fmt.Errorf("binary numeric parameter has %d bytes for %d digits", len(data), ndigits)
	}
	switch sign {
	case 0xC000:
		return "NaN", nil
	case 0xD000:
		return "Infinity", nil
	case 0xF000:
		return "-Infinity", nil
	}
	var b strings.Builder
	if sign == 0x4000 {
		b.WriteByte('-')
	}
	digit := func(i int) int {
		if i < 0 || i >= ndigits {
			return 0
		}
		return int(binary.BigEndian.Uint16(data[8+2*i:]))
	}
	if weight < 0 {
		b.WriteByte('0')
	}
	for i := 0; i <= weight; i++ {
		if i == 0 {
			b.WriteString(strconv.Itoa(digit(i)))
		} else {
			fmt.Fprintf(&b, "%04d", digit(i))
		}
	}
	if dscale > 0 {
		var frac strings.Builder
		for i := weight + 1; frac.Len() < dscale; i++ {
			fmt.Fprintf(&frac, "%04d", digit(i))
		}
		b.WriteByte('.')
		b.WriteString(frac.String()[:dscale])
	}
	return b.String(), nil
}
