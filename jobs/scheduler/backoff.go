package scheduler

import "time"

// Backoff is the delay before retry n (1 for the first retry): base doubled
// n-1 times, capped at max, then jittered uniformly into [d/2, d] so that
// jobs failing together do not retry in lockstep. rnd returns a number in
// [0, 1).
func Backoff(base, max time.Duration, n int, rnd func() float64) time.Duration {
	if base <= 0 {
		return 0
	}
	d := base
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	half := d / 2
	return half + time.Duration(rnd()*float64(d-half))
}
