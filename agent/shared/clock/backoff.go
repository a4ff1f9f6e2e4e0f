package clock

import (
	"math/rand/v2"
	"time"
)

// Backoff is exponential backoff with full jitter: the n-th consecutive failure waits a
// random duration in [0, min(Max, Min·2^n)). Reset after a success.
type Backoff struct {
	Min, Max time.Duration
	n        int
}

// Next returns the wait before the next attempt and counts a failure.
func (b *Backoff) Next() time.Duration {
	ceil := b.Min << min(b.n, 20)
	if ceil > b.Max || ceil <= 0 {
		ceil = b.Max
	}
	b.n++
	return time.Duration(rand.Int64N(int64(ceil))) + 1
}

// Reset forgets past failures.
func (b *Backoff) Reset() { b.n = 0 }
