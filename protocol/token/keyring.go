package token

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// MinSecretLen is the minimum cluster secret length in bytes.
const MinSecretLen = 32

// Domain-separation labels: the token MAC and the session key are both HMAC-SHA256 of the
// token body under the same secret, so each gets its own prefix.
const (
	tokenLabel      = "heartline/hl1/token\x00"
	sessionKeyLabel = "heartline/hl1/session-key\x00"
)

// Claims are what the site decides when it issues a token.
type Claims struct {
	UserID   uint64
	DeviceID uint32
	Expiry   time.Time // stored with one-second resolution; must lie in 1970..2106
}

// KeyRing maps key ids to cluster secrets and names the current id used for issuing.
// It is safe for concurrent use: readers (Verify, Open, Issue) load an immutable snapshot
// atomically and never block; writers (Add, SetCurrent, Remove, Replace) copy on write.
//
// Rotation: Add(newID, secret) on every gateway and site, then SetCurrent(newID) on the
// sites, then Remove(oldID) once the longest-lived token issued under oldID has expired.
// In file terms: add a line, move the `current` mark, later delete the old line, reloading
// each time (see LoadKeyRing).
type KeyRing struct {
	mu    sync.Mutex // serialises writers only
	state atomic.Pointer[ringState]
}

type ringState struct {
	current    uint16
	hasCurrent bool
	keys       map[uint16]*ringKey // never mutated after publication
}

type ringKey struct {
	id   uint16
	macs macPool
}

// macPool holds ready HMAC states for one secret. HMAC states are not safe for concurrent
// use and cost allocations to build, so each key keeps a fixed set, built once: with
// crypto/hmac's saved inner/outer pad states a reused state costs no extra SHA-256 block,
// and Verify allocates nothing. A fixed striped set rather than sync.Pool because the race
// detector makes sync.Pool drop items at random, which would make the allocation tests
// (run under -race in CI) fail for no real reason.
type macPool struct {
	next  atomic.Uint32
	slots []macSlot
}

type macSlot struct {
	mu sync.Mutex
	macState
	_ [64]byte // keep neighbouring slots off the same cache line
}

type macState struct {
	h   hash.Hash
	in  [64]byte          // label || token body (at most 26+27 bytes)
	sum [sha256.Size]byte // scratch for Sum
}

func newRingKey(id uint16, secret []byte) *ringKey {
	k := &ringKey{id: id}
	n := max(4, 2*runtime.GOMAXPROCS(0))
	k.macs.slots = make([]macSlot, n)
	for i := range k.macs.slots {
		h := hmac.New(sha256.New, secret) // copies what it needs from secret
		h.Reset()                         // lets crypto/hmac save the padded key states
		k.macs.slots[i].h = h
	}
	return k
}

// get returns a locked slot: the first free one from a rotating start, or waits for one.
func (p *macPool) get() *macSlot {
	n := uint32(len(p.slots))
	start := p.next.Add(1)
	for i := uint32(0); i < n; i++ {
		if sl := &p.slots[(start+i)%n]; sl.mu.TryLock() {
			return sl
		}
	}
	sl := &p.slots[start%n]
	sl.mu.Lock()
	return sl
}

// mac computes HMAC-SHA256(secret, label || body)[:len(out)] into out.
func (s *macState) mac(label string, body []byte, out []byte) {
	s.h.Reset()
	n := copy(s.in[:], label)
	n += copy(s.in[n:], body)
	s.h.Write(s.in[:n])
	copy(out, s.h.Sum(s.sum[:0]))
}

// NewKeyRing returns an empty key ring. Add keys and SetCurrent before issuing.
func NewKeyRing() *KeyRing {
	r := &KeyRing{}
	r.state.Store(&ringState{keys: map[uint16]*ringKey{}})
	return r
}

func (r *KeyRing) load() *ringState {
	if s := r.state.Load(); s != nil {
		return s
	}
	return &ringState{} // zero KeyRing: no keys
}

// update applies f to a copy of the current state and publishes it.
func (r *KeyRing) update(f func(s *ringState) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.load()
	next := &ringState{current: old.current, hasCurrent: old.hasCurrent, keys: make(map[uint16]*ringKey, len(old.keys)+1)}
	for id, k := range old.keys {
		next.keys[id] = k
	}
	if err := f(next); err != nil {
		return err
	}
	r.state.Store(next)
	return nil
}

// Add adds secret under key id. The secret must be at least MinSecretLen bytes; it is
// copied. Adding an id that already exists is an error (a silent secret change would
// invalidate every token under that id): Remove it first if that is really intended.
func (r *KeyRing) Add(id uint16, secret []byte) error {
	if len(secret) < MinSecretLen {
		return fmt.Errorf("key id %d: %w", id, ErrWeakSecret)
	}
	return r.update(func(s *ringState) error {
		if _, ok := s.keys[id]; ok {
			return fmt.Errorf("token: key id %d is already in the key ring: use a new id for a new secret", id)
		}
		s.keys[id] = newRingKey(id, secret)
		return nil
	})
}

// SetCurrent makes id the key that Issue signs with. The id must already be present.
func (r *KeyRing) SetCurrent(id uint16) error {
	return r.update(func(s *ringState) error {
		if _, ok := s.keys[id]; !ok {
			return fmt.Errorf("token: cannot make key id %d current: it is not in the key ring (Add it first)", id)
		}
		s.current, s.hasCurrent = id, true
		return nil
	})
}

// Remove drops key id; tokens issued under it stop verifying (ErrUnknownKey). The current
// key cannot be removed: make another key current first.
func (r *KeyRing) Remove(id uint16) error {
	return r.update(func(s *ringState) error {
		if _, ok := s.keys[id]; !ok {
			return fmt.Errorf("token: cannot remove key id %d: not in the key ring", id)
		}
		if s.hasCurrent && s.current == id {
			return fmt.Errorf("token: cannot remove key id %d: it is the current key; SetCurrent to another id first", id)
		}
		delete(s.keys, id)
		return nil
	})
}

// Replace atomically adopts the keys and current id of from (e.g. a freshly loaded key
// file on SIGHUP). Verifications in flight finish against the old set.
func (r *KeyRing) Replace(from *KeyRing) {
	s := from.load()
	r.mu.Lock()
	r.state.Store(s) // states are immutable, so sharing is safe
	r.mu.Unlock()
}

// Current returns the id Issue signs with, and whether one is set.
func (r *KeyRing) Current() (uint16, bool) {
	s := r.load()
	return s.current, s.hasCurrent
}

// IDs returns the key ids in the ring, ascending.
func (r *KeyRing) IDs() []uint16 {
	s := r.load()
	ids := make([]uint16, 0, len(s.keys))
	for id := range s.keys {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Sign returns t with its MAC computed under the secret of t.KeyID. Issue is the normal
// entry point; Sign exists for deterministic tokens (test vectors, tools).
func (r *KeyRing) Sign(t Token) (Token, error) {
	k, ok := r.load().keys[t.KeyID]
	if !ok {
		return Token{}, ErrUnknownKey
	}
	var body [BodySize]byte
	appendBody(body[:0], t)
	s := k.macs.get()
	s.mac(tokenLabel, body[:], t.MAC[:])
	s.mu.Unlock()
	return t, nil
}

// Issue creates a token for c under the current key with a random nonce, and returns it
// with its session key. The site hands both to the app (over HTTPS only).
func (r *KeyRing) Issue(c Claims) (Token, SessionKey, error) {
	id, ok := r.Current()
	if !ok {
		return Token{}, SessionKey{}, ErrNoCurrentKey
	}
	exp := c.Expiry.Unix()
	if exp <= 0 || exp > int64(^uint32(0)) {
		return Token{}, SessionKey{}, fmt.Errorf("token: expiry %v is outside 1970..2106: pass a time a few hours or days ahead", c.Expiry)
	}
	var nonce [8]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return Token{}, SessionKey{}, fmt.Errorf("token: reading random nonce: %w", err)
	}
	t, err := r.Sign(Token{KeyID: id, UserID: c.UserID, DeviceID: c.DeviceID, Expiry: uint32(exp), Nonce: binary.BigEndian.Uint64(nonce[:])})
	if err != nil {
		return Token{}, SessionKey{}, err
	}
	sk, err := r.DeriveSessionKey(t)
	return t, sk, err
}

// DeriveSessionKey returns the session key of t without checking t's MAC or expiry (the
// site uses it when issuing; gateways use Open, which checks first).
func (r *KeyRing) DeriveSessionKey(t Token) (SessionKey, error) {
	k, ok := r.load().keys[t.KeyID]
	if !ok {
		return SessionKey{}, ErrUnknownKey
	}
	var body [BodySize]byte
	appendBody(body[:0], t)
	var sk SessionKey
	s := k.macs.get()
	s.mac(sessionKeyLabel, body[:], sk[:])
	s.mu.Unlock()
	return sk, nil
}

// Verify authenticates the binary token b at time now. Checks, in this order: length,
// version, key id known, MAC (constant-time), expiry (valid while now < Expiry). Errors are
// the sentinels ErrMalformed, ErrUnknownKey, ErrBadMAC, ErrExpired. Allocation-free.
func (r *KeyRing) Verify(b []byte, now time.Time) (Token, error) {
	t, _, err := r.open(b, now, false)
	return t, err
}

// Open is Verify followed by the derivation of the session key: what a gateway does with
// the token of every HELLO. Allocation-free.
func (r *KeyRing) Open(b []byte, now time.Time) (Token, SessionKey, error) {
	return r.open(b, now, true)
}

func (r *KeyRing) open(b []byte, now time.Time, derive bool) (Token, SessionKey, error) {
	t, err := Parse(b) // length, version
	if err != nil {
		return Token{}, SessionKey{}, err
	}
	k, ok := r.load().keys[t.KeyID]
	if !ok {
		return Token{}, SessionKey{}, ErrUnknownKey
	}
	var want [MACSize]byte
	var sk SessionKey
	s := k.macs.get()
	s.mac(tokenLabel, b[:BodySize], want[:])
	good := hmac.Equal(want[:], t.MAC[:])
	if good && derive {
		s.mac(sessionKeyLabel, b[:BodySize], sk[:])
	}
	s.mu.Unlock()
	if !good {
		return Token{}, SessionKey{}, ErrBadMAC
	}
	if now.Unix() >= int64(t.Expiry) {
		return Token{}, SessionKey{}, ErrExpired
	}
	return t, sk, nil
}

// IsAuthError reports whether err means "this token is not acceptable" (as opposed to a
// programming or I/O error): the cases a gateway counts and drops.
func IsAuthError(err error) bool {
	return errors.Is(err, ErrMalformed) || errors.Is(err, ErrUnknownKey) || errors.Is(err, ErrBadMAC) || errors.Is(err, ErrExpired)
}

// DeriveKey returns HMAC-SHA256(secret[id], label) — a 32-byte key for another use of the
// cluster secret (e.g. presence grants, protocol/privacy), domain-separated by label
// (ASCII, ending in a zero byte, at most 64 bytes).
func (r *KeyRing) DeriveKey(id uint16, label string) ([32]byte, bool) {
	var out [32]byte
	k, ok := r.load().keys[id]
	if !ok || len(label) > 64 {
		return out, false
	}
	s := k.macs.get()
	s.mac(label, nil, out[:])
	s.mu.Unlock()
	return out, true
}
