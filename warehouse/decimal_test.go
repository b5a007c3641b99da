package warehouse

import (
	"math/big"
	"testing"
)

func TestDecimalTextKeepsTheScale(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		v     int64
		scale int
		want  string
	}{
		{1250, 2, "12.50"},
		{0, 2, "0.00"},
		{5, 2, "0.05"},
		{-5, 2, "-0.05"},
		{-120000, 4, "-12.0000"},
		{42, 0, "42"},
	} {
		if got := DecimalText(big.NewInt(c.v), c.scale); got != c.want {
			t.Errorf("DecimalText(%d, %d) = %q, want %q", c.v, c.scale, got, c.want)
		}
	}
}
