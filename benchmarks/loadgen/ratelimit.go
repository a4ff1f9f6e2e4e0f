package main

// bucket is a token bucket driven by the caller's clock (milliseconds), so tests need no
// sleeping: rate tokens per second, at most burst banked.
type bucket struct {
	rate   float64 // tokens per ms
	burst  float64
	tokens float64
	lastMS uint32
	unlim  bool
}

func newBucket(perSecond, burst float64) bucket {
	if perSecond <= 0 {
		return bucket{}
	}
	if burst < 1 {
		burst = 1
	}
	return bucket{rate: perSecond / 1000, burst: burst, tokens: burst}
}

// unlimited returns a bucket that always allows.
func unlimited() bucket { return bucket{unlim: true} }

// take returns how many of want tokens are available at nowMS, and spends them.
func (b *bucket) take(nowMS uint32, want int) int {
	if b.unlim {
		return want
	}
	if b.rate == 0 {
		return 0
	}
	if nowMS > b.lastMS {
		b.tokens += float64(nowMS-b.lastMS) * b.rate
		if b.tokens > b.burst {
			b.tokens = b.burst
		}
		b.lastMS = nowMS
	}
	n := int(b.tokens)
	if n > want {
		n = want
	}
	b.tokens -= float64(n)
	return n
}
