package ingest

// limiter is a bounded table of token buckets keyed by source address. It is owned by one
// loop (no locks). Each key hashes to one entry; a different key arriving at an occupied
// entry takes it over with a full bucket, so memory is fixed whatever a flood does, and the
// worst an attacker spraying addresses achieves is the burst per address it already has.
// Time is in table ticks (10 ms).
type limiter struct {
	entries []limitEntry
	mask    uint64
	rate    float32 // tokens per tick
	burst   float32
}

type limitEntry struct {
	key    uint64
	tokens float32
	last   uint32
}

func newLimiter(size int, perSecond, burst float64) *limiter {
	n := 1
	for n < size {
		n <<= 1
	}
	return &limiter{entries: make([]limitEntry, n), mask: uint64(n - 1), rate: float32(perSecond / 100), burst: float32(burst)}
}

// allow takes one token for key at tick now.
func (l *limiter) allow(key uint64, now uint32) bool {
	x := key * 0x9E3779B97F4A7C15
	e := &l.entries[(x>>32^x)&l.mask]
	if e.key != key || e.last == 0 {
		*e = limitEntry{key: key, tokens: l.burst, last: now | 1}
	} else if d := now - e.last; int32(d) > 0 {
		e.tokens = min(l.burst, e.tokens+float32(d)*l.rate)
		e.last = now | 1
	}
	if e.tokens < 1 {
		return false
	}
	e.tokens--
	return true
}

// bucket is a single token bucket (a loop-wide budget). Time in table ticks.
type bucket struct {
	tokens, rate, burst float32
	last                uint32
}

func newBucket(perSecond, burst float64) bucket {
	return bucket{tokens: float32(burst), rate: float32(perSecond / 100), burst: float32(burst)}
}

func (b *bucket) allow(now uint32) bool {
	if !b.ready(now) {
		return false
	}
	b.tokens--
	return true
}

// ready refills the bucket and reports whether it holds a token, without taking it (for a
// budget checked before another limiter that may still refuse).
func (b *bucket) ready(now uint32) bool {
	if d := now - b.last; int32(d) > 0 {
		b.tokens = min(b.burst, b.tokens+float32(d)*b.rate)
		b.last = now
	}
	return b.tokens >= 1
}
