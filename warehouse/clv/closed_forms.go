package clv

import (
	"context"
	"database/sql"
	_ "embed"
	"fmt"
)

//go:embed closed_forms.sql
var closedForms string

// RegisterClosedForms defines, on conn only (TEMP macros), the vectorised
// SQL versions of the closed-form predictions the scoring models use:
//
//	bgnbd_p_alive_closed(x, t_x, T, r, alpha, a, b)
//	gamma_gamma_expected_spend_closed(x, m, p, q, gamma)
//
// They agree with bgnbd_p_alive and gamma_gamma_expected_spend to 1e-12
// (relative) on valid input. The forms with a 2F1 (expected purchases, CLV,
// every Pareto/NBD prediction) stay Go functions.
func RegisterClosedForms(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, closedForms); err != nil {
		return fmt.Errorf("define clv closed forms: %w", err)
	}
	return nil
}
