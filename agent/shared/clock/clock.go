// Package clock is Heartline's one source of time for timing logic: the real clock in
// production and a fake one that tests advance by hand, so expiry, debounce, feed flushing,
// flush windows, backoff and session renewal are tested without sleeping; and Backoff, the
// one exponential backoff with full jitter every retry loop uses (the gateway, the agent and
// the watcher library).
//
// It lives in agent/shared (see agent/shared/doc.go for why there). It owns nothing else and
// must not grow policy: just "what time is it", "wake me after d" and "how long to back off".
package clock

import (
	"sort"
	"sync"
	"time"
)

// Clock is the time the agent's timing logic runs on.
type Clock interface {
	Now() time.Time
	// After behaves like time.After.
	After(d time.Duration) <-chan time.Time
}

// Real is the wall clock.
type Real struct{}

func (Real) Now() time.Time                         { return time.Now() }
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Fake is a clock that moves only when Advance is called.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

// NewFake returns a fake clock set to start.
func NewFake(start time.Time) *Fake { return &Fake{now: start} }

func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *Fake) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- f.now
		return ch
	}
	f.waiters = append(f.waiters, waiter{at: f.now.Add(d), ch: ch})
	return ch
}

// Waiters reports how many After channels are pending; tests use it to know that a
// goroutine has reached its wait before advancing.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// Advance moves the clock forward, fires every After whose deadline has passed and returns
// how many fired. A test asserts "nothing happens before T" by advancing to just before T
// and checking that nothing fired: a goroutine that waits only on the clock cannot have
// moved, so no sleep is needed to give it a chance.
func (f *Fake) Advance(d time.Duration) int {
	f.mu.Lock()
	f.now = f.now.Add(d)
	sort.Slice(f.waiters, func(i, j int) bool { return f.waiters[i].at.Before(f.waiters[j].at) })
	keep := f.waiters[:0]
	var fire []waiter
	for _, w := range f.waiters {
		if !w.at.After(f.now) {
			fire = append(fire, w)
		} else {
			keep = append(keep, w)
		}
	}
	f.waiters = keep
	now := f.now
	f.mu.Unlock()
	for _, w := range fire {
		w.ch <- now
	}
	return len(fire)
}
