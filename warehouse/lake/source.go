package lake

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/lake/pgsource"
)

// Source is one feed of raw transactions: files (a file, a glob or an inbox
// directory) or a PostgreSQL table read by watermark. Every field is set:
// the configuration fills the defaults, then Validate checks the source
// before Ingest reads it.
type Source struct {
	Name string
	// Path is a file, a glob, or a directory (an inbox of daily drops).
	Path   string
	Format string // csv, jsonl, parquet
	// Compression of the files: auto (by extension), none, gzip, zstd.
	Compression string
	CSV         CSV
	// Columns maps canonical names (CanonicalColumns) to source columns.
	Columns map[string]string
	// Postgres reads a table or query incrementally instead of files.
	Postgres *pgsource.Settings
	// OnChangedFile says what to do when a file changes after it was ingested:
	// reject (report it, load nothing) or replace (swap its rows in the lake).
	OnChangedFile string
	// CancellationPattern is a regular expression over order_id marking cancellations.
	CancellationPattern string
	// Currencies, when set, is the allowed set of currency codes.
	Currencies []string
	// MaxQuarantineShare fails a file whose rejected share exceeds it (0..1).
	MaxQuarantineShare float64
	// FutureTolerance accepts timestamps up to this long after the as-of date.
	FutureTolerance time.Duration
	// MaxIDLength rejects ids (customer, transaction, order) longer than
	// this many characters: a value that long is a broken export.
	MaxIDLength int
	// IntegralIDs writes customer ids exported as floats (17850.0) as the
	// integers they are (17850), so they join with the CRM's own ids.
	IntegralIDs bool
	// MissingCustomerID says what a row without a customer id is:
	// quarantine (a bad row) or anonymous (a guest checkout, landed with a
	// NULL customer, counted in sales and kept out of per-customer models).
	MissingCustomerID string
	// NotBefore rejects timestamps before this date (YYYY-MM-DD).
	NotBefore string
}

// Policies for rows without a customer id (Source.MissingCustomerID).
const (
	MissingCustomerQuarantine = "quarantine"
	MissingCustomerAnonymous  = "anonymous"
)

// CSV holds the options of delimited text files.
type CSV struct {
	// Delimiter is one character, "\t", or "whitespace" (runs of blanks, as in CDNOW).
	Delimiter string
	Header    bool
	// Names names the columns of a file without a header line.
	Names           []string
	Quote           string
	DateFormat      string
	TimestampFormat string
}

// Validate checks a source whose defaults are filled; the first problem is
// returned as a *warehouse.SettingError naming the field by its
// configuration key.
func (s Source) Validate() error {
	if s.Postgres != nil {
		if err := s.Postgres.Validate(); err != nil {
			return warehouse.WithinSetting("postgres", err)
		}
	} else {
		if s.Path == "" {
			return invalid("path", "missing", "give a file, a glob such as /drops/*.csv, or an inbox directory")
		}
		if err := CheckFileFormat(s.Format); err != nil {
			return err
		}
	}
	switch s.Compression {
	case "auto", "none", "gzip", "zstd":
	default:
		return invalid("compression", fmt.Sprintf("%q is not a compression", s.Compression), "use auto, none, gzip or zstd")
	}
	if d := s.CSV.Delimiter; d != "whitespace" && d != `\t` && len([]rune(d)) != 1 {
		return invalid("csv.delimiter", fmt.Sprintf("%q is not a delimiter", d), `use one character such as "," or ";", "\t", or "whitespace"`)
	}
	if !s.CSV.Header && len(s.CSV.Names) == 0 && s.Format == "csv" {
		return invalid("csv.names", "a file without a header needs column names", "list them: names: [customer_id, date, amount]")
	}
	if err := validateColumns(s.Columns); err != nil {
		return err
	}
	if s.OnChangedFile != "reject" && s.OnChangedFile != "replace" {
		return invalid("on_changed_file", fmt.Sprintf("%q is not a policy", s.OnChangedFile), "use reject or replace")
	}
	if s.MissingCustomerID != MissingCustomerQuarantine && s.MissingCustomerID != MissingCustomerAnonymous {
		return invalid("missing_customer_id", fmt.Sprintf("%q is not a policy", s.MissingCustomerID),
			"use quarantine (a row without a customer is bad data) or anonymous (guest checkouts)")
	}
	if s.CancellationPattern != "" {
		if _, err := regexp.Compile(s.CancellationPattern); err != nil {
			return invalid("cancellation_pattern", err.Error(), "write a valid regular expression")
		}
	}
	if s.MaxIDLength < 0 {
		return invalid("max_id_length", fmt.Sprintf("%d is negative", s.MaxIDLength), "write a length in characters, e.g. 256")
	}
	if share := s.MaxQuarantineShare; share < 0 || share > 1 {
		return invalid("max_quarantine_share", fmt.Sprintf("%g is not a share", share), "use a number between 0 and 1, e.g. 0.05")
	}
	if _, err := time.Parse(time.DateOnly, s.NotBefore); err != nil {
		return invalid("not_before", fmt.Sprintf("%q is not a date", s.NotBefore), "write YYYY-MM-DD")
	}
	return nil
}

func validateColumns(cols map[string]string) error {
	canonical := map[string]bool{}
	for _, c := range CanonicalColumns {
		canonical[c] = true
	}
	for k := range cols {
		if !canonical[k] {
			return invalid("columns."+k, "not a canonical column", "map one of: "+strings.Join(CanonicalColumns, ", "))
		}
	}
	for _, req := range []string{"customer_id", "ts"} {
		if cols[req] == "" {
			return invalid("columns."+req, "required column is not mapped", fmt.Sprintf("add `%s: <source column>` under columns", req))
		}
	}
	if cols["amount"] == "" && (cols["quantity"] == "" || cols["unit_price"] == "") {
		return invalid("columns.amount", "required column is not mapped", "map amount, or both quantity and unit_price (amount = quantity * unit_price)")
	}
	return nil
}

var invalid = warehouse.InvalidSetting

// CheckFileFormat returns the "format" setting's error unless format is one a
// file can be read in: the lake's sources and the transform's side files share it.
func CheckFileFormat(format string) error {
	switch format {
	case "csv", "jsonl", "parquet":
		return nil
	}
	return invalid("format", fmt.Sprintf("%q is not a format", format), "use csv, jsonl or parquet")
}
