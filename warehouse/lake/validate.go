package lake

import (
	"fmt"
	"strings"
	"time"

	"github.com/custmart/custmart/warehouse"
)

// Reason codes of quarantined rows. The first four come from the CSV
// reader, bad_json from the JSON Lines split; the others are the checks.
var ReasonCodes = []string{
	"invalid_utf8", "bad_column_count", "malformed_row", "unclosed_quote", "bad_json",
	"missing_customer_id", "bad_id", "missing_ts", "bad_ts", "ts_in_future", "ts_before_floor",
	"missing_amount", "bad_amount", "amount_precision", "bad_quantity", "bad_unit_price", "bad_currency",
}

// Row statuses of the read step besides the reason codes: a valid row, and a
// blank line of a line format (not a row at all).
const (
	statusOK    = "ok"
	statusBlank = "blank"
)

// readerReason maps a DuckDB CSV reject type to a reason code. An
// unterminated quote makes the reader take the rest of the input as one
// value: such a reject spans several lines and is unclosed_quote.
func readerReason(errorType, raw string) string {
	return fmt.Sprintf(`CASE
  WHEN %[1]s = 'INVALID ENCODING' OR %[1]s ILIKE '%%unicode%%' THEN 'invalid_utf8'
  WHEN %[1]s IN ('TOO MANY COLUMNS', 'MISSING COLUMNS') THEN 'bad_column_count'
  WHEN %[1]s = 'UNQUOTED VALUE' AND contains(rtrim(%[2]s, E'\r\n'), E'\n') THEN 'unclosed_quote'
  ELSE 'malformed_row' END`, errorType, raw)
}

// lineSpan is the SQL of the physical lines a raw record spans.
func lineSpan(raw string) string {
	return fmt.Sprintf(`(length(rtrim(%[1]s, E'\r\n')) - length(replace(rtrim(%[1]s, E'\r\n'), E'\n', '')) + 1)`, raw)
}

// checks renders the validation of a source's rows. Over a raw relation with
// file (the input as recorded in the lake), line, raw, reader_reason and one
// VARCHAR column per source column, it
// builds the CTE `checked`: the typed canonical columns and reason_code
// (NULL for a valid row) of every row, in one set-based statement.
type checks struct {
	src Source
	// horizon is the last day a timestamp may fall on (before tolerance).
	horizon time.Time
	batchID string
	// typed sources (Parquet, databases) hold timestamps as values, not as
	// text in a configured format.
	typed bool
	// at stamps quarantined rows.
	at time.Time
}

// trimmed are the columns whose values lose surrounding blanks: keys and
// codes that are compared. Numbers and timestamps parse with blanks around
// them; other labels are kept as written (trimming every value costs a
// fifth of the read).
var trimmed = map[string]bool{"transaction_id": true, "order_id": true, "customer_id": true, "currency": true}

func (c checks) col(canon string) string {
	name := c.src.Columns[canon]
	switch {
	case name == "":
		return "NULL::VARCHAR"
	case canon == "customer_id":
		// Ids are NFC-normalised so that one name typed in two Unicode forms
		// is one customer; only non-ASCII text can differ.
		id := fmt.Sprintf("NULLIF(CASE WHEN strlen(%[1]s) <> length(%[1]s) THEN nfc_normalize(trim(%[1]s)) WHEN prefix(%[1]s, ' ') OR suffix(%[1]s, ' ') THEN trim(%[1]s) ELSE %[1]s END, '')",
			warehouse.Ident(name))
		if c.src.IntegralIDs {
			id = fmt.Sprintf(`regexp_replace(%s, '^(-?[0-9]+)\.0+$', '\1')`, id)
		}
		return id
	case trimmed[canon]:
		// trim removes Unicode space separators; only a value with a blank
		// at either end or with non-ASCII text can have one, and trimming
		// only those is much cheaper than trimming every value.
		return fmt.Sprintf("NULLIF(CASE WHEN prefix(%[1]s, ' ') OR suffix(%[1]s, ' ') OR strlen(%[1]s) <> length(%[1]s) THEN trim(%[1]s) ELSE %[1]s END, '')",
			warehouse.Ident(name))
	}
	return "NULLIF(" + warehouse.Ident(name) + ", '')"
}

func (c checks) name(canon string) string { return warehouse.Quote(c.src.Columns[canon]) }

func (c checks) tsParse() string {
	var formats []string
	for _, f := range []string{c.src.CSV.TimestampFormat, c.src.CSV.DateFormat} {
		if f != "" {
			formats = append(formats, fmt.Sprintf("TRY_STRPTIME(v_ts, %s)", warehouse.Quote(f)))
		}
	}
	// A value with an offset goes through TIMESTAMPTZ so that the offset is
	// honoured (the session is in UTC); the plain cast would drop it, but is
	// much cheaper for the common value without one.
	iso := `CASE WHEN length(v_ts) > 10 AND (contains(substr(v_ts, 11), '+') OR contains(substr(v_ts, 12), '-') OR suffix(upper(v_ts), 'Z'))
    THEN TRY_CAST(TRY_CAST(v_ts AS TIMESTAMPTZ) AS TIMESTAMP) ELSE TRY_CAST(v_ts AS TIMESTAMP) END`
	if len(formats) == 0 || c.typed {
		formats = append([]string{iso}, formats...)
	}
	if len(formats) == 1 {
		return formats[0]
	}
	return "coalesce(" + strings.Join(formats, ", ") + ")"
}

// ctes returns "WITH src AS (raw), ..., checked AS (...)".
func (c checks) ctes(raw string) string {
	src := c.src
	amount := "TRY_CAST(v_amount AS DECIMAL(18,2))"
	// Text amounts are kept exact: an exponent (1e3) is not an amount, and
	// more decimals than cents are rejected, never rounded. The value to ten
	// decimals is compared with the amount: as DECIMAL(18,10) (64-bit,
	// amounts below 10^8) when it fits, else as DECIMAL(38,10) (128-bit, a
	// third of the read's CPU when every value takes it).
	precise := "false"
	if !c.typed {
		amount = "CASE WHEN NOT contains(lower(v_amount), 'e') THEN TRY_CAST(v_amount AS DECIMAL(18,2)) END"
		precise = `CASE WHEN TRY_CAST(v_amount AS DECIMAL(18,10)) IS NOT NULL THEN TRY_CAST(v_amount AS DECIMAL(18,10)) <> amount
      ELSE TRY_CAST(v_amount AS DECIMAL(38,10)) <> amount END`
	}
	amountMissing := "v_amount IS NULL"
	if src.Columns["amount"] == "" {
		amount = "TRY_CAST(TRY_CAST(v_quantity AS DECIMAL(18,3)) * TRY_CAST(v_unit_price AS DECIMAL(18,4)) AS DECIMAL(18,2))"
		amountMissing = "v_quantity IS NULL OR v_unit_price IS NULL"
		precise = "false"
	}
	latest := c.horizon.AddDate(0, 0, 1).Add(src.FutureTolerance)
	currencyCheck := "false"
	if len(src.Currencies) > 0 {
		quoted := make([]string, len(src.Currencies))
		for i, cur := range src.Currencies {
			quoted[i] = warehouse.Quote(strings.ToUpper(cur))
		}
		currencyCheck = fmt.Sprintf("v_currency IS NOT NULL AND upper(v_currency) NOT IN (%s)", strings.Join(quoted, ", "))
	}
	return fmt.Sprintf(`WITH src AS (%[1]s),
v AS (
  SELECT file, line, raw, reader_reason,
    %[2]s AS v_transaction_id, %[3]s AS v_order_id, %[4]s AS v_customer_id, %[5]s AS v_ts,
    %[6]s AS v_amount, %[7]s AS v_quantity, %[8]s AS v_unit_price, %[9]s AS v_currency,
    %[10]s AS v_channel, %[11]s AS v_store_id, %[12]s AS v_product_id
  FROM src),
t AS (
  SELECT *, %[13]s AS ts, %[14]s AS amount,
    TRY_CAST(v_quantity AS DECIMAL(18,3)) AS quantity,
    TRY_CAST(v_unit_price AS DECIMAL(18,4)) AS unit_price
  FROM v),
checked AS (
  SELECT *, CASE
    WHEN reader_reason IS NOT NULL THEN reader_reason
    WHEN v_customer_id IS NULL AND %[21]t THEN 'missing_customer_id'
    WHEN %[19]s THEN 'bad_id'
    WHEN v_ts IS NULL THEN 'missing_ts'
    WHEN ts IS NULL THEN 'bad_ts'
    WHEN ts >= %[15]s::TIMESTAMP THEN 'ts_in_future'
    WHEN ts < %[16]s::TIMESTAMP THEN 'ts_before_floor'
    WHEN %[17]s THEN 'missing_amount'
    WHEN amount IS NULL THEN 'bad_amount'
    WHEN %[20]s THEN 'amount_precision'
    WHEN v_quantity IS NOT NULL AND quantity IS NULL THEN 'bad_quantity'
    WHEN v_unit_price IS NOT NULL AND unit_price IS NULL THEN 'bad_unit_price'
    WHEN %[18]s THEN 'bad_currency'
  END AS reason_code
  FROM t)
`, raw,
		c.col("transaction_id"), c.col("order_id"), c.col("customer_id"), c.col("ts"),
		c.col("amount"), c.col("quantity"), c.col("unit_price"), c.col("currency"),
		c.col("channel"), c.col("store_id"), c.col("product_id"),
		c.tsParse(), amount,
		warehouse.Quote(latest.Format(time.DateTime)), warehouse.Quote(src.NotBefore),
		amountMissing, currencyCheck, c.idCheck(), precise, c.src.MissingCustomerID != MissingCustomerAnonymous)
}

// maxIDLength is the source's max_id_length, 256 when not set.
func (c checks) maxIDLength() int {
	if c.src.MaxIDLength > 0 {
		return c.src.MaxIDLength
	}
	return 256
}

// idCheck is true for a row with an id too long or holding control
// characters (a NUL byte, a line break): a broken export, not an id.
func (c checks) idCheck() string {
	var parts []string
	for _, canon := range []string{"customer_id", "transaction_id", "order_id"} {
		if c.src.Columns[canon] == "" {
			continue
		}
		v := "v_" + canon
		parts = append(parts, fmt.Sprintf("coalesce(length(%s) > %d, false)", v, c.maxIDLength()))
		if canon == "customer_id" {
			// A customer id joins with a CRM: a control character (a NUL, a
			// line break) there is a broken export. A tab is kept, as other
			// white space; order ids may quote line breaks.
			parts = append(parts, fmt.Sprintf(`coalesce(regexp_matches(%s, '[\x00-\x08\x0a-\x1f\x7f]'), false)`, v))
		}
	}
	if len(parts) == 0 {
		return "false"
	}
	return strings.Join(parts, " OR ")
}

func (c checks) refund() string {
	refund := "coalesce(amount < 0, false) OR coalesce(quantity < 0, false)"
	if p := c.src.CancellationPattern; p != "" {
		refund += fmt.Sprintf(" OR coalesce(regexp_matches(v_order_id, %s), false)", warehouse.Quote(p))
	}
	return refund
}

// lakeQuery selects every row as a lake row plus its status (ok, blank or
// a reason code) and day; the read step writes it partitioned by both, so
// valid rows land in day partitions and rejected ones are counted apart.
func (c checks) lakeQuery(raw string) string {
	return c.ctes(raw) + fmt.Sprintf(`SELECT v_transaction_id AS transaction_id, v_order_id AS order_id,
  v_customer_id AS customer_id, ts, amount, quantity, unit_price, upper(v_currency) AS currency,
  v_channel AS channel, v_store_id AS store_id, v_product_id AS product_id,
  reason_code IS NULL AND (%s) AS is_refund,
  %s AS source, %s AS batch_id, file AS source_file, line AS source_line,
  coalesce(reason_code, 'ok') AS status,
  CASE WHEN reason_code IS NULL THEN CAST(ts AS DATE) END AS date
FROM checked`, c.refund(), warehouse.Quote(c.src.Name), warehouse.Quote(c.batchID))
}

// quarantineSelect is the schema of quarantine files, with line as BIGINT
// whatever the staged files held.
const quarantineSelect = "source, file, CAST(line AS BIGINT) AS line, raw, reason_code, message, batch_id, quarantined_at"

func (c checks) stamp() string {
	return "TIMESTAMP " + warehouse.Quote(c.at.UTC().Format("2006-01-02 15:04:05.000000"))
}

// quarantineQuery selects the rejected rows with their line, raw text,
// reason code and message. The line is mapped (see lineMapping) when
// mapping is set.
func (c checks) quarantineQuery(raw string, mapping *lineMapping) string {
	line, join := "c.line", ""
	if mapping != nil {
		line, join = mapping.lineExpr("c"), mapping.joins("c")
	}
	amountName := c.src.Columns["amount"]
	if amountName == "" {
		amountName = c.src.Columns["quantity"] + " * " + c.src.Columns["unit_price"]
	}
	return c.ctes(raw) + fmt.Sprintf(`SELECT %[1]s AS source, c.file, CAST(%[2]s AS BIGINT) AS line, c.raw, c.reason_code,
  CASE c.reason_code
    WHEN 'missing_customer_id' THEN format('column {} is empty', %[3]s)
    WHEN 'missing_ts' THEN format('column {} is empty', %[4]s)
    WHEN 'bad_ts' THEN format('column {}: {} is not a timestamp in the configured format', %[4]s, c.v_ts)
    WHEN 'ts_in_future' THEN format('column {}: {} is after %[5]s plus future_tolerance', %[4]s, c.v_ts)
    WHEN 'ts_before_floor' THEN format('column {}: {} is before not_before %[6]s', %[4]s, c.v_ts)
    WHEN 'missing_amount' THEN format('column {} is empty', %[7]s)
    WHEN 'bad_amount' THEN format('column {}: {} is not an amount', %[7]s, coalesce(c.v_amount, c.v_quantity || ' * ' || c.v_unit_price))
    WHEN 'bad_id' THEN format('an id is longer than max_id_length %[14]d or holds a control character (columns {}, {}, {})', %[3]s, %[15]s, %[16]s)
    WHEN 'amount_precision' THEN format('column {}: {} has more decimals than cents; amounts are never rounded', %[7]s, c.v_amount)
    WHEN 'bad_quantity' THEN format('column {}: {} is not a number', %[8]s, c.v_quantity)
    WHEN 'bad_unit_price' THEN format('column {}: {} is not a number', %[9]s, c.v_unit_price)
    WHEN 'bad_currency' THEN format('column {}: {} is not an allowed currency', %[10]s, c.v_currency)
    WHEN 'bad_column_count' THEN 'wrong number of columns'
    WHEN 'bad_json' THEN 'not a JSON object'
    ELSE c.reason_code END AS message,
  %[11]s AS batch_id, %[12]s AS quarantined_at
FROM checked c%[13]s
WHERE c.reason_code IS NOT NULL AND c.reason_code <> 'blank'`,
		warehouse.Quote(c.src.Name), line,
		c.name("customer_id"), c.name("ts"), c.horizon.Format(time.DateOnly), c.src.NotBefore,
		warehouse.Quote(amountName), c.name("quantity"), c.name("unit_price"), c.name("currency"),
		warehouse.Quote(c.batchID), c.stamp(), join, c.maxIDLength(), c.name("transaction_id"), c.name("order_id"))
}

// rejectsQuery selects the rows the CSV reader itself rejected, from its
// rejects tables, with their input and physical line: placed by byte offset
// through offsets (part path, pos -> line) when given, else DuckDB's own
// line count from the part's start.
func (c checks) rejectsQuery(rejects, parts, offsets string) string {
	line, join := "p.first_line - 1 + e.line", ""
	if offsets != "" {
		line = "coalesce(o.line, p.first_line - 1 + e.line)"
		join = " LEFT JOIN " + warehouse.Ident(offsets) + " o ON o.path = e.path AND o.pos = e.pos"
	}
	return fmt.Sprintf(`SELECT %[1]s AS source, p.input AS file, CAST(%[2]s AS BIGINT) AS line, e.raw,
  %[3]s AS reason_code, e.error_type || ': ' || e.error_message AS message,
  %[4]s AS batch_id, %[5]s AS quarantined_at
FROM (
  SELECT s.file_path AS path, r.line, min_by(r.line_byte_position, r.column_idx) AS pos,
    ltrim(min_by(r.csv_line, r.column_idx), E'\r\n') AS raw, min_by(r.error_type, r.column_idx) AS error_type,
    min_by(r.error_message, r.column_idx) AS error_message
  FROM %[6]s r JOIN %[7]s s USING (scan_id, file_id) GROUP BY ALL) e
JOIN %[8]s p ON p.path = e.path%[9]s`,
		warehouse.Quote(c.src.Name), line, readerReason("e.error_type", "e.raw"),
		warehouse.Quote(c.batchID), c.stamp(), warehouse.Ident(rejects), warehouse.Ident(rejects+"_scan"),
		warehouse.Ident(parts), join)
}
