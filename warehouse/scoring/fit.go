package scoring

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/custmart/custmart/warehouse/clv"
	"github.com/custmart/custmart/warehouse/engine"
	"github.com/custmart/custmart/warehouse/transform"
)

// Model names in the clv_model mart.
const (
	BGNBD      = "bgnbd"
	ParetoNBD  = "pareto_nbd"
	GammaGamma = "gamma_gamma"
)

// fitRow is one row of clv_model.
type fitRow struct {
	model, parameter string
	value            float64
}

// fitModels is the clv_model Go model. It fits BG/NBD and Pareto/NBD on the
// calibration inputs of clv_inputs and Gamma-Gamma on the repeat buyers,
// each on the inputs grouped by SQL into distinct rows with a weight, and
// writes the estimates in long format with each fit's status. A fit the data
// cannot support, or that overruns its time budget, is logged and recorded
// with its status; it does not fail the run, because the RFM and historical
// marts do not depend on it. A cancelled run stops at once.
func fitModels(ctx context.Context, conn *sql.Conn, env transform.Env) error {
	m := env.Params
	all, err := loadHistories(ctx, conn, m.UnitDays(), 0)
	if err != nil {
		return err
	}
	// The purchase model the predictions do not use is fitted for
	// comparison only: on big data a sample of customers pins its
	// parameters well enough at a fraction of the cost (a Pareto/NBD pass
	// costs several BG/NBD passes).
	sample := all
	if total := totalWeight(all); total > float64(m.ComparisonSample) {
		if sample, err = loadHistories(ctx, conn, m.UnitDays(), float64(m.ComparisonSample)/total); err != nil {
			return err
		}
	}
	data := func(model string) []clv.Customer {
		if model == m.PredictiveModel {
			return all
		}
		return sample
	}
	spend, err := loadSpend(ctx, conn)
	if err != nil {
		return err
	}
	r := recorder{log: env.Logger}

	start := time.Now()
	budget := fitBudget(len(data(BGNBD)))
	fitCtx, cancel := context.WithTimeout(ctx, budget)
	bg, fit, err := clv.FitBGNBD(fitCtx, data(BGNBD))
	cancel()
	if err := r.add(ctx, BGNBD, bg.Params(), fit, err, budget, totalWeight(data(BGNBD)), len(data(BGNBD)), start); err != nil {
		return err
	}
	// What the BG/NBD fit would have cost on everyone, to budget Pareto/NBD.
	bgnbdTime := time.Since(start) * time.Duration(max(1, len(all))) / time.Duration(max(1, len(data(BGNBD))))

	budget = paretoBudget(bgnbdTime)
	fitCtx, cancel = context.WithTimeout(ctx, budget)
	start = time.Now()
	pn, fit, err := clv.FitParetoNBD(fitCtx, data(ParetoNBD))
	cancel()
	if err := r.add(ctx, ParetoNBD, pn.Params(), fit, err, budget, totalWeight(data(ParetoNBD)), len(data(ParetoNBD)), start); err != nil {
		return err
	}

	start = time.Now()
	budget = fitBudget(len(spend))
	fitCtx, cancel = context.WithTimeout(ctx, budget)
	gg, fit, err := clv.FitGammaGamma(fitCtx, spend)
	cancel()
	var buyers float64
	for _, s := range spend {
		buyers += s.Weight
	}
	if err := r.add(ctx, GammaGamma, gg.Params(), fit, err, budget, buyers, len(spend), start); err != nil {
		return err
	}
	if fit.Converged() && gg.Q <= 1 && env.Logger != nil {
		env.Logger.Warn("gamma-gamma q <= 1: the mean spend per purchase it implies is infinite, so spend predictions will be NULL", "q", gg.Q)
	}
	return writeModelTable(ctx, conn, r.rows, r.status, calibrationEnd(env), m.TimeUnit, m.PredictiveModel)
}

// recorder collects the clv_model rows and the status of each fit and logs
// it.
type recorder struct {
	log    *slog.Logger // nil: no logging
	rows   []fitRow
	status map[string]clv.FitStatus
}

// add records one fit of weight customers compressed into distinct rows,
// run within budget. It returns ctx's error when the run was cancelled:
// that is no outcome of the fit, and the model stops.
func (r *recorder) add(ctx context.Context, model string, params []clv.Param, fit clv.Fit, err error, budget time.Duration,
	weight float64, distinct int, start time.Time) error {
	log := r.log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if ctx.Err() != nil {
		log.Warn("clv fit cancelled: the run stops", "model", model, "customers", weight, "after", time.Since(start).Round(time.Millisecond))
		return ctx.Err()
	}
	if r.status == nil {
		r.status = map[string]clv.FitStatus{}
	}
	if err != nil {
		status := clv.StatusFailed
		if errors.Is(err, context.DeadlineExceeded) {
			status = clv.StatusOverBudget
			log.Warn("clv fit abandoned over its time budget; its parameters are not used", "model", model, "customers", weight,
				"distinct_rows", distinct, "budget", budget.Round(time.Millisecond), "status", status)
		} else {
			log.Warn("clv fit failed; its parameters are not used", "model", model, "customers", weight, "status", status, "error", err)
		}
		r.status[model] = status
		r.rows = append(r.rows, fitRow{model, "customers", weight}, fitRow{model, "converged", 0})
		return nil
	}
	args := []any{"model", model, "params", params, "log_likelihood", fit.LogLikelihood,
		"customers", fit.Customers, "distinct_rows", distinct, "iterations", fit.Iterations,
		"status", fit.Status, "optimizer", fit.Detail, "duration", time.Since(start).Round(time.Millisecond)}
	if fit.Converged() {
		log.Info("clv model fitted", args...)
	} else {
		log.Warn("clv fit did not converge; its parameters are not used", args...)
	}
	r.status[model] = fit.Status
	for _, p := range params {
		r.rows = append(r.rows, fitRow{model, p.Name, p.Value})
	}
	r.rows = append(r.rows,
		fitRow{model, "log_likelihood", fit.LogLikelihood},
		fitRow{model, "customers", fit.Customers},
		fitRow{model, "iterations", float64(fit.Iterations)},
		fitRow{model, "evaluations", float64(fit.Evaluations)},
		fitRow{model, "converged", boolValue(fit.Converged())})
	return nil
}

// fitBudget bounds a BG/NBD or Gamma-Gamma fit on rows distinct rows: a
// normal fit takes some 30 likelihood passes of under 1 µs a row (about 1 s
// on 515,000 distinct rows), so the budget is 20 times that, and at least
// 10 s for the machine being busy. The iteration and evaluation limits of
// the optimiser bound it too; the clock is the backstop.
var fitBudget = func(rows int) time.Duration { return 10*time.Second + time.Duration(rows)*40*time.Microsecond }

// paretoBudget bounds the Pareto/NBD fit by what the BG/NBD fit costs on
// everyone. A Pareto/NBD likelihood pass sums two 2F1 series per row, so a
// normal fit costs several BG/NBD fits (about 7 on a million customers);
// where the data cannot identify its dropout process the parameters run
// off to the boundary, which stops the fit, so the budget is a backstop.
// Past it the fit is abandoned and recorded as over_budget.
var paretoBudget = func(bgnbd time.Duration) time.Duration { return 10*time.Second + 50*bgnbd }

// loadHistories reads the calibration (x, t_x, T) of the customers grouped
// into distinct triples; times are grouped in whole days, so equal histories
// meet exactly, and converted to the model time unit here. A share in (0, 1)
// keeps that share of the customers, chosen by a hash of their id (the same
// ones every run); 0 keeps all.
func loadHistories(ctx context.Context, conn *sql.Conn, unitDays, share float64) ([]clv.Customer, error) {
	sample := ""
	if share > 0 && share < 1 {
		sample = fmt.Sprintf(" AND hash(customer_id) %% 1000000 < %d", int64(share*1e6))
	}
	// Sorted, so that the likelihood sums (and the estimates, to the last
	// digit) do not depend on the order a parallel aggregate returns.
	var out []clv.Customer
	err := engine.QueryChunks(ctx, conn, `SELECT cal_x::BIGINT, cal_t_x_days::BIGINT, cal_T_days::BIGINT, count(*)
FROM clv_inputs WHERE cal_x IS NOT NULL`+sample+` GROUP BY ALL ORDER BY ALL`, func(chunk arrow.RecordBatch) error {
		x, tx, T, n := int64Column(chunk, 0), int64Column(chunk, 1), int64Column(chunk, 2), int64Column(chunk, 3)
		for i := range x {
			out = append(out, clv.Customer{X: float64(x[i]), TX: float64(tx[i]) / unitDays, T: float64(T[i]) / unitDays, Weight: float64(n[i])})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("clv_model: read clv_inputs: %w", err)
	}
	return out, nil
}

// loadSpend reads the repeat buyers' (x, m) of the calibration period for
// Gamma-Gamma, grouped. Buyers whose repeat days total nothing (free
// orders) are left out: the model's spends are positive.
func loadSpend(ctx context.Context, conn *sql.Conn) ([]clv.Spend, error) {
	var out []clv.Spend
	err := engine.QueryChunks(ctx, conn, `SELECT cal_x::BIGINT, count(*), cal_m::DOUBLE
FROM clv_inputs WHERE cal_x > 0 AND cal_m > 0 GROUP BY cal_x, cal_m ORDER BY cal_x, cal_m`, func(chunk arrow.RecordBatch) error {
		x, n := int64Column(chunk, 0), int64Column(chunk, 1)
		m := chunk.Column(2).(*array.Float64).Float64Values()
		for i := range x {
			out = append(out, clv.Spend{X: float64(x[i]), M: m[i], Weight: float64(n[i])})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("clv_model: read clv_inputs: %w", err)
	}
	return out, nil
}

// int64Column is BIGINT column i of a chunk.
func int64Column(chunk arrow.RecordBatch, i int) []int64 {
	return chunk.Column(i).(*array.Int64).Int64Values()
}

// writeModelTable replaces clv_model with rows and each model's status. The
// predictions use the configured purchase model and Gamma-Gamma, when their
// fit converged (and, for Gamma-Gamma, when q > 1: otherwise the mean spend
// it implies is infinite).
func writeModelTable(ctx context.Context, conn *sql.Conn, rows []fitRow, status map[string]clv.FitStatus, asOf time.Time, timeUnit, predictive string) error {
	if _, err := conn.ExecContext(ctx, `CREATE OR REPLACE TABLE clv_model (
  model VARCHAR, parameter VARCHAR, value DOUBLE, as_of DATE, time_unit VARCHAR, used_for_predictions BOOLEAN,
  status VARCHAR)`); err != nil {
		return fmt.Errorf("clv_model: create: %w", err)
	}
	usable := map[string]bool{}
	for model, s := range status {
		usable[model] = s == clv.StatusConverged
	}
	for _, r := range rows {
		if r.model == GammaGamma && r.parameter == "q" && !(r.value > 1) {
			usable[GammaGamma] = false
		}
	}
	day := asOf.Format(time.DateOnly)
	for _, r := range rows {
		used := usable[r.model] && (r.model == predictive || r.model == GammaGamma)
		if _, err := conn.ExecContext(ctx, `INSERT INTO clv_model VALUES (?, ?, ?, ?::DATE, ?, ?, ?)`,
			r.model, r.parameter, r.value, day, timeUnit, used, string(status[r.model])); err != nil {
			return fmt.Errorf("clv_model: insert %s %s: %w", r.model, r.parameter, err)
		}
	}
	return nil
}

func totalWeight(cs []clv.Customer) float64 {
	var w float64
	for _, c := range cs {
		w += c.Weight
	}
	return w
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
