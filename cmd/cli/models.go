package cli

import (
	"time"

	"github.com/custmart/custmart/warehouse/scoring"
	"github.com/custmart/custmart/warehouse/transform"
)

// goModels are the models computed in Go, by the name their .sql header declares.
func goModels() map[string]transform.GoModel {
	return scoring.GoModels()
}

// hooks prepare each transform connection (e.g. register scalar UDFs).
func hooks() []transform.Hook {
	return scoring.Hooks()
}

const holdoutUsage = "validate the purchase models: fit on the data before DATE (YYYY-MM-DD) and compare their predictions with the purchases from DATE to --as-of in the clv_validation mart (overrides model.holdout_from)"

// applyHoldout sets model.holdout_from from --holdout-from, when given.
func (a *app) applyHoldout(from string) error {
	if from == "" {
		return nil
	}
	start, err := time.Parse(time.DateOnly, from)
	if err != nil {
		return usagef("--holdout-from %q is not a date; write YYYY-MM-DD", from)
	}
	if asOf, err := a.logicalDate(); err == nil && start.After(asOf) {
		return usagef("--holdout-from %s is after --as-of %s: the holdout runs from DATE to the as-of date, so pick a date on or before it", from, asOf.Format(time.DateOnly))
	}
	c, err := a.config()
	if err != nil {
		return err
	}
	c.Model.HoldoutFrom = from
	return nil
}
