package lake

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/custmart/custmart/warehouse"
)

// Progress is how far an ingest has got, reported each time a unit of input
// (a file, a segment of a large file, or a batch of database rows) is read.
type Progress struct {
	Source string
	File   string // the input the unit belonged to
	// Rows read so far in this ingest, whatever became of them.
	Rows int64
	// Bytes of input read so far, and the size of all new input found so far
	// (0 when unknown, as for databases).
	Bytes, BytesTotal int64
	Elapsed           time.Duration
}

type progressKey struct{}

// WithProgress returns a context under which Ingester.Ingest calls report
// with its progress. Calls are serialized.
func WithProgress(ctx context.Context, report func(Progress)) context.Context {
	return context.WithValue(ctx, progressKey{}, report)
}

// tracker accumulates progress over an ingest.
type tracker struct {
	mu     sync.Mutex
	report func(Progress)
	start  time.Time
	p      Progress
}

func newTracker(ctx context.Context) *tracker {
	report, _ := ctx.Value(progressKey{}).(func(Progress))
	return &tracker{report: report, start: time.Now()}
}

func (t *tracker) expect(bytes int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.p.BytesTotal += bytes
}

func (t *tracker) unitDone(source, file string, rows, bytes int64) {
	if t.report == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.p.Source, t.p.File = source, file
	t.p.Rows += rows
	t.p.Bytes += bytes
	t.p.Elapsed = time.Since(t.start)
	t.report(t.p)
}

// Bar draws an ingest's progress on one terminal line: a bar when the input
// size is known, rows, rows per second and bytes. Log lines written through
// the Bar (as an io.Writer) clear the line first, so they do not mix.
type Bar struct {
	mu    sync.Mutex
	w     io.Writer
	last  Progress
	drawn bool
	at    time.Time
}

// NewBar returns a Bar drawing on w, a terminal.
func NewBar(w io.Writer) *Bar { return &Bar{w: w} }

// Report draws p, at most ten times a second.
func (b *Bar) Report(p Progress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.last = p
	if time.Since(b.at) < 100*time.Millisecond && b.drawn {
		return
	}
	b.draw()
}

func (b *Bar) draw() {
	p := b.last
	line := "ingest "
	if p.BytesTotal > 0 {
		done := min(float64(p.Bytes)/float64(p.BytesTotal), 1)
		const width = 24
		filled := int(done * width)
		line += "[" + strings.Repeat("#", filled) + strings.Repeat("-", width-filled) + fmt.Sprintf("] %3.0f%% ", done*100)
	}
	line += fmt.Sprintf("%s rows  %s/s  %s", count(p.Rows), count(perSecond(p.Rows, p.Elapsed)), warehouse.FormatBytes(p.Bytes))
	if p.BytesTotal > 0 {
		line += " of " + warehouse.FormatBytes(p.BytesTotal)
	}
	if p.File != "" {
		line += "  " + filepath.Base(p.File)
	}
	fmt.Fprint(b.w, "\r\033[K"+line)
	b.drawn, b.at = true, time.Now()
}

// Write writes p (a log line) on a line of its own and redraws the bar.
func (b *Bar) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		fmt.Fprint(b.w, "\r\033[K")
	}
	n, err := b.w.Write(p)
	if b.drawn {
		b.draw()
	}
	return n, err
}

// Done draws the final state and ends the line.
func (b *Bar) Done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		b.draw()
		fmt.Fprintln(b.w)
		b.drawn = false
	}
}

// LogProgress reports progress as log lines, at most one every interval.
func LogProgress(logger *slog.Logger, interval time.Duration) func(Progress) {
	var last time.Time
	return func(p Progress) {
		if logger == nil || time.Since(last) < interval {
			return
		}
		last = time.Now()
		logger.Info("ingest progress", "rows", p.Rows, "rows_per_s", int64(perSecond(p.Rows, p.Elapsed)),
			"bytes", p.Bytes, "bytes_total", p.BytesTotal, "file", p.File)
	}
}

func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// count renders n with thousands separators.
func count[T int64 | float64](n T) string {
	s := fmt.Sprintf("%d", int64(n))
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
