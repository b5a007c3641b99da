package warehouse

import (
	"math/big"
	"strings"
)

// DecimalText renders the unscaled value v with exactly scale digits after the
// point, as PostgreSQL and DuckDB print DECIMAL(p, scale): 12.50, not 12.5.
func DecimalText(v *big.Int, scale int) string {
	s := new(big.Int).Abs(v).String()
	if scale > 0 {
		if len(s) <= scale {
			s = strings.Repeat("0", scale-len(s)+1) + s
		}
		s = s[:len(s)-scale] + "." + s[len(s)-scale:]
	}
	if v.Sign() < 0 {
		s = "-" + s
	}
	return s
}
