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

// TestIssue15Targets: each ratio of issue 15 is checked by wall time and by
// CPU time against its own limit, so a loaded machine's wall figure and a
// steady CPU figure can disagree in the report.
func TestIssue15Targets(t *testing.T) {
	t.Parallel()
	r := &Results{
		Full: &RunResult{Lines: DefaultRows, Stages: []Stage{
			{Name: "ingest", Kind: KindStage, Ratio: 2.4, CPURatio: 1.4},
			{Name: "end to end", Kind: KindTotal, Ratio: 1.9, CPURatio: 3.1},
		}},
		OneFile: &Stage{Name: "ingest (one file)", Kind: KindStage, Ratio: 1.2, CPURatio: 1.6},
		Incremental: &RunResult{ShareOfFull: 0.3, CPUShareOfFull: 0.2, Stages: []Stage{
			{Name: "end to end", Kind: KindTotal, Seconds: 13.7},
		}},
	}
	want := map[string]bool{
		"end to end / sum of bare stages":          true,
		"end to end / sum of bare stages, CPU":     false,
		"ingest of the day files / bare COPY":      false,
		"ingest of the day files / bare COPY, CPU": true,
		"ingest of one file / bare COPY":           true,
		"ingest of one file / bare COPY, CPU":      false,
		"daily run / full run":                     false,
		"daily run / full run, CPU":                true,
		"daily run at the default size":            false,
	}
	got := map[string]bool{}
	for _, tg := range targets(r) {
		if _, ok := want[tg.Name]; ok {
			got[tg.Name] = tg.Met
		}
	}
	for name, met := range want {
		if m, ok := got[name]; !ok {
			t.Errorf("no target %q", name)
		} else if m != met {
			t.Errorf("%s: met %v, want %v", name, m, met)
		}
	}
}
