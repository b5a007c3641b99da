package config

import (
	"errors"
	"strings"
	"testing"
)

// one is a valid source with the keys the cases below override.
const one = `version: 1
sources:
  - name: s
    path: in
    columns: {customer_id: c, ts: t, amount: a}
`

// TestValidationErrorsNameTheFieldAndTheFix covers the checks made after
// decoding: every field a value can be wrong in, with the message and the
// field path the error names and a hint of what to write.
func TestValidationErrorsNameTheFieldAndTheFix(t *testing.T) {
	t.Parallel()
	src := func(extra string) string { return one + extra }
	for _, tc := range []struct {
		name, yaml, field, msg string
	}{
		{"no source", "version: 1\nsources: []\n", "sources", "no source is configured"},
		{"source name", "version: 1\nsources:\n  - {name: Shop, path: in, columns: {customer_id: c, ts: t, amount: a}}\n", "sources[0].name", `"Shop" is not a valid source name`},
		{"no path", "version: 1\nsources:\n  - {name: s, columns: {customer_id: c, ts: t, amount: a}}\n", "sources[0].path", "missing"},
		{"compression", src("    compression: rar\n"), "sources[0].compression", `"rar" is not a compression`},
		{"delimiter", src("    csv: {delimiter: ';;'}\n"), "sources[0].csv.delimiter", `";;" is not a delimiter`},
		{"no header, no names", src("    csv: {header: false}\n"), "sources[0].csv.names", "a file without a header needs column names"},
		{"not a canonical column", "version: 1\nsources:\n  - {name: s, path: in, columns: {customer_id: c, ts: t, amount: a, colour: x}}\n", "sources[0].columns.colour", "not a canonical column"},
		{"customer id unmapped", "version: 1\nsources:\n  - {name: s, path: in, columns: {ts: t, amount: a}}\n", "sources[0].columns.customer_id", "required column is not mapped"},
		{"amount from quantity alone", "version: 1\nsources:\n  - {name: s, path: in, columns: {customer_id: c, ts: t, quantity: q}}\n", "sources[0].columns.amount", "required column is not mapped"},
		{"changed file policy", src("    on_changed_file: ignore\n"), "sources[0].on_changed_file", `"ignore" is not a policy`},
		{"cancellation pattern", src("    cancellation_pattern: \"(\"\n"), "sources[0].cancellation_pattern", "missing closing )"},
		{"max id length", src("    max_id_length: -1\n"), "sources[0].max_id_length", "-1 is negative"},
		{"quarantine share", src("    max_quarantine_share: 1.5\n"), "sources[0].max_quarantine_share", "1.5 is not a share"},
		{"not before", src("    not_before: 2024-13-01\n"), "sources[0].not_before", `"2024-13-01" is not a date`},
		{"postgres dsn", "version: 1\nsources:\n  - {name: s, postgres: {table: t, watermark: id}, columns: {customer_id: c, ts: t, amount: a}}\n", "sources[0].postgres.dsn_env", "missing"},
		{"postgres table and query", "version: 1\nsources:\n  - {name: s, postgres: {dsn_env: PG, table: t, query: SELECT 1, watermark: id}, columns: {customer_id: c, ts: t, amount: a}}\n", "sources[0].postgres", "give exactly one of table or query"},
		{"postgres watermark", "version: 1\nsources:\n  - {name: s, postgres: {dsn_env: PG, table: t}, columns: {customer_id: c, ts: t, amount: a}}\n", "sources[0].postgres.watermark", "missing"},
		{"postgres batch size", "version: 1\nsources:\n  - {name: s, postgres: {dsn_env: PG, table: t, watermark: id, batch_size: -5}, columns: {customer_id: c, ts: t, amount: a}}\n", "sources[0].postgres.batch_size", "-5 is not a batch size"},
		{"time unit", one + "model: {time_unit: months}\n", "model.time_unit", `"months" is not a time unit`},
		{"horizon", one + "model: {horizon: -1}\n", "model.horizon", "cannot be negative"},
		{"margin rate", one + "model: {margin_rate: 1.2}\n", "model.margin_rate", "1.2 is not a rate"},
		{"discount rate", one + "model: {discount_rate: 1}\n", "model.discount_rate", "1 is not an annual rate"},
		{"monetary", one + "model: {monetary: median}\n", "model.monetary", `"median" is not a monetary rule`},
		{"predictive model", one + "model: {predictive_model: arima}\n", "model.predictive_model", `"arima" is not a model`},
		{"tiers over one", one + "model: {tiers: {platinum: 0.5, gold: 0.5, iron: 0.5}}\n", "model.tiers", "sum to at most 1"},
		{"segment without a name", one + "model: {rfm_segments: [{r: 1-5, f: 1-5, m: 1-5}]}\n", "model.rfm_segments[0].segment", "missing"},
		{"segment range", one + "model: {rfm_segments: [{segment: A, r: 0-5, f: 1-5, m: 1-5}]}\n", "model.rfm_segments[0]", "is not within 1..5"},
		{"cycle bands", one + "model: {cycle_bands: [0.7, 0.3]}\n", "model.cycle_bands", "two increasing quantiles"},
		{"amount bands", one + "model: {amount_bands: [0.5]}\n", "model.amount_bands", "two increasing quantiles"},
		{"holdout", one + "model: {holdout_from: soon}\n", "model.holdout_from", `"soon" is not a date`},
		{"comparison sample", one + "model: {comparison_sample: -1}\n", "model.comparison_sample", "cannot be negative"},
		{"feedback path", one + "model: {feedback: {columns: {customer_id: c, date: d, score: s}, scale: 5}}\n", "model.feedback.path", "missing"},
		{"feedback column", one + "model: {feedback: {path: f.csv, columns: {customer_id: c, date: d}, scale: 5}}\n", "model.feedback.columns.score", "required column is not mapped"},
		{"feedback scale", one + "model: {feedback: {path: f.csv, columns: {customer_id: c, date: d, score: s}, scale: -5}}\n", "model.feedback.scale", "-5 is not a scale"},
		{"feedback attitude", one + "model: {feedback: {path: f.csv, columns: {customer_id: c, date: d, score: s}, scale: 5, high_attitude: 2}}\n", "model.feedback.high_attitude", "2 is not a share of the scale"},
		{"campaign column", one + "model: {campaign_response: {path: c.csv, columns: {customer_id: c, colour: x}}}\n", "model.campaign_response.columns.colour", "not a column of this source"},
		{"keep versions", one + "publish: {keep_versions: -1}\n", "publish.keep_versions", "must keep at least 1 version"},
		{"serve user name", one + "serve: {users: [{password_env: PW}]}\n", "serve.users[0].name", "missing"},
		{"serve user password", one + "serve: {users: [{name: a}]}\n", "serve.users[0]", "give exactly one of password_env or scram"},
		{"serve plaintext", one + "serve: {users: [{name: a, scram: hunter2}]}\n", "serve.users[0].scram", "not a SCRAM-SHA-256 verifier"},
		{"serve tls pair", one + "serve: {tls_cert: c.pem}\n", "serve.tls_cert", "tls_cert and tls_key go together"},
		{"serve require tls", one + "serve: {require_tls: true}\n", "serve.require_tls", "no certificate is configured"},
		{"serve connections", one + "serve: {max_connections: -1}\n", "serve.max_connections", "must be at least 1"},
		{"job name", one + "jobs: [{name: Daily, schedule: \"@daily\", steps: [ingest]}]\n", "jobs[0].name", `"Daily" is not a valid job name`},
		{"job twice", one + "jobs: [{name: a, schedule: \"@daily\", steps: [ingest]}, {name: a, schedule: \"@daily\", steps: [ingest]}]\n", "jobs[1].name", `job "a" is declared twice`},
		{"job without steps", one + "jobs: [{name: a, schedule: \"@daily\", steps: []}]\n", "jobs[0].steps", "no steps"},
		{"job step", one + "jobs: [{name: a, schedule: \"@daily\", steps: [export]}]\n", "jobs[0].steps", `"export" is not a step`},
		{"job source", one + "jobs: [{name: a, schedule: \"@daily\", steps: [ingest], sources: [nope]}]\n", "jobs[0].sources", `source "nope" is not declared`},
		{"job retries", one + "jobs: [{name: a, schedule: \"@daily\", steps: [ingest], retries: -1}]\n", "jobs[0].retries", "cannot be negative"},
		{"job timeout", one + "jobs: [{name: a, schedule: \"@daily\", steps: [ingest], timeout: -1m}]\n", "jobs[0].timeout", "cannot be negative"},
		{"shutdown grace", one + "scheduler: {shutdown_grace: -1s}\n", "scheduler.shutdown_grace", "cannot be negative"},
		{"check every", one + "scheduler: {check_every: -1s}\n", "scheduler.check_every", "cannot be negative"},
		{"keep runs", one + "scheduler: {keep_runs: -1}\n", "scheduler.keep_runs", "cannot be negative"},
		{"alerts timeout", one + "alerts: {timeout: -1s}\n", "alerts.timeout", "cannot be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tc.yaml), "c.yaml")
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a config error on %s", err, tc.field)
			}
			if ce.Field != tc.field || !strings.Contains(ce.Msg, tc.msg) || ce.Hint == "" {
				t.Errorf("got field %q: %q (hint %q)\nwant field %q with %q and a hint", ce.Field, ce.Msg, ce.Hint, tc.field, tc.msg)
			}
			if !strings.HasPrefix(ce.Error(), "config c.yaml: "+tc.field) {
				t.Errorf("error %q does not start with the file and the field", ce.Error())
			}
		})
	}
}
