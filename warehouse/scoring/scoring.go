// Package scoring holds the Go side of custmart's customer-value models: the
// maximum-likelihood fits of the probabilistic CLV models behind the
// clv_model mart, the optional feedback and campaign-response sources, and the
// hooks that prepare the transform connection (the clv scalar functions the
// SQL models score customers with, and the variables they read).
//
// Wire it into a transform.Runner (or a jobs.Pipeline) with
//
//	GoModels: scoring.GoModels(), Hooks: scoring.Hooks()
//
// The SQL models (sql/clv_inputs.sql, customer_value.sql, ...) do the
// per-customer work; Go fits a handful of parameters on inputs compressed by
// SQL, so the cost follows distinct (x, t_x, T) triples, not customers.
package scoring

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/custmart/custmart/warehouse/clv"
	"github.com/custmart/custmart/warehouse/transform"
)

// GoModels are the models declared `materialized: go` in sql/, by name.
func GoModels() map[string]transform.GoModel {
	return map[string]transform.GoModel{
		"clv_model":         fitModels,
		"feedback":          loadFeedback,
		"campaign_response": loadCampaignResponse,
	}
}

// Hooks prepare the transform connection before the models run.
func Hooks() []transform.Hook {
	return []transform.Hook{checkHoldout, setVariables, registerFunctions}
}

// checkHoldout refuses a holdout that starts after the as-of date: it would
// be empty, and the calibration period would reach past the data.
func checkHoldout(_ context.Context, _ *sql.Conn, env transform.Env) error {
	from := env.Params.HoldoutFrom
	if from == "" {
		return nil
	}
	start, err := time.Parse(time.DateOnly, from)
	if err != nil {
		return fmt.Errorf("model.holdout_from %q is not a date: write YYYY-MM-DD", from)
	}
	if start.After(env.AsOf) {
		return fmt.Errorf("model.holdout_from %s is after the as-of date %s, so the holdout would be empty: pass --holdout-from a date on or before --as-of",
			from, env.AsOf.Format(time.DateOnly))
	}
	return nil
}

// setVariables sets the DuckDB variables the scoring SQL reads besides the
// ones the transform sets from the model configuration.
func setVariables(ctx context.Context, conn *sql.Conn, env transform.Env) error {
	high := 0.7
	if f := env.Params.Feedback; f != nil {
		high = f.HighAttitude
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("SET VARIABLE feedback_high_attitude = %g::DOUBLE", high)); err != nil {
		return fmt.Errorf("scoring: set variables: %w", err)
	}
	return nil
}

// registerFunctions installs the clv scalar functions (bgnbd_p_alive, ...)
// and the vectorised closed forms (bgnbd_p_alive_closed, ...) that
// customer_value and clv_validation score with.
func registerFunctions(ctx context.Context, conn *sql.Conn, _ transform.Env) error {
	if err := clv.RegisterUDFs(ctx, conn); err != nil {
		return err
	}
	return clv.RegisterClosedForms(ctx, conn)
}

// calibrationEnd is the last day of the data the models are fitted on: the
// day before the holdout, or the as-of date.
func calibrationEnd(env transform.Env) time.Time {
	if from, err := time.Parse(time.DateOnly, env.Params.HoldoutFrom); err == nil {
		return from.AddDate(0, 0, -1)
	}
	return env.AsOf
}
