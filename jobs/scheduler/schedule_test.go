package scheduler

import (
	"math/rand/v2"
	"testing"
	"time"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func mustSchedule(t *testing.T, expr, zone string) *Schedule {
	t.Helper()
	s, err := NewSchedule(expr, mustLoc(t, zone))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func date(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// ticks lists the first n ticks after from.
func ticks(s *Schedule, from time.Time, n int) []Tick {
	var out []Tick
	for range n {
		t := s.Next(from)
		out = append(out, t)
		from = t.At
	}
	return out
}

func assertTicks(t *testing.T, got []Tick, want [][2]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d ticks, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		if !got[i].At.Equal(utc(w[0])) || got[i].Date() != w[1] {
			t.Errorf("tick %d: at %s for %s, want at %s for %s", i, got[i].At.UTC().Format(time.RFC3339), got[i].Date(), w[0], w[1])
		}
	}
}

func TestNextRunsInTheJobsTimeZone(t *testing.T) {
	after := utc("2025-06-10T12:00:00Z")
	for _, tc := range []struct {
		zone, at, date string
	}{
		// 02:00 local on the 11th covers the 10th 02:00 to the 11th 02:00: the run for the 10th.
		{"UTC", "2025-06-11T02:00:00Z", "2025-06-10"},
		{"Europe/Berlin", "2025-06-11T00:00:00Z", "2025-06-10"},      // CEST, UTC+2
		{"America/New_York", "2025-06-11T06:00:00Z", "2025-06-10"},   // EDT, UTC-4
		{"Asia/Tokyo", "2025-06-10T17:00:00Z", "2025-06-10"},         // JST, UTC+9: it is 21:00 on the 10th there
		{"Australia/Adelaide", "2025-06-10T16:30:00Z", "2025-06-10"}, // ACST, UTC+9:30
	} {
		got := mustSchedule(t, "0 2 * * *", tc.zone).Next(after)
		if !got.At.Equal(utc(tc.at)) || got.Date() != tc.date {
			t.Errorf("%s: next at %s for %s, want %s for %s", tc.zone, got.At.UTC().Format(time.RFC3339), got.Date(), tc.at, tc.date)
		}
	}
}

func TestDescriptorsAndSecondsField(t *testing.T) {
	after := utc("2025-06-10T12:00:00.250Z")
	for _, tc := range []struct {
		expr, at, date string
	}{
		{"@daily", "2025-06-11T00:00:00Z", "2025-06-10"},
		{"@hourly", "2025-06-10T13:00:00Z", "2025-06-10"},
		{"@weekly", "2025-06-15T00:00:00Z", "2025-06-08"}, // Sunday to Sunday
		{"@monthly", "2025-07-01T00:00:00Z", "2025-06-01"},
		{"*/20 * * * * *", "2025-06-10T12:00:20Z", "2025-06-10"}, // six fields: seconds first
		{"@every 2s", "2025-06-10T12:00:02Z", "2025-06-10"},
		{"@every 90m", "2025-06-10T13:30:00Z", "2025-06-10"},
	} {
		got := mustSchedule(t, tc.expr, "UTC").Next(after)
		if !got.At.Equal(utc(tc.at)) || got.Date() != tc.date {
			t.Errorf("%s: next at %s for %s, want %s for %s", tc.expr, got.At.UTC().Format(time.RFC3339), got.Date(), tc.at, tc.date)
		}
	}
}

func TestEveryTakesTheLogicalDateInTheJobsZone(t *testing.T) {
	// 23:30 in Tokyo on the 1st; the hour from 23:30 starts on the 1st there.
	got := mustSchedule(t, "@every 1h", "Asia/Tokyo").Next(utc("2025-01-01T14:30:00Z"))
	if !got.At.Equal(utc("2025-01-01T15:30:00Z")) || got.Date() != "2025-01-01" {
		t.Fatalf("got %s for %s", got.At, got.Date())
	}
	got = mustSchedule(t, "@every 1h", "UTC").Next(utc("2025-01-01T14:30:00Z"))
	if got.Date() != "2025-01-01" {
		t.Fatalf("UTC: %s", got.Date())
	}
}

func TestSpringForwardRunsTheSkippedTickOnceAndLosesNoDate(t *testing.T) {
	// Berlin: 2025-03-30 02:00 CET jumps to 03:00 CEST.
	s := mustSchedule(t, "0 2 * * *", "Europe/Berlin")
	assertTicks(t, ticks(s, utc("2025-03-28T12:00:00Z"), 4), [][2]string{
		{"2025-03-29T01:00:00Z", "2025-03-28"}, // 02:00 CET
		{"2025-03-30T01:00:00Z", "2025-03-29"}, // 02:00 does not exist: runs at 03:00 CEST
		{"2025-03-31T00:00:00Z", "2025-03-30"}, // 02:00 CEST
		{"2025-04-01T00:00:00Z", "2025-03-31"},
	})
	// 02:30 in New York on 2025-03-09 does not exist either: it runs at 03:30 EDT.
	ny := mustSchedule(t, "30 2 * * *", "America/New_York")
	assertTicks(t, ticks(ny, utc("2025-03-08T12:00:00Z"), 3), [][2]string{
		{"2025-03-09T07:30:00Z", "2025-03-08"},
		{"2025-03-10T06:30:00Z", "2025-03-09"},
		{"2025-03-11T06:30:00Z", "2025-03-10"},
	})
	// A sub-hourly schedule collapses the missing hour into the jump.
	q := mustSchedule(t, "*/30 * * * *", "Europe/Berlin")
	assertTicks(t, ticks(q, utc("2025-03-30T00:15:00Z"), 3), [][2]string{
		{"2025-03-30T00:30:00Z", "2025-03-30"}, // 01:30 CET
		{"2025-03-30T01:00:00Z", "2025-03-30"}, // 02:00 -> 03:00 CEST
		{"2025-03-30T01:30:00Z", "2025-03-30"}, // 03:30 CEST (02:30 was in the gap)
	})
}

func TestFallBackRunsTheRepeatedTickOnce(t *testing.T) {
	// Berlin: 2025-10-26 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
	s := mustSchedule(t, "30 2 * * *", "Europe/Berlin")
	assertTicks(t, ticks(s, utc("2025-10-25T12:00:00Z"), 3), [][2]string{
		{"2025-10-26T00:30:00Z", "2025-10-25"}, // first 02:30 (CEST)
		{"2025-10-27T01:30:00Z", "2025-10-26"}, // not 01:30Z on the 26th (the second 02:30)
		{"2025-10-28T01:30:00Z", "2025-10-27"},
	})
	q := mustSchedule(t, "*/30 * * * *", "Europe/Berlin")
	assertTicks(t, ticks(q, utc("2025-10-26T00:15:00Z"), 3), [][2]string{
		{"2025-10-26T00:30:00Z", "2025-10-26"}, // 02:30 CEST
		{"2025-10-26T02:00:00Z", "2025-10-26"}, // 03:00 CET: the repeated 02:00 and 02:30 CET do not run again
		{"2025-10-26T02:30:00Z", "2025-10-26"},
	})
	// A start inside the repeated hour continues on its second occurrence.
	got := q.Next(utc("2025-10-26T01:10:00Z")) // 02:10 CET
	if !got.At.Equal(utc("2025-10-26T01:30:00Z")) {
		t.Fatalf("from 02:10 CET: next at %s, want 02:30 CET", got.At.UTC())
	}
}

func TestEveryDateRunsOnceAcrossAYearOfDSTChanges(t *testing.T) {
	for _, zone := range []string{"Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC"} {
		for _, expr := range []string{"0 2 * * *", "30 2 * * *", "0 0 * * *", "59 23 * * *"} {
			s := mustSchedule(t, expr, zone)
			from := utc("2025-01-01T12:00:00Z")
			prev := Tick{At: from}
			want := s.Next(from).LogicalDate
			for range 365 {
				tk := s.Next(prev.At)
				if !tk.At.After(prev.At) {
					t.Fatalf("%s %s: tick %s not after %s", zone, expr, tk.At, prev.At)
				}
				if !tk.LogicalDate.Equal(want) {
					t.Fatalf("%s %s: tick at %s is for %s, want %s (a date lost or repeated)", zone, expr, tk.At, tk.Date(), want.Format(time.DateOnly))
				}
				want = want.AddDate(0, 0, 1)
				prev = tk
			}
		}
	}
}

func TestMissedGivesOneTickPerLogicalDate(t *testing.T) {
	daily := mustSchedule(t, "0 2 * * *", "UTC")
	assertTicks(t, daily.Missed(utc("2025-01-01T02:00:00Z"), utc("2025-01-05T03:00:00Z")), [][2]string{
		{"2025-01-02T02:00:00Z", "2025-01-01"},
		{"2025-01-03T02:00:00Z", "2025-01-02"},
		{"2025-01-04T02:00:00Z", "2025-01-03"},
		{"2025-01-05T02:00:00Z", "2025-01-04"},
	})
	if got := daily.Missed(utc("2025-01-01T02:00:00Z"), utc("2025-01-02T01:59:59Z")); len(got) != 0 {
		t.Fatalf("nothing was missed yet, got %v", got)
	}
	hourly := mustSchedule(t, "0 * * * *", "UTC")
	assertTicks(t, hourly.Missed(utc("2025-01-01T05:00:00Z"), utc("2025-01-03T10:30:00Z")), [][2]string{
		{"2025-01-02T00:00:00Z", "2025-01-01"}, // the last tick whose hour starts on the 1st
		{"2025-01-03T00:00:00Z", "2025-01-02"},
		{"2025-01-03T10:00:00Z", "2025-01-03"}, // the latest tick so far
	})
	// Three days of a per-second schedule: three dates, found without
	// walking a quarter of a million ticks one by one.
	every := mustSchedule(t, "@every 1s", "Europe/Berlin")
	got := every.Missed(utc("2025-01-01T10:00:00Z"), utc("2025-01-03T10:00:00Z"))
	assertTicks(t, got, [][2]string{
		{"2025-01-01T23:00:00Z", "2025-01-01"}, // midnight in Berlin ends the 1st
		{"2025-01-02T23:00:00Z", "2025-01-02"},
		{"2025-01-03T10:00:00Z", "2025-01-03"},
	})
}

func TestBackoffDoublesWithinJitterBoundsAndCap(t *testing.T) {
	base, cap := 10*time.Second, 60*time.Second
	for n, full := range map[int]time.Duration{1: 10 * time.Second, 2: 20 * time.Second, 3: 40 * time.Second, 4: 60 * time.Second, 9: 60 * time.Second} {
		if got := Backoff(base, cap, n, func() float64 { return 0 }); got != full/2 {
			t.Errorf("retry %d, lowest jitter: %s, want %s", n, got, full/2)
		}
		if got := Backoff(base, cap, n, func() float64 { return 0.999999 }); got > full || got < full-time.Millisecond {
			t.Errorf("retry %d, highest jitter: %s, want just under %s", n, got, full)
		}
		seen := map[time.Duration]bool{}
		for range 1000 {
			d := Backoff(base, cap, n, rand.Float64)
			if d < full/2 || d > full {
				t.Fatalf("retry %d: %s outside [%s, %s]", n, d, full/2, full)
			}
			seen[d] = true
		}
		if len(seen) < 100 {
			t.Errorf("retry %d: only %d distinct delays in 1000 draws: no jitter", n, len(seen))
		}
	}
}
