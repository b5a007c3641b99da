package report

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
)

// sectionBuilders are the page's sections in order.
var sectionBuilders = []func(*reader) (Section, error){
	pyramid, segments, rfmGrid, valueMatrix, valueLoyalty, cohorts, clvDistribution,
	repeatPurchases, frequencyRecency, holdout, parameters, dailySales, quarantine, runs,
}

func count(n int64) string     { return strconv.FormatInt(n, 10) }
func money(v float64) string   { return strconv.FormatFloat(v, 'f', 2, 64) }
func share(v float64) string   { return strconv.FormatFloat(100*v, 'f', 1, 64) + "%" }
func number(v float64) string  { return strconv.FormatFloat(v, 'g', 4, 64) }
func percent(v float64) string { return strconv.FormatFloat(100*v, 'f', 0, 64) + "%" }

// chart renders p at the default size into s.
func (s *Section) chart(p *plot.Plot, err error) error {
	return s.sized(chartWidth, chartHeight)(p, err)
}

// sized renders a plot at w x h into s.
func (s *Section) sized(w, h vg.Length) func(*plot.Plot, error) error {
	return func(p *plot.Plot, err error) error {
		if err != nil {
			return err
		}
		svg, err := svg(p, w, h)
		if err != nil {
			return err
		}
		s.Charts = append(s.Charts, svg)
		return nil
	}
}

func pyramid(r *reader) (Section, error) {
	s := Section{ID: "pyramid", Title: "Customer pyramid", Mart: "tier_summary",
		Note: "Tiers by predicted-CLV rank (model.tiers): their share of customers, net revenue and predicted CLV."}
	if !r.has(&s, s.Mart) {
		return s, nil
	}
	var tier string
	var customers int64
	var revenue, clv, cShare, rShare, clvShare float64
	t := Table{Caption: "Tiers", Columns: []string{"tier", "customers", "revenue", "clv_predicted", "customer_share", "revenue_share", "clv_predicted_share"}}
	var labels []string
	ss := []series{{name: "customers"}, {name: "revenue"}, {name: "predicted CLV"}}
	err := r.each(`SELECT tier, customers, revenue::DOUBLE, coalesce(clv_predicted, 0), customer_share, revenue_share, coalesce(clv_predicted_share, 0)
		FROM tier_summary ORDER BY tier_order DESC`, []any{&tier, &customers, &revenue, &clv, &cShare, &rShare, &clvShare}, func() {
		labels = append(labels, tier)
		ss[0].values = append(ss[0].values, 100*cShare)
		ss[1].values = append(ss[1].values, 100*rShare)
		ss[2].values = append(ss[2].values, 100*clvShare)
		t.Rows = append([][]string{{tier, count(customers), money(revenue), money(clv), share(cShare), share(rShare), share(clvShare)}}, t.Rows...)
	})
	if err != nil {
		return s, err
	}
	s.Tables = []Table{t}
	return s, s.chart(bars("Share of customers, revenue and CLV", "% of total", labels, ss, true))
}

func segments(r *reader) (Section, error) {
	s := Section{ID: "segments", Title: "RFM segments", Mart: "segment_summary", Note: "Customers and net revenue per segment (model.rfm_segments)."}
	if !r.has(&s, s.Mart) {
		return s, nil
	}
	var seg string
	var customers int64
	var cShare, revenue float64
	var rows [][]any
	var total float64
	err := r.each(`SELECT segment, customers, customer_share, revenue::DOUBLE FROM segment_summary ORDER BY customers, segment DESC`,
		[]any{&seg, &customers, &cShare, &revenue}, func() {
			rows = append(rows, []any{seg, customers, cShare, revenue})
			total += revenue
		})
	if err != nil {
		return s, err
	}
	t := Table{Caption: "Segments", Columns: []string{"segment", "customers", "customer_share", "revenue", "revenue_share"}}
	var labels []string
	ss := []series{{name: "customers"}, {name: "revenue"}}
	for _, row := range rows {
		rs := 0.0
		if total != 0 {
			rs = row[3].(float64) / total
		}
		labels = append(labels, row[0].(string))
		ss[0].values = append(ss[0].values, 100*row[2].(float64))
		ss[1].values = append(ss[1].values, 100*rs)
		t.Rows = append([][]string{{row[0].(string), count(row[1].(int64)), share(row[2].(float64)), money(row[3].(float64)), share(rs)}}, t.Rows...)
	}
	s.Tables = []Table{t}
	return s, s.chart(bars("Share of customers and revenue", "% of total", labels, ss, true))
}

// matrix reads cells (row, column, value) into a grid in the given orders.
type matrix struct {
	rows, cols []string
	z          [][]float64
}

func newMatrix(rows, cols []string) *matrix {
	m := &matrix{rows: rows, cols: cols, z: make([][]float64, len(rows))}
	for i := range m.z {
		m.z[i] = make([]float64, len(cols))
		for j := range m.z[i] {
			m.z[i][j] = math.NaN()
		}
	}
	return m
}

func (m *matrix) set(row, col string, v float64) {
	for i, r := range m.rows {
		for j, c := range m.cols {
			if r == row && c == col {
				m.z[i][j] = v
			}
		}
	}
}

// table lays the matrix out as rows x columns, corner naming both axes.
func (m *matrix) table(caption, corner string, format func(float64) string) Table {
	t := Table{Caption: caption, Columns: append([]string{corner}, m.cols...)}
	for i := len(m.rows) - 1; i >= 0; i-- {
		row := []string{m.rows[i]}
		for _, v := range m.z[i] {
			if math.IsNaN(v) {
				row = append(row, "")
			} else {
				row = append(row, format(v))
			}
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

func countf(v float64) string { return count(int64(v)) }

func rfmGrid(r *reader) (Section, error) {
	s := Section{ID: "rfm-grid", Title: "R x F grid", Mart: "rfm_grid", Note: "Customers per recency score (5 = most recent) and frequency score."}
	if !r.has(&s, s.Mart) {
		return s, nil
	}
	scores := []string{"1", "2", "3", "4", "5"}
	m := newMatrix(scores, scores)
	var rs, fs, customers int64
	if err := r.each(`SELECT r_score, f_score, customers FROM rfm_grid`, []any{&rs, &fs, &customers}, func() {
		m.set(count(rs), count(fs), float64(customers))
	}); err != nil {
		return s, err
	}
	s.Tables = []Table{m.table("Customers", "r_score \\ f_score", countf)}
	return s, s.sized(12*vg.Centimeter, 10*vg.Centimeter)(heatmap("Customers per R and F score", "frequency score", "recency score", scores, scores, m.z, countf))
}

func valueMatrix(r *reader) (Section, error) {
	s := Section{ID: "value-matrix", Title: "Purchase cycle x amount", Mart: "value_matrix",
		Note: "Customers with more than one purchase day per cycle band and amount band (model.cycle_bands, amount_bands); single-purchase customers are counted below the matrix."}
	if !r.has(&s, s.Mart) {
		return s, nil
	}
	m := newMatrix([]string{"small", "medium", "large"}, []string{"short", "medium", "long"})
	var cycle, amount, class string
	var customers int64
	var revenue float64
	t := Table{Caption: "Cells", Columns: []string{"cycle_band", "amount_band", "value_class", "customers", "revenue"}}
	if err := r.each(`SELECT cycle_band, amount_band, value_class, customers, revenue::DOUBLE FROM value_matrix ORDER BY cell_order`,
		[]any{&cycle, &amount, &class, &customers, &revenue}, func() {
			m.set(amount, cycle, float64(customers))
			t.Rows = append(t.Rows, []string{cycle, amount, class, count(customers), money(revenue)})
		}); err != nil {
		return s, err
	}
	s.Tables = []Table{t}
	return s, s.sized(12*vg.Centimeter, 9*vg.Centimeter)(heatmap("Customers per cycle and amount", "purchase cycle", "amount", m.cols, m.rows, m.z, countf))
}

func valueLoyalty(r *reader) (Section, error) {
	s := Section{ID: "value-loyalty", Title: "Value x loyalty", Mart: "loyalty_matrix",
		Note: "The value_loyalty matrix: value high = Platinum and Gold."}
	if !r.has(&s, s.Mart) {
		return s, nil
	}
	m := newMatrix([]string{"low", "high"}, []string{"low", "high"})
	var row, col, class string
	var customers int64
	var revenue, clv float64
	t := Table{Caption: "Cells", Columns: []string{"value", "loyalty", "class", "customers", "revenue", "clv_predicted"}}
	if err := r.each(`SELECT row_value, column_value, class, customers, revenue::DOUBLE, coalesce(clv_predicted, 0)::DOUBLE FROM loyalty_matrix WHERE matrix = 'value_loyalty' ORDER BY cell_order`,
		[]any{&row, &col, &class, &customers, &revenue, &clv}, func() {
			m.set(row, col, float64(customers))
			t.Rows = append(t.Rows, []string{row, col, class, count(customers), money(revenue), money(clv)})
		}); err != nil {
		return s, err
	}
	if len(t.Rows) == 0 {
		s.Missing = "The loyalty_matrix mart has no value_loyalty cells."
		return s, nil
	}
	s.Tables = []Table{t}
	return s, s.sized(10*vg.Centimeter, 7*vg.Centimeter)(heatmap("Customers per value, loyalty", "loyalty", "value", m.cols, m.rows, m.z, countf))
}

func cohorts(r *reader) (Section, error) {
	s := Section{ID: "cohorts", Title: "Cohort retention", Mart: "cohort_retention",
		Note: "Share of each acquisition month's customers who bought in each later month."}
	if !r.has(&s, s.Mart) {
		return s, nil
	}
	var cohort time.Time
	var since int64
	var rate float64
	type cell struct {
		cohort string
		since  int64
		rate   float64
	}
	var cells []cell
	var cohortNames []string
	var maxSince int64
	if err := r.each(`SELECT cohort_month, months_since, retention_rate FROM cohort_retention ORDER BY cohort_month, months_since`,
		[]any{&cohort, &since, &rate}, func() {
			name := cohort.Format("2006-01")
			if len(cohortNames) == 0 || cohortNames[len(cohortNames)-1] != name {
				cohortNames = append(cohortNames, name)
			}
			cells = append(cells, cell{name, since, rate})
			maxSince = max(maxSince, since)
		}); err != nil {
		return s, err
	}
	if len(cells) == 0 {
		s.Missing = "The cohort_retention mart is empty."
		return s, nil
	}
	months := make([]string, maxSince+1)
	for i := range months {
		months[i] = strconv.Itoa(i)
	}
	// The newest cohort at the bottom, as retention tables are read.
	rows := make([]string, len(cohortNames))
	for i, n := range cohortNames {
		rows[len(rows)-1-i] = n
	}
	m := newMatrix(rows, months)
	idx := map[string]int{}
	for i, n := range rows {
		idx[n] = i
	}
	for _, c := range cells {
		m.z[idx[c.cohort]][c.since] = c.rate
	}
	s.Tables = []Table{m.table("Retention rate", "cohort \\ months since", percent)}
	// Month 0 is 100% by definition: colour it as the highest later month,
	// so the later months use the whole scale.
	top := 0.0
	z := make([][]float64, len(m.z))
	for i, row := range m.z {
		for _, v := range row[1:] {
			if !math.IsNaN(v) {
				top = max(top, v)
			}
		}
		z[i] = append([]float64(nil), row...)
	}
	if top > 0 {
		for i := range z {
			z[i][0] = top
		}
	}
	return s, s.sized(chartWidth, 12*vg.Centimeter)(heatmap("Retention by acquisition month", "months since first purchase", "cohort", months, rows, z, percent))
}

func clvDistribution(r *reader) (Section, error) {
	s := Section{ID: "clv-distribution", Title: "Historical and predicted CLV", Mart: "clv_distribution",
		Note: "Customers per CLV bin, five bins per decade on a log axis; values at or below zero are counted in the table only."}
	if !r.has(&s, s.Mart) {
		return s, nil
	}
	var measure string
	var bin, customers int64
	var lower sql.NullFloat64
	var upper float64
	byBin := map[int64][2]float64{}
	bounds := map[int64][2]float64{}
	var maxBin int64
	if err := r.each(`SELECT measure, bin_order, lower, upper, customers FROM clv_distribution ORDER BY measure, bin_order`,
		[]any{&measure, &bin, &lower, &upper, &customers}, func() {
			v := byBin[bin]
			if measure == "clv_historical" {
				v[0] = float64(customers)
			} else {
				v[1] = float64(customers)
			}
			byBin[bin] = v
			bounds[bin] = [2]float64{lower.Float64, upper}
			maxBin = max(maxBin, bin)
		}); err != nil {
		return s, err
	}
	if len(byBin) == 0 {
		s.Missing = "The clv_distribution mart is empty."
		return s, nil
	}
	t := Table{Caption: "Customers per bin", Columns: []string{"from", "to", "clv_historical", "clv_predicted"}}
	var x []float64
	ss := []series{{name: "historical"}, {name: "predicted"}}
	for b := int64(0); b <= maxBin; b++ {
		v, ok := byBin[b]
		if b == 0 {
			if ok {
				t.Rows = append(t.Rows, []string{"", "0", countf(v[0]), countf(v[1])})
			}
			continue
		}
		lo := math.Pow(10, math.Log10(bounds[1][0])+float64(b-1)/5)
		if ok {
			lo = bounds[b][0]
			t.Rows = append(t.Rows, []string{number(bounds[b][0]), number(bounds[b][1]), countf(v[0]), countf(v[1])})
		}
		x = append(x, lo)
		ss[0].values = append(ss[0].values, v[0])
		ss[1].values = append(ss[1].values, v[1])
	}
	if len(x) == 0 {
		s.Tables = []Table{t}
		return s, nil
	}
	// The last step needs its right edge.
	x = append(x, x[len(x)-1]*math.Pow(10, 0.2))
	for i := range ss {
		ss[i].values = append(ss[i].values, ss[i].values[len(ss[i].values)-1])
	}
	p, err := lines("Customers per CLV bin", "CLV (log scale)", "customers", x, ss, true)
	if err == nil {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	s.Tables = []Table{t}
	return s, s.chart(p, err)
}

func repeatPurchases(r *reader) (Section, error) {
	s := Section{ID: "repeat-purchases", Title: "Repeat purchases: actual vs BG/NBD", Mart: "clv_repeat_purchases",
		Note: "Customers per number of repeat purchase days in the fitting period, as observed and as the fitted BG/NBD expects."}
	if !r.has(&s, s.Mart) {
		return s, nil
	}
	var bucket string
	var actual int64
	var expected float64
	var labels []string
	ss := []series{{name: "actual"}, {name: "expected (BG/NBD)"}}
	t := Table{Caption: "Customers", Columns: []string{"repeat purchases", "actual", "expected"}}
	if err := r.each(`SELECT bucket, actual_customers, expected_customers FROM clv_repeat_purchases ORDER BY bucket_order`,
		[]any{&bucket, &actual, &expected}, func() {
			labels = append(labels, bucket)
			ss[0].values = append(ss[0].values, float64(actual))
			ss[1].values = append(ss[1].values, expected)
			t.Rows = append(t.Rows, []string{bucket, count(actual), money(expected)})
		}); err != nil {
		return s, err
	}
	if len(labels) == 0 {
		s.Missing = "The BG/NBD fit did not converge, so there is nothing to compare."
		return s, nil
	}
	s.Tables = []Table{t}
	return s, s.chart(bars("Customers per repeat purchases", "customers", labels, ss, false))
}

func frequencyRecency(r *reader) (Section, error) {
	s := Section{ID: "frequency-recency", Title: "Frequency/recency matrices", Mart: "clv_frequency_recency",
		Note: "For a customer observed as long as the longest-known customer: expected purchases in the next time unit and the probability of being alive, by frequency and recency."}
	if !r.has(&s, s.Mart) {
		return s, nil
	}
	var model string
	var freq, step int64
	var recency, T, expected, alive float64
	type cell struct {
		freq, step      int64
		recency         float64
		expected, alive float64
	}
	var cells []cell
	var maxFreq, maxStep int64
	if err := r.each(`SELECT model, frequency, recency_step, recency, "T", expected_purchases, p_alive FROM clv_frequency_recency ORDER BY frequency, recency_step`,
		[]any{&model, &freq, &step, &recency, &T, &expected, &alive}, func() {
			cells = append(cells, cell{freq, step, recency, expected, alive})
			maxFreq, maxStep = max(maxFreq, freq), max(maxStep, step)
		}); err != nil {
		return s, err
	}
	if len(cells) == 0 {
		s.Missing = "The predictive model has no converged fit."
		return s, nil
	}
	freqs := make([]string, maxFreq+1)
	for i := range freqs {
		freqs[i] = strconv.Itoa(i)
	}
	recs := make([]string, maxStep+1)
	for _, c := range cells[:maxStep+1] {
		recs[c.step] = strconv.FormatFloat(c.recency, 'f', 0, 64)
	}
	e, a := newMatrix(freqs, recs), newMatrix(freqs, recs)
	for _, c := range cells {
		e.z[c.freq][c.step] = c.expected
		a.z[c.freq][c.step] = c.alive
	}
	s.Note += fmt.Sprintf(" Model %s, T = %s time units.", model, number(T))
	s.Tables = []Table{
		{Caption: "Expected purchases in the next time unit", Columns: e.table("", "frequency \\ recency", number).Columns, Rows: e.table("", "", number).Rows, Collapsed: true},
		{Caption: "P(alive)", Columns: a.table("", "frequency \\ recency", number).Columns, Rows: a.table("", "", number).Rows, Collapsed: true},
	}
	if err := s.sized(chartWidth, 11*vg.Centimeter)(heatmap("Expected purchases in the next time unit", "recency (time units)", "frequency (repeat purchases)", recs, freqs, e.z, nil)); err != nil {
		return s, err
	}
	return s, s.sized(chartWidth, 11*vg.Centimeter)(heatmap("Probability alive", "recency (time units)", "frequency (repeat purchases)", recs, freqs, a.z, nil))
}

func holdout(r *reader) (Section, error) {
	s := Section{ID: "holdout", Title: "Calibration vs holdout", Mart: "clv_validation",
		Note: "Purchases in the holdout per calibration frequency, actual and predicted by each model."}
	if !r.has(&s, s.Mart) {
		return s, nil
	}
	var model, bucket string
	var customers, actual int64
	var predicted float64
	var labels []string
	seen := map[string]bool{}
	per := map[string]map[string][2]float64{}
	t := Table{Caption: "Holdout purchases per customer", Columns: []string{"model", "bucket", "customers", "actual", "predicted"}}
	if err := r.each(`SELECT model, bucket, customers, actual_purchases, predicted_purchases FROM clv_validation ORDER BY model, bucket_order`,
		[]any{&model, &bucket, &customers, &actual, &predicted}, func() {
			t.Rows = append(t.Rows, []string{model, bucket, count(customers), count(actual), money(predicted)})
			if bucket == "total" || customers == 0 {
				return
			}
			if !seen[bucket] {
				seen[bucket] = true
				labels = append(labels, bucket)
			}
			if per[model] == nil {
				per[model] = map[string][2]float64{}
			}
			per[model][bucket] = [2]float64{float64(actual) / float64(customers), predicted / float64(customers)}
		}); err != nil {
		return s, err
	}
	if len(t.Rows) == 0 {
		s.Missing = "No holdout: set model.holdout_from (or --holdout-from) to fit on the data before it and check the predictions against the rest."
		return s, nil
	}
	ss := []series{{name: "actual"}}
	for _, b := range labels {
		for _, m := range []string{"bgnbd", "pareto_nbd"} {
			if v, ok := per[m][b]; ok {
				ss[0].values = append(ss[0].values, v[0])
				break
			}
		}
	}
	for _, m := range []string{"bgnbd", "pareto_nbd"} {
		if per[m] == nil {
			continue
		}
		sr := series{name: m}
		for _, b := range labels {
			sr.values = append(sr.values, per[m][b][1])
		}
		ss = append(ss, sr)
	}
	x := make([]float64, len(labels))
	for i := range x {
		x[i] = float64(i)
	}
	p, err := lines("Holdout purchases per customer", "calibration repeat purchases", "purchases per customer", x, ss, false)
	if err == nil {
		p.NominalX(labels...)
	}
	s.Tables = []Table{t}
	return s, s.chart(p, err)
}

func parameters(r *reader) (Section, error) {
	s := Section{ID: "parameters", Title: "Fitted parameters", Mart: "clv_model",
		Note: "The models' estimates, log-likelihood and fit diagnostics."}
	if !r.has(&s, s.Mart) {
		return s, nil
	}
	var model, param string
	var value float64
	var used bool
	t := Table{Caption: "Parameters", Columns: []string{"model", "parameter", "value", "used_for_predictions"}}
	if err := r.each(`SELECT model, parameter, value, used_for_predictions FROM clv_model ORDER BY model, parameter`,
		[]any{&model, &param, &value, &used}, func() {
			t.Rows = append(t.Rows, []string{model, param, number(value), strconv.FormatBool(used)})
		}); err != nil {
		return s, err
	}
	if len(t.Rows) == 0 {
		s.Missing = "The clv_model mart is empty."
		return s, nil
	}
	s.Tables = []Table{t}
	return s, nil
}

func dailySales(r *reader) (Section, error) {
	s := Section{ID: "daily-sales", Title: "Daily revenue and orders", Mart: "daily_sales"}
	if !r.has(&s, s.Mart) {
		return s, nil
	}
	var day time.Time
	var orders int64
	var revenue float64
	var x []float64
	rev, ord := series{name: "net revenue"}, series{name: "orders"}
	t := Table{Caption: "Per day", Columns: []string{"day", "orders", "net_revenue"}, Collapsed: true}
	if err := r.each(`SELECT day, orders, net_revenue::DOUBLE FROM daily_sales ORDER BY day`, []any{&day, &orders, &revenue}, func() {
		x = append(x, float64(day.Unix()))
		rev.values = append(rev.values, revenue)
		ord.values = append(ord.values, float64(orders))
		t.Rows = append(t.Rows, []string{day.Format(time.DateOnly), count(orders), money(revenue)})
	}); err != nil {
		return s, err
	}
	if len(x) == 0 {
		s.Missing = "The daily_sales mart is empty."
		return s, nil
	}
	s.Tables = []Table{t}
	for _, sr := range []struct {
		series
		label string
	}{{rev, "net revenue"}, {ord, "orders"}} {
		p, err := lines("Daily "+sr.label, "", sr.label, x, []series{sr.series}, false)
		if err == nil {
			timeAxis(p)
		}
		if err := s.sized(chartWidth, 6*vg.Centimeter)(p, err); err != nil {
			return s, err
		}
	}
	return s, nil
}

func quarantine(r *reader) (Section, error) {
	s := Section{ID: "quarantine", Title: "Quarantined rows", Mart: "quarantine", Note: "Rejected input rows of the live files, per reason."}
	if !r.has(&s, s.Mart) {
		return s, nil
	}
	var reason string
	var rows int64
	var labels []string
	sr := series{name: "rows"}
	t := Table{Caption: "Rows per reason", Columns: []string{"reason_code", "rows"}}
	if err := r.each(`SELECT reason_code, count(*) FROM quarantine GROUP BY reason_code ORDER BY count(*), reason_code DESC`, []any{&reason, &rows}, func() {
		labels = append(labels, reason)
		sr.values = append(sr.values, float64(rows))
		t.Rows = append([][]string{{reason, count(rows)}}, t.Rows...)
	}); err != nil {
		return s, err
	}
	if len(labels) == 0 {
		s.Missing = "No row was quarantined."
		return s, nil
	}
	s.Tables = []Table{t}
	return s, s.sized(chartWidth, vg.Length(3+len(labels))*vg.Centimeter/2+3*vg.Centimeter)(bars("Quarantined rows per reason", "rows", labels, []series{sr}, true))
}

// lastRuns is how many runs the runs chart shows.
const lastRuns = 20

func runs(r *reader) (Section, error) {
	s := Section{ID: "runs", Title: "Last runs", Mart: "job_runs",
		Note: "The last runs, newest at the top: the time the models took to build and the rest of the run (ingest, staging, publish). The run that built this version shows as running."}
	if !r.has(&s, s.Mart) {
		return s, nil
	}
	var id, job, status string
	var started time.Time
	var duration sql.NullFloat64
	var timings string
	var labels []string
	modelsS, rest := series{name: "models"}, series{name: "rest of the run"}
	t := Table{Caption: "Runs", Columns: []string{"run_id", "job", "status", "started_at", "duration_seconds", "model_seconds"}}
	if err := r.each(fmt.Sprintf(`SELECT run_id, job, status, started_at, duration_seconds, model_timings FROM job_runs ORDER BY started_at DESC, run_id DESC LIMIT %d`, lastRuns),
		[]any{&id, &job, &status, &started, &duration, &timings}, func() {
			var ms []struct {
				DurationMS int64 `json:"duration_ms"`
			}
			json.Unmarshal([]byte(timings), &ms)
			var sum int64
			for _, m := range ms {
				sum += m.DurationMS
			}
			models := float64(sum) / 1000
			d := ""
			if duration.Valid {
				d = number(duration.Float64)
			}
			t.Rows = append(t.Rows, []string{id, job, status, started.UTC().Format(time.DateTime), d, number(models)})
			labels = append([]string{started.UTC().Format("01-02 15:04") + " " + status}, labels...)
			modelsS.values = append([]float64{models}, modelsS.values...)
			rest.values = append([]float64{max(0, duration.Float64-models)}, rest.values...)
		}); err != nil {
		return s, err
	}
	if len(t.Rows) == 0 {
		s.Missing = "The job_runs mart is empty."
		return s, nil
	}
	s.Tables = []Table{t}
	return s, s.sized(chartWidth, vg.Length(3+len(labels))*vg.Centimeter/2+3*vg.Centimeter)(stacked("Run durations", "seconds", labels, []series{modelsS, rest}))
}
