package serve

import (
	"testing"

	"github.com/custmart/custmart/sql"
)

// TestREADMEDocumentsEveryMart: the README's Marts section, which the
// catalog publishes as comments, describes every published model, and every
// mart but the operational ones has a table of its columns.
func TestREADMEDocumentsEveryMart(t *testing.T) {
	models, err := sql.Load()
	if err != nil {
		t.Fatal(err)
	}
	docs := readmeDocs()
	operational := map[string]bool{"ingest_log": true, "quarantine": true, "job_runs": true}
	for _, m := range models {
		if !m.Publish {
			continue
		}
		if docs.tables[m.Name] == "" {
			t.Errorf("mart %s has no description in the README's Marts section", m.Name)
		}
		if !operational[m.Name] && len(docs.columns[m.Name]) == 0 {
			t.Errorf("mart %s has no column table in the README's Marts section", m.Name)
		}
	}
	for col, want := range map[string]string{
		"customer_id": "customer id as in the source",
		"f_score":     "RFM scores 1..5 by quintile cut points over all customers; equal values share a score; recency reversed (most recent = 5) (1..5)",
		"tenure_days": "as-of date − first_purchase (days)",
	} {
		if got := docs.columns["customer_value"][col]; got != want {
			t.Errorf("customer_value.%s: %q, want %q", col, got, want)
		}
	}
	if got := docs.columns["clv_validation"]["predicted_purchases"]; got != "Σ E[Y(holdout_length) | x, t_x, T] (count)" {
		t.Errorf("an escaped pipe splits a cell: %q", got)
	}
	if got := docs.tables["quarantine"]; got == "" || got[:len("every rejected")] != "every rejected" {
		t.Errorf("quarantine: %q", got)
	}
}
