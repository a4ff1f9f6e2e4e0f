package conformance

import (
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"heartline/protocol/hl1"
	"heartline/protocol/token"
)

// idSource hands out (user, device) pairs no earlier run against the same gateway used: a
// random user id per run, a new device per session.
type idSource struct {
	user   atomic.Uint64
	device atomic.Uint32
}

func (ids *idSource) next() (uint64, uint32) {
	ids.user.CompareAndSwap(0, 1<<40+rand.Uint64N(1<<40))
	return ids.user.Load(), ids.device.Add(1)
}

// creds are one session's credentials as an app holds them: a token and its session key,
// and the client_time of its last HELLO (HELLOs of one session must be newer each time).
type creds struct {
	tok       token.Token
	key       hl1.MACKey
	lastHello uint64
}

// newCreds issues a token valid for a day for a fresh (user, device).
func (s *suite) newCreds(t testing.TB) *creds {
	t.Helper()
	user, dev := s.ids.next()
	tok, sk, err := s.Keys.Issue(token.Claims{UserID: user, DeviceID: dev, Expiry: time.Now().Add(24 * time.Hour)})
	if err != nil {
		t.Fatalf("issuing a token with the target's key ring: %v", err)
	}
	return &creds{tok: tok, key: hl1.NewMACKey(sk)}
}

// hello builds a sealed HELLO with flags and a client_time newer than the previous one.
func (c *creds) hello(flags uint8) hl1.Hello {
	now := uint64(time.Now().UnixMilli())
	c.lastHello = max(now, c.lastHello+16)
	return hl1.Hello{Flags: flags, ClientTimeMS: c.lastHello, Nonce: rand.Uint32(), Token: c.tok.Bytes()}.Seal(c.key)
}

// helloFrame is hello's 66 bytes.
func (c *creds) helloFrame(flags uint8) ([]byte, hl1.Hello) {
	h := c.hello(flags)
	return hl1.AppendHello(nil, h), h
}

// session is a welcomed session: its WELCOME and the seq of its last frame.
type session struct {
	*creds
	w   hl1.Welcome
	seq uint64
}

// welcomed checks a frame is a WELCOME for hello and returns the session it starts.
func welcomed(t testing.TB, c *creds, h hl1.Hello, frame []byte) *session {
	t.Helper()
	w, err := hl1.ParseWelcome(frame)
	if err != nil {
		t.Fatalf("want a WELCOME, got %x (%v)", frame, err)
	}
	if !w.Verify(c.key, h.Nonce) {
		t.Fatalf("WELCOME %x does not verify against the HELLO's nonce", frame)
	}
	return &session{creds: c, w: w}
}

// beat builds the session's next HEARTBEAT (or BYE), with ts from the WELCOME's time base.
func (s *session) beat(bye bool) []byte {
	s.seq++
	ts := uint64(max(0, time.Now().UnixMilli()-int64(s.w.ServerTimeMS))) / 10
	b := hl1.Beat{Slot: s.w.Slot, Epoch: s.w.Epoch, Seq: s.seq, TS: ts, Active: true, Bye: bye}
	return hl1.AppendHeartbeat(nil, b.Seal(s.key))
}

// forged is a heartbeat on the session's slot whose tag does not verify (bad_mac on a
// live slot: REHELLO 1).
func (s *session) forged() []byte {
	f := s.beat(false)
	s.seq-- // not accepted: the next real beat reuses the seq
	f[len(f)-1] ^= 0x5a
	return f
}
