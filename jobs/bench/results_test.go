package bench

import "testing"

// TestCurveFlatness: the curve target compares the largest size with the
// smallest, whatever their order, so fixed costs shrinking per line pass
// and time per line growing with size fails.
func TestCurveFlatness(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		curve []Point
		value float64
		met   bool
	}{
		{"falling", []Point{{Lines: 1e6, MicrosPerLine: 8}, {Lines: 3e6, MicrosPerLine: 5}, {Lines: 1e7, MicrosPerLine: 4}}, 0.5, true},
		{"rising", []Point{{Lines: 1e7, MicrosPerLine: 12}, {Lines: 1e6, MicrosPerLine: 8}}, 1.5, false},
		{"flat with a bump", []Point{{Lines: 1e6, MicrosPerLine: 4}, {Lines: 3e6, MicrosPerLine: 9}, {Lines: 1e7, MicrosPerLine: 4.4}}, 1.1, true},
	}
	for _, c := range cases {
		var found bool
		for _, tg := range targets(&Results{Curve: c.curve}) {
			if tg.Name != "time per line, largest size / smallest size" {
				continue
			}
			found = true
			if tg.Value < c.value-1e-9 || tg.Value > c.value+1e-9 || tg.Met != c.met {
				t.Errorf("%s: value %v met %v, want %v %v", c.name, tg.Value, tg.Met, c.value, c.met)
			}
		}
		if !found {
			t.Errorf("%s: no curve target", c.name)
		}
	}
}
