package cli

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	imagepng "image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/publish"
)

// reportSections are the ids of the report's sections, one per chart the
// issue names.
var reportSections = []string{"pyramid", "segments", "rfm-grid", "value-matrix", "value-loyalty", "cohorts",
	"clv-distribution", "repeat-purchases", "frequency-recency", "holdout", "parameters", "daily-sales", "quarantine", "runs"}

// reportOfGolden returns the data directory of the golden run (a holdout,
// and a file holding one bad row among forty good ones) and its published
// report, checking that the run's summary says where the report is.
func reportOfGolden(t *testing.T) (string, string) {
	t.Helper()
	data, _, out := goldenData(t)
	version, _, err := publish.Current(warehouse.NewLayout(data))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(data, "marts", version, "report.html")
	if !strings.Contains(out, "report: "+path) {
		t.Errorf("run summary does not say where the report is (%s):\n%s", path, out)
	}
	return data, path
}

// TestReport checks the report of the golden run (a pipeline run costs more
// than the checks, and TestGoldenMarts reads the same one) as HTML and in a
// browser.
func TestReport(t *testing.T) {
	t.Parallel()
	data, path := reportOfGolden(t)
	t.Run("every chart with its mart's numbers", func(t *testing.T) { checkReportHTML(t, data, path) })
	t.Run("chromium renders it", func(t *testing.T) { checkReportInChromium(t, path) })
	t.Run("named version to a chosen file", func(t *testing.T) {
		version, _, _ := publish.Current(warehouse.NewLayout(data))
		out := filepath.Join(t.TempDir(), "r.html")
		stdout := mustRun(t, "report", "--data-dir", data, "--version", version, "--out", out)
		raw, err := os.ReadFile(out)
		if err != nil || !strings.Contains(stdout, out) || !bytes.Contains(raw, []byte(`id="version">`+version+`<`)) {
			t.Fatalf("report --version %s --out %s: %v\n%s", version, out, err, stdout)
		}
		if code, _, errOut := custmart(t, "report", "--data-dir", data, "--version", "19990101T000000.000Z"); code != ExitUsage || !strings.Contains(errOut, "no such published version") {
			t.Fatalf("unknown version: exit %d, %s", code, errOut)
		}
	})
}

func checkReportHTML(t *testing.T, data, path string) {
	version, _, _ := publish.Current(warehouse.NewLayout(data))
	info, err := publish.ReadInfo(warehouse.NewLayout(data), version)
	if err != nil {
		t.Fatal(err)
	}
	if info.Report != "report.html" {
		t.Errorf("_version.json lists report %q, want report.html", info.Report)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("report does not parse as HTML: %v", err)
	}
	for _, bad := range []string{"<script", "http://", "https://", "@import", "@font-face"} {
		if bytes.Contains(raw, []byte(bad)) && !(bad == "http://" && onlySVGNamespaces(raw)) {
			t.Errorf("report contains %q: it must not load anything", bad)
		}
	}
	if v := nodeText(find(doc, "id", "version")); v != version {
		t.Errorf("header version %q, want %s", v, version)
	}
	if _, asOf, _ := goldenData(t); nodeText(find(doc, "id", "as-of")) != asOf {
		t.Errorf("header as-of %q, want %s", nodeText(find(doc, "id", "as-of")), asOf)
	}
	sections := map[string]*html.Node{}
	for _, id := range reportSections {
		s := find(doc, "id", id)
		if s == nil {
			t.Errorf("report has no section %s", id)
			continue
		}
		sections[id] = s
		if m := findClass(s, "missing"); m != nil {
			t.Errorf("section %s shows no data: %s", id, nodeText(m))
			continue
		}
		if id != "parameters" && len(all(s, "svg")) == 0 {
			t.Errorf("section %s has no chart", id)
		}
		for _, svg := range all(s, "svg") {
			if len(all(svg, "path")) < 3 {
				t.Errorf("section %s: a chart draws almost nothing", id)
			}
		}
		tbl := tableRows(s)
		if len(tbl) < 2 {
			t.Errorf("section %s has no numbers", id)
		}
	}

	// A chart's numbers are its mart's.
	compare := func(id, query string) {
		t.Helper()
		s := sections[id]
		if s == nil {
			return
		}
		want := queryCSV(t, "--data-dir", data, query)
		got := tableRows(s)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("section %s shows\n%v\nthe mart says\n%v", id, got, want)
		}
	}
	compare("pyramid", `SELECT tier, customers, printf('%.2f', revenue) AS revenue, printf('%.2f', clv_predicted) AS clv_predicted,
		printf('%.1f%%', 100 * customer_share) AS customer_share, printf('%.1f%%', 100 * revenue_share) AS revenue_share,
		printf('%.1f%%', 100 * clv_predicted_share) AS clv_predicted_share FROM tier_summary ORDER BY tier_order`)
	compare("rfm-grid", `SELECT r_score AS "r_score \ f_score", * EXCLUDE (r_score) FROM (PIVOT (SELECT r_score, f_score, customers FROM rfm_grid) ON f_score USING any_value(customers) ORDER BY r_score DESC)`)
	compare("repeat-purchases", `SELECT bucket AS "repeat purchases", actual_customers AS actual, printf('%.2f', expected_customers) AS expected FROM clv_repeat_purchases ORDER BY bucket_order`)
	compare("quarantine", `SELECT reason_code, count(*) AS rows FROM quarantine GROUP BY 1 ORDER BY 2 DESC, 1`)
	compare("value-matrix", `SELECT cycle_band, amount_band, value_class, customers, printf('%.2f', revenue) AS revenue FROM value_matrix ORDER BY cell_order`)
}

const chromiumPath = "/usr/bin/chromium"

// checkReportInChromium opens the report in headless Chromium at a phone's
// and a desktop's size and checks the screenshots: the expected size, not
// blank, and no message on the browser console. A page with a console error
// first proves that such messages are seen.
func checkReportInChromium(t *testing.T, path string) {
	if testing.Short() {
		t.Skip("opens the report in headless Chromium, a client program; make test runs it")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("chromium not installed at %s (Debian package chromium)", chromiumPath)
	}
	bad := filepath.Join(t.TempDir(), "bad.html")
	if err := os.WriteFile(bad, []byte(`<!DOCTYPE html><p>x</p><script>console.error("report-test-marker")</script>`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, console := screenshot(t, bad, 390, 844); !strings.Contains(console, "report-test-marker") {
		t.Fatalf("the console check does not see a console error:\n%s", console)
	}
	for _, size := range [][2]int{{390, 844}, {1280, 2400}} {
		img, console := screenshot(t, path, size[0], size[1])
		if console != "" {
			t.Errorf("%dx%d: console messages:\n%s", size[0], size[1], console)
		}
		b := img.Bounds()
		if b.Dx() != size[0] || b.Dy() != size[1] {
			t.Errorf("screenshot is %dx%d, want %dx%d", b.Dx(), b.Dy(), size[0], size[1])
		}
		// Text and charts: many pixels are not white, in several colours.
		inked, colours := 0, map[color.RGBA]bool{}
		for y := b.Min.Y; y < b.Max.Y; y += 2 {
			for x := b.Min.X; x < b.Max.X; x += 2 {
				c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
				colours[c] = true
				if int(c.R)+int(c.G)+int(c.B) < 600 {
					inked++
				}
			}
		}
		if share := float64(inked) / float64(b.Dx()*b.Dy()/4); share < 0.02 || len(colours) < 20 {
			t.Errorf("%dx%d: the page looks blank: %.3f of pixels inked, %d colours", size[0], size[1], share, len(colours))
		}
	}
}

// screenshot loads file in headless Chromium with a w x h window and returns
// the screenshot and the console messages Chromium logged.
func screenshot(t *testing.T, file string, w, h int) (image.Image, string) {
	t.Helper()
	dir := t.TempDir()
	png := filepath.Join(dir, "shot.png")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromiumPath, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--enable-logging=stderr", "--v=1",
		fmt.Sprintf("--window-size=%d,%d", w, h), "--screenshot="+png, "file://"+file)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	f, err := os.Open(png)
	if err != nil {
		t.Fatalf("chromium wrote no screenshot: %v\n%s", err, out)
	}
	defer f.Close()
	img, err := imagepng.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	var console []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, ":CONSOLE") {
			console = append(console, line)
		}
	}
	return img, strings.Join(console, "\n")
}

// onlySVGNamespaces reports whether every http:// in raw is an SVG
// namespace name (an identifier, never fetched).
func onlySVGNamespaces(raw []byte) bool {
	n := bytes.Count(raw, []byte("http://"))
	ns := bytes.Count(raw, []byte(`"http://www.w3.org/2000/svg"`)) + bytes.Count(raw, []byte(`"http://www.w3.org/1999/xlink"`))
	return n == ns
}

func find(n *html.Node, key, val string) *html.Node {
	if n.Type == html.ElementNode {
		for _, a := range n.Attr {
			if a.Key == key && a.Val == val {
				return n
			}
		}
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := find(c, key, val); f != nil {
			return f
		}
	}
	return nil
}

func findClass(n *html.Node, class string) *html.Node { return find(n, "class", class) }

func all(n *html.Node, tag string) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == tag {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func nodeText(n *html.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.TrimSpace(b.String())
}

// tableRows is the first table of a section: header then body rows.
func tableRows(s *html.Node) [][]string {
	tables := all(s, "table")
	if len(tables) == 0 {
		return nil
	}
	var out [][]string
	for _, tr := range all(tables[0], "tr") {
		var row []string
		for c := tr.FirstChild; c != nil; c = c.NextSibling {
			if c.Type == html.ElementNode && (c.Data == "td" || c.Data == "th") {
				row = append(row, nodeText(c))
			}
		}
		out = append(out, row)
	}
	return out
}
