package report

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"math"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// The charts' colours: distinguishable in print and by most colour-blind
// readers (Okabe & Ito).
var seriesColors = []color.Color{
	color.RGBA{0, 114, 178, 255},
	color.RGBA{230, 159, 0, 255},
	color.RGBA{0, 158, 115, 255},
	color.RGBA{204, 121, 167, 255},
}

const (
	chartWidth  = 16 * vg.Centimeter
	chartHeight = 9 * vg.Centimeter
)

func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	// A sans face the browser finds locally; the SVG names it, never loads it.
	sans := font.Font{Typeface: "Liberation", Variant: "Sans"}
	for _, t := range []*text.Style{&p.Title.TextStyle, &p.X.Label.TextStyle, &p.Y.Label.TextStyle, &p.X.Tick.Label, &p.Y.Tick.Label, &p.Legend.TextStyle} {
		t.Font.Typeface, t.Font.Variant = sans.Typeface, sans.Variant
	}
	p.Title.TextStyle.Font.Size = 13
	return p
}

// svg renders a plot as an inline SVG element (no XML prolog), scaled by
// the page's CSS to the width of the screen or paper.
func svg(p *plot.Plot, w, h vg.Length) (template.HTML, error) {
	c := vgsvg.New(w, h)
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return "", err
	}
	out := buf.Bytes()
	if i := bytes.Index(out, []byte("<svg")); i >= 0 {
		out = out[i:]
	}
	return template.HTML(out), nil
}

type series struct {
	name   string
	values []float64
}

// bars draws one bar per label and series, side by side; horizontal puts the
// labels on the y axis (for long names).
func bars(title, valueLabel string, labels []string, ss []series, horizontal bool) (*plot.Plot, error) {
	p := newPlot(title, "", valueLabel)
	if horizontal {
		p.X.Label.Text, p.Y.Label.Text = valueLabel, ""
	}
	width := vg.Points(60 / float64(len(ss)))
	if horizontal {
		width = vg.Points(min(40, 180/float64(len(labels))) / float64(len(ss)))
	}
	for i, s := range ss {
		b, err := plotter.NewBarChart(plotter.Values(s.values), width)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", title, err)
		}
		b.Horizontal = horizontal
		b.Color = seriesColors[i%len(seriesColors)]
		b.LineStyle.Width = 0
		b.Offset = vg.Length(float64(i)-float64(len(ss)-1)/2) * width
		p.Add(b)
		if len(ss) > 1 {
			p.Legend.Add(s.name, b)
		}
	}
	p.Legend.Top = true
	// Room for the legend beyond the longest bar.
	if horizontal {
		p.X.Max *= 1.3
	} else {
		p.Y.Max *= 1.25
	}
	if horizontal {
		p.NominalY(labels...)
		p.Add(plotter.NewGrid())
	} else {
		p.NominalX(labels...)
	}
	return p, nil
}

// grid is a heatmap's cells: z[row][col], NaN for no value.
type grid struct {
	z [][]float64
}

func (g grid) Dims() (c, r int)   { return len(g.z[0]), len(g.z) }
func (g grid) Z(c, r int) float64 { return g.z[r][c] }
func (g grid) X(c int) float64    { return float64(c) }
func (g grid) Y(r int) float64    { return float64(r) }

// heatmap colours cells from light (low) to dark (high); small grids carry
// their values in the cells too, formatted by label.
func heatmap(title, xLabel, yLabel string, cols, rows []string, z [][]float64, label func(float64) string) (*plot.Plot, error) {
	p := newPlot(title, xLabel, yLabel)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range z {
		for _, v := range r {
			if !math.IsNaN(v) {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	if lo >= hi {
		hi = lo + 1
	}
	h := plotter.NewHeatMap(grid{z}, blues(64))
	h.Min, h.Max = lo, hi
	h.NaN = color.Transparent
	p.Add(h)
	if len(rows)*len(cols) <= 60 && label != nil {
		var xys plotter.XYLabels
		for r := range z {
			for c, v := range z[r] {
				if math.IsNaN(v) {
					continue
				}
				xys.XYs = append(xys.XYs, plotter.XY{X: float64(c), Y: float64(r)})
				xys.Labels = append(xys.Labels, label(v))
			}
		}
		l, err := plotter.NewLabels(xys)
		if err != nil {
			return nil, err
		}
		for i := range l.TextStyle {
			l.TextStyle[i].XAlign, l.TextStyle[i].YAlign = draw.XCenter, draw.YCenter
			l.TextStyle[i].Font.Typeface, l.TextStyle[i].Font.Variant = "Liberation", "Sans"
			l.TextStyle[i].Font.Size = 9
			// Dark cells get white text.
			if v := z[int(xys.XYs[i].Y)][int(xys.XYs[i].X)]; (v-lo)/(hi-lo) > 0.55 {
				l.TextStyle[i].Color = color.White
			}
		}
		p.Add(l)
	}
	p.X.Tick.Marker = sparseTicks(cols, 16)
	p.Y.Tick.Marker = sparseTicks(rows, 16)
	p.X.Padding, p.Y.Padding = 0, 0
	return p, nil
}

// sparseTicks labels integer positions with names, at most n of them.
func sparseTicks(names []string, n int) plot.Ticker {
	return plot.TickerFunc(func(lo, hi float64) []plot.Tick {
		step := max(1, (len(names)+n-1)/n)
		var ts []plot.Tick
		for i, name := range names {
			if i%step == 0 {
				ts = append(ts, plot.Tick{Value: float64(i), Label: name})
			}
		}
		return ts
	})
}

// lines draws series over a shared x.
func lines(title, xLabel, yLabel string, x []float64, ss []series, step bool) (*plot.Plot, error) {
	p := newPlot(title, xLabel, yLabel)
	for i, s := range ss {
		xys := make(plotter.XYs, len(x))
		for j := range x {
			xys[j] = plotter.XY{X: x[j], Y: s.values[j]}
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", title, err)
		}
		l.Color = seriesColors[i%len(seriesColors)]
		l.Width = vg.Points(1.2)
		if step {
			l.StepStyle = plotter.PostStep
		}
		p.Add(l)
		if len(ss) > 1 {
			p.Legend.Add(s.name, l)
		}
	}
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p, nil
}

// timeAxis formats an x axis of Unix seconds as dates.
func timeAxis(p *plot.Plot) {
	p.X.Tick.Marker = plot.TimeTicks{Format: "2006-01", Time: func(t float64) time.Time { return time.Unix(int64(t), 0).UTC() }}
}

// stacked draws horizontal bars of the series stacked end to end per label.
func stacked(title, valueLabel string, labels []string, ss []series) (*plot.Plot, error) {
	p := newPlot(title, valueLabel, "")
	width := vg.Points(min(14, 180/float64(len(labels))))
	var below *plotter.BarChart
	for i, s := range ss {
		b, err := plotter.NewBarChart(plotter.Values(s.values), width)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", title, err)
		}
		b.Horizontal = true
		b.Color = seriesColors[i%len(seriesColors)]
		b.LineStyle.Width = 0
		if below != nil {
			b.StackOn(below)
		}
		below = b
		p.Add(b)
		p.Legend.Add(s.name, b)
	}
	p.Legend.Top = true
	p.X.Max *= 1.3
	p.NominalY(labels...)
	p.Add(plotter.NewGrid())
	return p, nil
}

// blues is a sequential palette from near white to dark blue: light for
// low values, legible in grey print.
type blues int

func (n blues) Colors() []color.Color {
	lo, hi := [3]float64{247, 251, 255}, [3]float64{8, 48, 107}
	cs := make([]color.Color, n)
	for i := range cs {
		f := float64(i) / float64(n-1)
		c := func(k int) uint8 { return uint8(lo[k] + f*(hi[k]-lo[k])) }
		cs[i] = color.RGBA{c(0), c(1), c(2), 255}
	}
	return cs
}

var _ palette.Palette = blues(0)
