package client

import (
	"math/rand/v2"
	"time"
)

// Schedule decides when heartbeats are sent. Beats are placed on an absolute grid
// (start + phase + k·interval) and each is moved by its own bounded jitter, so:
//
//   - timing errors never accumulate (a late wake-up does not delay every later beat), and
//   - a million clients started in the same second spread over the whole interval
//     (the random phase) and do not re-synchronise (the per-beat jitter).
//
// The seed's section 4.2 asks for exactly this; a time.Ticker gives neither.
type Schedule struct {
	start    time.Time
	interval time.Duration
	phase    time.Duration
	jitter   time.Duration
	rng      *rand.Rand
	k        int64
}

// NewSchedule returns a schedule starting at start. jitter is the largest shift of one
// beat either way (clamped to interval/4, so beats keep their order). The first beat comes
// after a random phase in [0, interval/2) — soon enough that a fresh session is confirmed
// quickly, late enough that simultaneous logins spread out.
func NewSchedule(start time.Time, interval, jitter time.Duration, seed uint64) *Schedule {
	if jitter > interval/4 {
		jitter = interval / 4
	}
	if jitter < 0 {
		jitter = 0
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var phase time.Duration
	if interval > 1 {
		phase = time.Duration(rng.Int64N(int64(interval / 2)))
	}
	return &Schedule{start: start, interval: interval, phase: phase, jitter: jitter, rng: rng}
}

// Next returns the time of the next beat after now, skipping grid points that are already
// in the past (a client that slept through beats sends one, not a burst).
func (s *Schedule) Next(now time.Time) time.Time {
	for {
		grid := s.start.Add(s.phase + time.Duration(s.k)*s.interval)
		s.k++
		var shift time.Duration
		if s.jitter > 0 {
			shift = time.Duration(s.rng.Int64N(int64(2*s.jitter)+1)) - s.jitter
		}
		at := grid.Add(shift)
		if !at.Before(now) {
			return at
		}
	}
}

// Grid returns the unjittered time of beat k, for tests and diagnostics.
func (s *Schedule) Grid(k int64) time.Time {
	return s.start.Add(s.phase + time.Duration(k)*s.interval)
}
