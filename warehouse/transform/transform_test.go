package transform_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/custmart/custmart/jobs/config"
	models "github.com/custmart/custmart/sql"
	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/dag"
	"github.com/custmart/custmart/warehouse/lake"
	"github.com/custmart/custmart/warehouse/transform"
	"github.com/custmart/custmart/warehouse/transform/transformtest"
)

// tiny is hand-made data whose RFM values are worked out by hand in
// TestRFMOnTinyData, ties included.
const tiny = `transaction_id,order_id,customer_id,ts,amount
t1,o1,A,2024-01-09 10:00:00,10.00
t2,o2,A,2024-01-05 10:00:00,20.00
t3,o3,B,2024-01-09 11:00:00,5.00
t4,o4,C,2024-01-01 09:00:00,100.00
t5,o5,C,2024-01-02 09:00:00,50.00
t6,R5,C,2024-01-03 09:00:00,-20.00
t7,o7,D,2024-01-08 12:00:00,30.00
t8,o8,E,2024-01-01 08:00:00,1.00
t9,o9,F,2024-01-11 08:00:00,99.00
`

type fixture struct {
	layout  warehouse.Layout
	sources []lake.Source
	params  transform.Params
	asOf    time.Time
}

func setup(t *testing.T, data string, yamlExtra string) fixture {
	t.Helper()
	return setupColumns(t, data, "{transaction_id: transaction_id, order_id: order_id, customer_id: customer_id, ts: ts, amount: amount}", yamlExtra)
}

// setupColumns is setup with the source's column mapping spelled out.
func setupColumns(t *testing.T, data, columns, yamlExtra string) fixture {
	t.Helper()
	dir := t.TempDir()
	inbox := filepath.Join(dir, "inbox")
	if err := os.MkdirAll(inbox, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(inbox, "day.csv"), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	raw := `version: 1
sources:
  - name: shop
    path: ` + inbox + `
    columns: ` + columns + `
    cancellation_pattern: "^R"
    future_tolerance: 30d
` + yamlExtra
	cfg, err := config.Parse([]byte(raw), filepath.Join(dir, "custmart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sources, err := cfg.LakeSources()
	if err != nil {
		t.Fatal(err)
	}
	f := fixture{layout: warehouse.NewLayout(filepath.Join(dir, "data")), sources: sources, params: cfg.Model.Params(),
		asOf: time.Date(2024, 1, 10, 0, 0, 0, 0, time.UTC)}
	in := &lake.Ingester{Layout: f.layout, AsOf: f.asOf.AddDate(0, 0, 5)}
	if _, err := in.Ingest(context.Background(), f.sources); err != nil {
		t.Fatal(err)
	}
	return f
}

// coreModels are the backbone models these tests check: the profile, RFM
// and what they depend on (the scoring models have tests of their own).
func coreModels(t *testing.T) []models.Model {
	t.Helper()
	return upstreamModels(t, "rfm", "customer_profile", "segment_summary")
}

// upstreamModels are the named models and every model they depend on.
func upstreamModels(t *testing.T, names ...string) []models.Model {
	t.Helper()
	all, err := models.Load()
	if err != nil {
		t.Fatal(err)
	}
	deps := map[string][]string{}
	for _, m := range all {
		deps[m.Name] = m.DependsOn
	}
	keep := dag.Upstream(deps, names...)
	var out []models.Model
	for _, m := range all {
		if keep[m.Name] {
			out = append(out, m)
		}
	}
	return out
}

func (f fixture) transform(t *testing.T) transform.Result {
	t.Helper()
	r := &transform.Runner{Layout: f.layout, Params: f.params, AsOf: f.asOf, Models: coreModels(t)}
	res, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (f fixture) db(t *testing.T) *sql.DB {
	t.Helper()
	db, err := transformtest.OpenBuilt(context.Background(), f.layout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

type rfmRow struct {
	recency, orders int64
	monetary        float64
	r, f, m         int64
	segment         string
}

func readRFM(t *testing.T, db *sql.DB) map[string]rfmRow {
	t.Helper()
	rows, err := db.Query(`SELECT customer_id, recency_days, orders, monetary::DOUBLE, r_score, f_score, m_score, segment FROM rfm`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]rfmRow{}
	for rows.Next() {
		var id string
		var r rfmRow
		if err := rows.Scan(&id, &r.recency, &r.orders, &r.monetary, &r.r, &r.f, &r.m, &r.segment); err != nil {
			t.Fatal(err)
		}
		got[id] = r
	}
	return got
}

// TestRFMOnTinyData checks RFM against values worked out by hand.
// As of 2024-01-10 (F bought after it and is not yet a customer):
// recency [A 1, B 1, C 8, D 2, E 9] has quintile cut points (linear
// interpolation) 1, 1.6, 4.4, 8.2, so r = 1 + #cuts above: A, B 4 (a tie, the
// same score), D 3, C 2, E 1. Orders [2,1,2,1,1] cut at 1, 1, 1.4, 2: f = 4
// for 2 orders, 1 for one. Monetary [30,5,130,30,1] (C's refund nets 150 to
// 130) cut at 4.2, 20, 30, 50: m = A 3, D 3 (tie), B 2, C 5, E 1.
func TestRFMOnTinyData(t *testing.T) {
	t.Parallel()
	f := setup(t, tiny, "")
	f.transform(t)
	got := readRFM(t, f.db(t))
	want := map[string]rfmRow{
		"A": {1, 2, 30, 4, 4, 3, "Loyal Customers"},
		"B": {1, 1, 5, 4, 1, 2, "Potential Loyalist"},
		"C": {8, 2, 130, 2, 4, 5, "Loyal Customers"},
		"D": {2, 1, 30, 3, 1, 3, "Potential Loyalist"},
		"E": {9, 1, 1, 1, 1, 1, "Hibernating"},
	}
	if len(got) != len(want) {
		t.Fatalf("rfm has %d customers, want %d: %v", len(got), len(want), got)
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("customer %s: got %+v, want %+v", id, got[id], w)
		}
	}
}

func TestProfileOnTinyData(t *testing.T) {
	t.Parallel()
	f := setup(t, tiny, "")
	f.transform(t)
	var gross, refunds, net float64
	var orders, days int64
	var cycle sql.NullFloat64
	err := f.db(t).QueryRow(`SELECT gross_revenue::DOUBLE, refunds::DOUBLE, net_revenue::DOUBLE, orders, purchase_days, cycle_days
FROM customer_profile WHERE customer_id = 'C'`).Scan(&gross, &refunds, &net, &orders, &days, &cycle)
	if err != nil {
		t.Fatal(err)
	}
	if gross != 150 || refunds != 20 || net != 130 || orders != 2 || days != 2 || !cycle.Valid || cycle.Float64 != 1 {
		t.Fatalf("C: gross %v refunds %v net %v orders %d days %d cycle %v", gross, refunds, net, orders, days, cycle)
	}
	// A single-purchase customer has no purchase cycle.
	if err := f.db(t).QueryRow(`SELECT cycle_days FROM customer_profile WHERE customer_id = 'E'`).Scan(&cycle); err != nil || cycle.Valid {
		t.Fatalf("E cycle %v (%v), want NULL", cycle, err)
	}
}

func TestSegmentTableIsConfiguration(t *testing.T) {
	t.Parallel()
	f := setup(t, tiny, `model:
  rfm_segments:
    - {segment: Top, r: 4-5, f: [4, 5], m: 3}
    - {segment: Rest, r: 2-5, f: 1-5, m: 1-5}
`)
	f.transform(t)
	got := readRFM(t, f.db(t))
	for id, seg := range map[string]string{"A": "Top", "B": "Rest", "C": "Rest", "D": "Rest", "E": "Others"} {
		if got[id].segment != seg {
			t.Errorf("customer %s: segment %q, want %q", id, got[id].segment, seg)
		}
	}
}

func TestFailingCheckKeepsPreviousBuildAndBlocksPublish(t *testing.T) {
	t.Parallel()
	f := setup(t, tiny, "")
	f.transform(t)
	ms := coreModels(t)
	for i := range ms {
		if ms[i].Name == "rfm" {
			ms[i].SQL = "FROM (" + ms[i].SQL + ") UNION ALL FROM (" + ms[i].SQL + ")" // duplicates every key
		}
	}
	r := &transform.Runner{Layout: f.layout, Params: f.params, AsOf: f.asOf, Models: ms}
	_, err := r.Run(context.Background())
	var ce *transform.CheckError
	if !errors.As(err, &ce) || ce.Model != "rfm" || ce.Check.Kind != "unique" || ce.Failing != 5 {
		t.Fatalf("want a unique check failure on rfm with 5 failing keys, got %v", err)
	}
	if _, err := transformtest.OpenBuilt(context.Background(), f.layout); err == nil {
		t.Fatal("the failed transform's marts can be opened as built")
	}
	// The previous build's staged marts stay as they were.
	staged, err := filepath.Glob(filepath.Join(f.layout.Staged(), "*", "marts.duckdb"))
	if err != nil || len(staged) != 1 {
		t.Fatalf("staged builds %v (%v), want the previous one alone", staged, err)
	}
	db, err := sql.Open("duckdb", staged[0]+"?access_mode=read_only")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int64
	if err := db.QueryRow(`SELECT count(*) FROM rfm`).Scan(&n); err != nil || n != 5 {
		t.Fatalf("staged rfm after the failed build has %d rows (%v), want the previous 5", n, err)
	}
	wh, err := sql.Open("duckdb", f.layout.WarehouseDB()+"?access_mode=read_only")
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	state, err := transform.LoadState(context.Background(), wh)
	if err != nil || state.Status != "failed" || state.Staged != "" {
		t.Fatalf("state %+v (%v), want failed with nothing staged", state, err)
	}
}

// TestRowChecksCountedInOneScanKeepTheirOrder: the row checks of a model are
// counted together, yet the first failing check in declared order is the
// one reported, with its own count and sample rows, and a check on a column
// the model lacks names itself.
func TestRowChecksCountedInOneScanKeepTheirOrder(t *testing.T) {
	t.Parallel()
	f := setup(t, tiny, "")
	f.transform(t)
	var belowThree, belowFour int64
	if err := f.db(t).QueryRow(`SELECT count(*) FILTER (WHERE r_score < 3), count(*) FILTER (WHERE r_score < 4) FROM rfm`).Scan(&belowThree, &belowFour); err != nil {
		t.Fatal(err)
	}
	if belowThree == 0 || belowFour == belowThree {
		t.Fatalf("the fixture's r_scores do not tell the two checks apart: %d below 3, %d below 4", belowThree, belowFour)
	}
	run := func(checks ...models.Check) error {
		ms := coreModels(t)
		for i := range ms {
			if ms[i].Name == "rfm" {
				ms[i].Checks = checks
			}
		}
		_, err := (&transform.Runner{Layout: f.layout, Params: f.params, AsOf: f.asOf, Models: ms}).Run(context.Background())
		return err
	}
	passing := []models.Check{{Kind: "not_null", Args: "customer_id, r_score"}, {Kind: "sql", Args: "SELECT 1 WHERE false"}, {Kind: "range", Args: "r_score 1 5"}}
	if err := run(passing...); err != nil {
		t.Fatalf("passing checks: %v", err)
	}
	err := run(append(passing, models.Check{Kind: "range", Args: "r_score 3 NULL"}, models.Check{Kind: "range", Args: "r_score 4 NULL"},
		models.Check{Kind: "accepted_values", Args: "segment: none"})...)
	var ce *transform.CheckError
	if !errors.As(err, &ce) || ce.Check.Args != "r_score 3 NULL" || ce.Failing != belowThree || len(ce.Sample) == 0 || !strings.Contains(ce.Sample[0], "r_score=") {
		t.Fatalf("want the range r_score 3 check to fail on %d rows with a sample, got %+v (%v)", belowThree, ce, err)
	}
	err = run(passing[0], models.Check{Kind: "range", Args: "no_such_column 0 1"})
	if err == nil || errors.As(err, &ce) || !strings.Contains(err.Error(), "check range no_such_column 0 1") {
		t.Fatalf("a check on a missing column: %v, want an error naming the check", err)
	}
}

// TestIncrementalEqualsFullRebuild adds a late file and a new day, then
// compares the incrementally maintained customer_daily with a full rebuild.
func TestIncrementalEqualsFullRebuild(t *testing.T) {
	t.Parallel()
	f := setup(t, tiny, "")
	first := f.transform(t)
	if cd := modelResult(first, "customer_daily"); cd.ChangedDays != -1 {
		t.Fatalf("first build should be full, got %d changed days", cd.ChangedDays)
	}
	late := "transaction_id,order_id,customer_id,ts,amount\nt10,o10,B,2024-01-02 10:00:00,7.00\nt11,o11,G,2024-01-10 10:00:00,3.50\n"
	if err := os.WriteFile(filepath.Join(filepath.Dir(f.sources[0].Path), "inbox", "late.csv"), []byte(late), 0o644); err != nil {
		t.Fatal(err)
	}
	in := &lake.Ingester{Layout: f.layout, AsOf: f.asOf}
	if _, err := in.Ingest(context.Background(), f.sources); err != nil {
		t.Fatal(err)
	}
	second := f.transform(t)
	if cd := modelResult(second, "customer_daily"); cd.ChangedDays != 2 {
		t.Fatalf("incremental build changed %d days, want 2", cd.ChangedDays)
	}
	incremental := dump(t, f, "customer_daily")
	full := &transform.Runner{Layout: f.layout, Params: f.params, AsOf: f.asOf, Models: coreModels(t), FullRefresh: true}
	if _, err := full.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rebuilt := dump(t, f, "customer_daily"); rebuilt != incremental {
		t.Fatalf("incremental:\n%s\nfull rebuild:\n%s", incremental, rebuilt)
	}
}

// TestByKeyFollowsItsSourceAcrossAFailedRun: customer_daily commits a late
// file's days while customer_base fails in the same run; the next run still
// rebuilds exactly the customers with rows on those days, and equals a full
// rebuild.
func TestByKeyFollowsItsSourceAcrossAFailedRun(t *testing.T) {
	t.Parallel()
	f := setup(t, tiny, "")
	// On or after the lake's last day (F's, 2024-01-11): before it, every
	// build of customer_base is whole.
	f.asOf = time.Date(2024, 1, 12, 0, 0, 0, 0, time.UTC)
	if cb := modelResult(f.transform(t), "customer_base"); cb.ChangedKeys != -1 {
		t.Fatalf("first build of customer_base should be whole, got %d changed keys", cb.ChangedKeys)
	}
	// B buys on an old day (C's 2024-01-02), G is new.
	late := "transaction_id,order_id,customer_id,ts,amount\nt10,o10,B,2024-01-02 10:00:00,7.00\nt11,o11,G,2024-01-10 10:00:00,3.50\n"
	if err := os.WriteFile(filepath.Join(filepath.Dir(f.sources[0].Path), "inbox", "late.csv"), []byte(late), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := (&lake.Ingester{Layout: f.layout, AsOf: f.asOf}).Ingest(context.Background(), f.sources); err != nil {
		t.Fatal(err)
	}
	failing := coreModels(t)
	for i := range failing {
		if failing[i].Name == "customer_base" {
			failing[i].Checks = append(failing[i].Checks, models.Check{Kind: "sql", Args: "SELECT 1"})
		}
	}
	var ce *transform.CheckError
	if _, err := (&transform.Runner{Layout: f.layout, Params: f.params, AsOf: f.asOf, Models: failing}).Run(context.Background()); !errors.As(err, &ce) || ce.Model != "customer_base" {
		t.Fatalf("want customer_base's check to fail the run, got %v", err)
	}
	if cb := modelResult(f.transform(t), "customer_base"); cb.ChangedKeys != 3 {
		t.Fatalf("customer_base after the failed run rebuilt %d customers, want B, C and G", cb.ChangedKeys)
	}
	incremental := dump(t, f, "customer_base")
	full := &transform.Runner{Layout: f.layout, Params: f.params, AsOf: f.asOf, Models: coreModels(t), FullRefresh: true}
	res, err := full.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cb := modelResult(res, "customer_base"); cb.ChangedKeys != -1 {
		t.Fatalf("a full refresh rebuilt %d customers of customer_base, want all", cb.ChangedKeys)
	}
	if rebuilt := dump(t, f, "customer_base"); rebuilt != incremental {
		t.Fatalf("incremental:\n%s\nfull rebuild:\n%s", incremental, rebuilt)
	}
}

// TestByKeyNeedsAnIncrementalSource: a model can only follow an incremental
// model's changes.
func TestByKeyNeedsAnIncrementalSource(t *testing.T) {
	t.Parallel()
	f := setup(t, tiny, "")
	ms := []models.Model{
		{Name: "facts", File: "facts.sql", Materialized: models.Table, SQL: "SELECT customer_id FROM lake_transactions"},
		{Name: "per_customer", File: "per_customer.sql", Materialized: models.IncrementalByKey, Source: "facts", Partition: "customer_id",
			DependsOn: []string{"facts"}, SQL: "SELECT DISTINCT customer_id FROM facts_delta"},
	}
	_, err := (&transform.Runner{Layout: f.layout, Params: f.params, AsOf: f.asOf, Models: ms}).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "per_customer (per_customer.sql) follows facts, which is not an incremental model") {
		t.Fatalf("got %v, want the source named as not incremental", err)
	}
}

func modelResult(r transform.Result, name string) transform.ModelResult {
	for _, m := range r.Models {
		if m.Name == name {
			return m
		}
	}
	return transform.ModelResult{}
}

func dump(t *testing.T, f fixture, table string) string {
	t.Helper()
	db, err := transformtest.OpenBuilt(context.Background(), f.layout)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close() // before the next transform
	var out string
	if err := db.QueryRow(`SELECT string_agg(x::VARCHAR, E'\n' ORDER BY x::VARCHAR) FROM (SELECT * FROM ` + table + `) x`).Scan(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCustomerDailyMixedDays checks customer_daily's orders, channels and
// stores on days with several of each, refunds, and missing order ids,
// channels and stores, by hand and against plain DISTINCT aggregates.
func TestCustomerDailyMixedDays(t *testing.T) {
	t.Parallel()
	data := `transaction_id,order_id,customer_id,ts,amount,channel,store_id
t1,o1,A,2024-01-02 10:00:00,10.00,web,S1
t2,o1,A,2024-01-02 10:05:00,5.00,web,S1
t3,o2,A,2024-01-03 10:00:00,10.00,web,S1
t4,o3,A,2024-01-03 11:00:00,20.00,app,S2
t5,R3,A,2024-01-03 12:00:00,-20.00,shop,S3
t6,,B,2024-01-03 10:00:00,7.00,web,
t7,,B,2024-01-03 11:00:00,8.00,app,
t8,R9,C,2024-01-04 10:00:00,-5.00,web,S1
t9,o5,D,2024-01-05 10:00:00,3.00,,S2
t10,o6,D,2024-01-05 11:00:00,4.00,web,S2
t11,o7,D,2024-01-06 11:00:00,4.00,,
`
	f := setupColumns(t, data, "{transaction_id: transaction_id, order_id: order_id, customer_id: customer_id, ts: ts, amount: amount, channel: channel, store_id: store_id}", "")
	f.transform(t)
	db := f.db(t)
	want := map[string]string{
		"A 2024-01-02": "2 0 1 [web] [S1]",
		"A 2024-01-03": "2 1 2 [app, shop, web] [S1, S2, S3]",
		"B 2024-01-03": "2 0 1 [app, web] <nil>",
		"C 2024-01-04": "0 1 0 [web] [S1]",
		"D 2024-01-05": "2 0 2 [web] [S2]",
		"D 2024-01-06": "1 0 1 <nil> <nil>",
	}
	rows, err := db.Query(`SELECT customer_id || ' ' || day, purchase_lines, refund_lines, orders, channels::VARCHAR, stores::VARCHAR FROM customer_daily`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var key string
		var lines, refunds, orders int64
		var channels, stores sql.NullString
		if err := rows.Scan(&key, &lines, &refunds, &orders, &channels, &stores); err != nil {
			t.Fatal(err)
		}
		str := func(s sql.NullString) string {
			if !s.Valid {
				return "<nil>"
			}
			return s.String
		}
		got := fmt.Sprintf("%d %d %d %s %s", lines, refunds, orders, str(channels), str(stores))
		if got != want[key] {
			t.Errorf("%s: got %q, want %q", key, got, want[key])
		}
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(want) {
		t.Errorf("customer_daily has %d rows, want %d", n, len(want))
	}
	// The same columns by the plain DISTINCT aggregates over the lake.
	var diff int64
	err = db.QueryRow(`WITH plain AS (
  SELECT customer_id, CAST(ts AS DATE) AS day,
    CASE WHEN count(*) FILTER (WHERE NOT is_refund) = 0 THEN 0
         ELSE greatest(count(DISTINCT order_id) FILTER (WHERE NOT is_refund), 1) END AS orders,
    list(DISTINCT channel ORDER BY channel) FILTER (WHERE channel IS NOT NULL) AS channels,
    list(DISTINCT store_id ORDER BY store_id) FILTER (WHERE store_id IS NOT NULL) AS stores
  FROM read_parquet(` + warehouse.Quote(f.layout.TransactionsGlob()) + `)
  GROUP BY ALL)
SELECT count(*) FROM (
  (FROM plain EXCEPT ALL SELECT customer_id, day, orders, channels, stores FROM customer_daily)
  UNION ALL
  (SELECT customer_id, day, orders, channels, stores FROM customer_daily EXCEPT ALL FROM plain))`).Scan(&diff)
	if err != nil {
		t.Fatal(err)
	}
	if diff != 0 {
		t.Errorf("customer_daily differs from the plain DISTINCT aggregates in %d rows", diff)
	}
}

// TestIncrementalChecksCoverChangedDays: a full build checks every day, a
// model whose checks change is rebuilt and checked in full, and an
// incremental build checks the days it rebuilt (the others passed before).
func TestIncrementalChecksCoverChangedDays(t *testing.T) {
	t.Parallel()
	f := setup(t, tiny, "")
	run := func(m models.Model) (int64, error) {
		t.Helper()
		r := &transform.Runner{Layout: f.layout, Params: f.params, AsOf: f.asOf, Models: []models.Model{m}}
		_, err := r.Run(context.Background())
		var ce *transform.CheckError
		if errors.As(err, &ce) {
			return ce.Failing, err
		}
		return 0, err
	}
	exec := func(q string) {
		t.Helper()
		db, err := sql.Open("duckdb", f.layout.WarehouseDB())
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	addDay := func(name, csv string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(filepath.Dir(f.sources[0].Path), "inbox", name), []byte(csv), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := (&lake.Ingester{Layout: f.layout, AsOf: f.asOf}).Ingest(context.Background(), f.sources); err != nil {
			t.Fatal(err)
		}
	}

	// Customer C's refund day has a negative net: fine until a check says
	// otherwise, and then the old day is checked too.
	net := models.Model{Name: "daily_net", Materialized: models.Incremental, Partition: "day",
		SQL: "SELECT customer_id, CAST(ts AS DATE) AS day, sum(amount) AS net FROM lake_transactions_delta GROUP BY ALL"}
	if _, err := run(net); err != nil {
		t.Fatal(err)
	}
	net.Checks = []models.Check{{Kind: "range", Args: "net 0 NULL"}}
	if failing, err := run(net); failing != 1 {
		t.Fatalf("adding a range check: %v, want it to fail on C's refund day", err)
	}

	// One row per order, checked unique per customer and day: two orders of
	// a customer on one day break it.
	orders := models.Model{Name: "daily_orders", Materialized: models.Incremental, Partition: "day",
		Checks: []models.Check{{Kind: "unique", Args: "customer_id, day"}},
		SQL:    "SELECT customer_id, CAST(ts AS DATE) AS day, order_id FROM lake_transactions_delta"}
	if _, err := run(orders); err != nil {
		t.Fatal(err)
	}
	// A duplicate planted on a day no build changes again is not rescanned...
	exec("INSERT INTO daily_orders VALUES ('A', DATE '2024-01-05', 'planted')")
	addDay("day7.csv", "transaction_id,order_id,customer_id,ts,amount\nt20,o20,G,2024-01-07 10:00:00,4.00\n")
	if _, err := run(orders); err != nil {
		t.Fatalf("incremental build of a clean day: %v", err)
	}
	// ...while one on a rebuilt day is caught, alone.
	addDay("day6.csv", "transaction_id,order_id,customer_id,ts,amount\nt21,o21,G,2024-01-06 10:00:00,4.00\nt22,o22,G,2024-01-06 11:00:00,4.00\n")
	if failing, err := run(orders); failing != 1 {
		t.Fatalf("incremental build of a day with two orders of G: %v, want the unique check to fail on that day only", err)
	}
}

// TestRevenueReconcilesThroughTheDailyTables: each day the daily tables
// rebuild is reconciled with its lake lines (lines and net revenue), and
// daily_sales with the daily tables, so a daily run reads no old lake day and
// a lost row still fails the run, naming the model.
func TestRevenueReconcilesThroughTheDailyTables(t *testing.T) {
	t.Parallel()
	guest := "t10,o10,,2024-01-04 10:00:00,8.00\nt11,o11,,2024-01-04 11:00:00,2.50\n"
	f := setup(t, tiny+guest, "    missing_customer_id: anonymous\n")
	// After the lake's last day: before it, the by-key models rebuild whole.
	f.asOf = time.Date(2024, 1, 12, 0, 0, 0, 0, time.UTC)
	run := func(ms []models.Model) *transform.CheckError {
		t.Helper()
		_, err := (&transform.Runner{Layout: f.layout, Params: f.params, AsOf: f.asOf, Models: ms}).Run(context.Background())
		var ce *transform.CheckError
		if err != nil && !errors.As(err, &ce) {
			t.Fatal(err)
		}
		return ce
	}
	// A daily table that loses lines of a day it builds fails its own check.
	for model, lost := range map[string]string{"customer_daily": "customer_id <> 'C'", "guest_daily": "purchase_lines < 2"} {
		lossy := upstreamModels(t, "daily_sales")
		for i := range lossy {
			if lossy[i].Name == model {
				lossy[i].SQL = "FROM (" + lossy[i].SQL + ") WHERE " + lost
			}
		}
		if ce := run(lossy); ce == nil || ce.Model != model || ce.Check.Kind != "sql" || !strings.Contains(ce.Check.Args, "lake_lines") {
			t.Fatalf("%s losing the rows where not %s: check failure %+v, want its lake reconciliation to fail", model, lost, ce)
		}
	}
	if ce := run(upstreamModels(t, "daily_sales")); ce != nil {
		t.Fatalf("the real models: %v", ce)
	}
	var mart, inLake string
	err := f.db(t).QueryRow(`SELECT (SELECT sum(net_revenue) FROM daily_sales)::VARCHAR, (SELECT sum(amount) FROM read_parquet(`+
		warehouse.Quote(f.layout.TransactionsGlob())+`) WHERE ts < ?::DATE + 1)::VARCHAR`, f.asOf.Format(time.DateOnly)).Scan(&mart, &inLake)
	if err != nil || mart != inLake {
		t.Fatalf("daily_sales net revenue %s, the lake's up to the as-of date %s (%v)", mart, inLake, err)
	}
	// A row gone from the warehouse on a day no run rebuilds again: the
	// marts no longer add up to the daily tables, and daily_sales says so.
	wh, err := sql.Open("duckdb", f.layout.WarehouseDB())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wh.Exec(`DELETE FROM customer_daily WHERE customer_id = 'C' AND day = DATE '2024-01-02'`); err != nil {
		t.Fatal(err)
	}
	wh.Close()
	if ce := run(upstreamModels(t, "daily_sales")); ce == nil || ce.Model != "daily_sales" || !strings.Contains(ce.Check.Args, "daily_net_revenue") {
		t.Fatalf("after deleting a customer_daily row: check failure %+v, want daily_sales' reconciliation to fail", ce)
	}
}
