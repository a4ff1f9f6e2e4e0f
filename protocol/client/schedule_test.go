package client

import (
	"testing"
	"time"
)

func TestScheduleDoesNotDrift(t *testing.T) {
	start := time.Unix(1_764_000_000, 0)
	interval, jitter := 10*time.Second, time.Second
	s := NewSchedule(start, interval, jitter, 42)
	now := start
	for k := int64(0); k < 10_000; k++ {
		at := s.Next(now)
		grid := s.Grid(k)
		if d := at.Sub(grid); d < -jitter || d > jitter {
			t.Fatalf("beat %d is %v from its grid point, more than the jitter %v", k, d, jitter)
		}
		// Wake up late every time, as a busy phone would: the grid must not move.
		now = at.Add(300 * time.Millisecond)
	}
	if got, want := s.Grid(10_000).Sub(start), time.Duration(10_000)*interval; got < want || got >= want+interval/2 {
		t.Fatalf("beat 10000 is at start+%v, want start+%v plus a phase below interval/2", got, want)
	}
}

func TestScheduleSkipsMissedBeats(t *testing.T) {
	start := time.Unix(1_764_000_000, 0)
	s := NewSchedule(start, 10*time.Second, 0, 1)
	s.Next(start)
	// The process was suspended for a minute: the next beat is in the future, not a burst.
	now := start.Add(time.Minute)
	if at := s.Next(now); at.Before(now) || at.After(now.Add(10*time.Second)) {
		t.Fatalf("after a 1 minute gap next beat at %v, want within one interval of %v", at, now)
	}
}

func TestSchedulesSpreadAcrossTheInterval(t *testing.T) {
	start := time.Unix(1_764_000_000, 0)
	interval := 10 * time.Second
	// 10,000 clients starting together. First beat = uniform phase in [0, 5s) plus a
	// jitter in [-1s, 1s], so between 1s and 4s the density is flat: 2,000 per second.
	// Six 500 ms bins there must each hold about 1,000 (within ±15%).
	const clients = 10_000
	var count [6]int
	for c := 0; c < clients; c++ {
		at := NewSchedule(start, interval, time.Second, uint64(c)).Next(start).Sub(start)
		if at >= time.Second && at < 4*time.Second {
			count[(at-time.Second)/(500*time.Millisecond)]++
		}
	}
	for i, n := range count {
		if n < 850 || n > 1150 {
			t.Fatalf("bin %d has %d first beats, want about 1000: clients are not spread: %v", i, n, count)
		}
	}
}
