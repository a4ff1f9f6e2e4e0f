package auth

import (
	"container/list"
	"sync"
	"time"
)

// Limiter is a token-bucket rate limiter per key (an IP address, an account) with bounded
// memory: it tracks at most MaxKeys keys and forgets the least recently used one when full.
// A forgotten key starts again with a full bucket, so an attacker spraying keys can at worst
// reset buckets, never grow memory. Safe for concurrent use.
type Limiter struct {
	burst   float64
	perSec  float64
	maxKeys int

	mu    sync.Mutex
	keys  map[string]*list.Element
	lru   *list.List // front: most recently used
	count uint64     // denied calls
}

type bucket struct {
	key    string
	tokens float64
	last   time.Time
}

// NewLimiter allows burst attempts at once per key, refilled at one per every.
func NewLimiter(burst int, every time.Duration, maxKeys int) *Limiter {
	return &Limiter{burst: float64(burst), perSec: float64(time.Second) / float64(every), maxKeys: max(maxKeys, 1),
		keys: map[string]*list.Element{}, lru: list.New()}
}

func (l *Limiter) get(key string, now time.Time) *bucket {
	if e, ok := l.keys[key]; ok {
		l.lru.MoveToFront(e)
		b := e.Value.(*bucket)
		if el := now.Sub(b.last).Seconds(); el > 0 {
			b.tokens = min(l.burst, b.tokens+el*l.perSec)
			b.last = now
		}
		return b
	}
	if l.lru.Len() >= l.maxKeys {
		old := l.lru.Back()
		l.lru.Remove(old)
		delete(l.keys, old.Value.(*bucket).key)
	}
	b := &bucket{key: key, tokens: l.burst, last: now}
	l.keys[key] = l.lru.PushFront(b)
	return b
}

// Allow takes one token for key and reports whether there was one; when not, it also
// returns how long until the next token.
func (l *Limiter) Allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.get(key, now)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	l.count++
	return false, time.Duration((1 - b.tokens) / l.perSec * float64(time.Second))
}

// Peek reports whether key has a token, without taking it.
func (l *Limiter) Peek(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.get(key, now)
	if b.tokens >= 1 {
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.perSec * float64(time.Second))
}

// Take removes one token from key (e.g. after a failed password), allowing it to go to zero.
func (l *Limiter) Take(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.get(key, now)
	b.tokens = max(b.tokens-1, 0)
}

// Len is the number of keys tracked (at most MaxKeys).
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

// LoginLimits combines the two login limits: attempts per client IP (all attempts count)
// and failed attempts per account (only failures count, so a user who types the right
// password is never slowed by their own IP's neighbours beyond the IP limit).
type LoginLimits struct {
	IP      *Limiter
	Account *Limiter
}

// DefaultLoginLimits: 20 attempts per IP then one every 6 s; 5 failures per account then
// one every minute; 100k keys each.
func DefaultLoginLimits() *LoginLimits {
	return &LoginLimits{IP: NewLimiter(20, 6*time.Second, 100_000), Account: NewLimiter(5, time.Minute, 100_000)}
}

// Begin is called before checking a password: it reports whether the attempt may proceed
// and, if not, after how long the client may retry.
func (l *LoginLimits) Begin(ip, account string, now time.Time) (bool, time.Duration) {
	if ok, wait := l.Account.Peek(account, now); !ok {
		return false, wait
	}
	return l.IP.Allow(ip, now)
}

// Failed records a wrong password for account.
func (l *LoginLimits) Failed(account string, now time.Time) { l.Account.Take(account, now) }
