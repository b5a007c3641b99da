package lake_test

import (
	"errors"
	"testing"

	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/lake"
	"github.com/custmart/custmart/warehouse/lake/pgsource"
)

// TestSourceValidateNamesTheKey checks a source without the configuration
// file: the error names the field by its key, relative to the source.
func TestSourceValidateNamesTheKey(t *testing.T) {
	t.Parallel()
	valid := func() lake.Source {
		return lake.Source{Name: "shop", Path: "in", Format: "csv", Compression: "auto",
			CSV: lake.CSV{Delimiter: ",", Header: true, Quote: `"`}, OnChangedFile: "reject",
			MissingCustomerID: lake.MissingCustomerQuarantine, MaxQuarantineShare: 0.05, NotBefore: "1970-01-01",
			Columns: map[string]string{"customer_id": "c", "ts": "t", "amount": "a"}}
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("a valid source: %v", err)
	}
	for _, tc := range []struct {
		name  string
		edit  func(*lake.Source)
		field string
	}{
		{"format", func(s *lake.Source) { s.Format = "xlsx" }, "format"},
		{"delimiter", func(s *lake.Source) { s.CSV.Delimiter = ";;" }, "csv.delimiter"},
		{"not canonical", func(s *lake.Source) { s.Columns["colour"] = "x" }, "columns.colour"},
		{"postgres batch size", func(s *lake.Source) {
			s.Postgres = &pgsource.Settings{DSNEnv: "PG", Table: "t", Watermark: "id"}
		}, "postgres.batch_size"},
		{"postgres table and query", func(s *lake.Source) {
			s.Postgres = &pgsource.Settings{DSNEnv: "PG", Table: "t", Query: "SELECT 1", Watermark: "id", BatchSize: 10}
		}, "postgres"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := valid()
			tc.edit(&s)
			var se *warehouse.SettingError
			if err := s.Validate(); !errors.As(err, &se) || se.Field != tc.field || se.Hint == "" {
				t.Fatalf("got %v, want a setting error on %s with a hint", err, tc.field)
			}
		})
	}
}
