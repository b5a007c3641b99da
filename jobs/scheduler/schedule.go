// Package scheduler runs configured jobs by themselves: cron schedules in a
// time zone per job, logical dates, dependencies between jobs, retries with
// backoff, timeouts, catch-up after downtime, backfills, and the
// `custmart schedule` daemon with its metrics, health endpoint and alerts.
//
// # Logical dates
//
// A run covers one interval of its job's schedule, from the previous tick to
// the tick that starts it, and is identified by its logical date: the day, in
// the job's time zone, on which the interval starts (Airflow's convention).
// A job scheduled "0 2 * * *" that runs on the 2nd at 02:00 covers the 1st
// 02:00 to the 2nd 02:00, so it is the run for the 1st, and its pipeline runs
// with --as-of set to the 1st. A job "@every 10m" that runs at 10:00 covers
// 09:50-10:00, the run for that day. A run for (job, logical date) is
// idempotent: running it again replaces its outputs.
//
// # Daylight saving time
//
// Cron expressions are read on the wall clock of the job's time zone, and
// every wall-clock tick fires exactly once: a tick inside the hour skipped in
// spring fires when the clock jumps (02:30 fires at 03:30), and a tick inside
// the hour repeated in autumn fires at its first occurrence only. @every
// schedules are plain elapsed time and ignore the zone, except for the
// logical date.
package scheduler

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/custmart/custmart/jobs/config"
)

// Tick is one firing of a schedule.
type Tick struct {
	At          time.Time // when it fires
	LogicalDate time.Time // the day its interval starts on, as 00:00 UTC of that date
}

// Date formats the logical date as YYYY-MM-DD.
func (t Tick) Date() string { return t.LogicalDate.Format(time.DateOnly) }

// Schedule is a job's cron schedule in its time zone.
type Schedule struct {
	spec  *cron.SpecSchedule // evaluated on wall-clock times expressed in UTC
	every time.Duration      // @every schedules
	loc   *time.Location
}

// NewSchedule parses a cron expression (see config.ParseSchedule) for a zone.
func NewSchedule(expr string, loc *time.Location) (*Schedule, error) {
	parsed, err := config.ParseSchedule(expr)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", expr, err)
	}
	s := &Schedule{loc: loc}
	switch p := parsed.(type) {
	case *cron.SpecSchedule:
		wall := *p
		wall.Location = time.UTC
		s.spec = &wall
	case cron.ConstantDelaySchedule:
		s.every = p.Delay
	default:
		return nil, fmt.Errorf("schedule %q: unsupported kind %T", expr, parsed)
	}
	return s, nil
}

// Location is the schedule's time zone.
func (s *Schedule) Location() *time.Location { return s.loc }

// Next returns the first tick strictly after the instant after. It returns a
// zero Tick if the schedule never fires again (within five years).
func (s *Schedule) Next(after time.Time) Tick {
	if s.every > 0 {
		at := cron.ConstantDelaySchedule{Delay: s.every}.Next(after)
		return Tick{At: at, LogicalDate: civil(at.Add(-s.every).In(s.loc))}
	}
	w := s.wall(after)
	for range 32 { // a gap or an overlap costs an extra step or two
		w = s.spec.Next(w)
		if w.IsZero() {
			return Tick{}
		}
		if at, ok := s.instant(w, after); ok {
			start := s.prevWall(w)
			if start.IsZero() {
				start = w
			}
			return Tick{At: at, LogicalDate: civil(start)}
		}
	}
	return Tick{}
}

// Missed returns the ticks in (from, now], one per logical date: for each
// date the last tick of that date, since a run for a date covers all of it.
// The cost grows with the number of dates, plus the ticks of the last day.
func (s *Schedule) Missed(from, now time.Time) []Tick {
	var out []Tick
	t := s.Next(from)
	for !t.At.IsZero() && !t.At.After(now) {
		// The first tick at or after the start of the next day is the last
		// tick whose interval starts on this day.
		y, m, d := t.LogicalDate.Date()
		nextDay := time.Date(y, m, d+1, 0, 0, 0, 0, s.loc)
		end := s.Next(nextDay.Add(-time.Nanosecond))
		if !end.At.IsZero() && !end.At.After(now) && end.LogicalDate.Equal(t.LogicalDate) && !end.At.Before(t.At) {
			out = append(out, end)
			t = s.Next(end.At)
			continue
		}
		for {
			n := s.Next(t.At)
			if n.At.IsZero() || n.At.After(now) || !n.LogicalDate.Equal(t.LogicalDate) {
				break
			}
			t = n
		}
		out = append(out, t)
		t = s.Next(t.At)
	}
	return out
}

// wall is the wall-clock reading of t in the schedule's zone, as a UTC time.
func (s *Schedule) wall(t time.Time) time.Time {
	l := t.In(s.loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
}

// instant returns the earliest instant after `after` whose wall clock reads
// w. A reading skipped by a spring-forward jump maps to the instant the
// clock jumps over it plus its offset into the gap (02:30 -> 03:30).
func (s *Schedule) instant(w, after time.Time) (time.Time, bool) {
	var best time.Time
	for _, probe := range []time.Duration{-36 * time.Hour, 0, 36 * time.Hour} {
		_, offset := w.Add(probe).In(s.loc).Zone()
		at := w.Add(-time.Duration(offset) * time.Second)
		if s.wall(at).Equal(w) && at.After(after) && (best.IsZero() || at.Before(best)) {
			best = at
		}
	}
	if !best.IsZero() {
		return best, true
	}
	// In a gap: read w with the offset in force before the jump.
	_, before := w.Add(-36 * time.Hour).In(s.loc).Zone()
	at := w.Add(-time.Duration(before) * time.Second)
	if s.wall(at).Equal(w) || !at.After(after) {
		return time.Time{}, false // an overlap reading already passed
	}
	return at, true
}

// prevWall returns the last wall-clock tick strictly before w, or zero.
func (s *Schedule) prevWall(w time.Time) time.Time {
	for back := time.Second; back <= 6*366*24*time.Hour; back *= 2 {
		p := s.spec.Next(w.Add(-back))
		if p.IsZero() || !p.Before(w) {
			continue
		}
		for {
			n := s.spec.Next(p)
			if n.IsZero() || !n.Before(w) {
				return p
			}
			p = n
		}
	}
	return time.Time{}
}

// civil returns the calendar date of t (in t's location) as 00:00 UTC, the
// form the pipeline takes its --as-of date in.
func civil(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
