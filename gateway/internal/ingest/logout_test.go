package ingest

import (
	"testing"
	"time"

	"heartline/protocol/hl1"
)

// logoutHello is a HELLO with FlagLogout from c at now.
func (c *testClient) logoutHello(now time.Time) []byte {
	h := hl1.Hello{Flags: hl1.FlagLogout, ClientTimeMS: uint64(now.UnixMilli()), Nonce: 1, Token: c.tok.Bytes()}
	return hl1.AppendHello(nil, h.Seal(c.key))
}

// TestLogoutHelloEndsASessionReKeyedBehindTheAppsBack: an app's HELLO that it gave up on
// (its WELCOME never arrived) re-found its session here under a new slot; the BYE it then
// sends on the slot it knows finds nothing, and the member would stay online until the
// session expires. A HELLO with FlagLogout ends the session whatever its slot, answers
// nothing, and cannot be replayed; it works while the gateway drains or is cut off.
func TestLogoutHelloEndsASessionReKeyedBehindTheAppsBack(t *testing.T) {
	e := newEnv(t, 1)
	up := new(Upstream)
	e.h = NewHandler(e.tb, 0, e.rec, nil, HandlerOptions{Keys: e.keys, Epoch: 0xE90C, Upstream: up, HelloPerSource: 1000, HelloBurst: 1000})
	c := e.connect(t, 7, 1)
	e.now = e.now.Add(time.Second)
	e.send(c.beat(e.now, true, false))
	publish(e) // reported online: a re-HELLO keeps it so

	// The abandoned HELLO: the gateway re-keys the session; the app keeps its old slot.
	e.now = e.now.Add(time.Second)
	old := *c
	e.send(c.hello(e.now, true))
	*c = old
	e.now = e.now.Add(time.Second)
	e.send(c.beat(e.now, true, true)) // BYE on the old slot
	if e.tb.Online() != 1 {
		t.Fatalf("online %d: the BYE on a re-keyed slot was expected to miss (the case this test is about)", e.tb.Online())
	}

	up.SetCutOff(true) // a logout is no new session: refused neither while cut off nor draining
	e.now = e.now.Add(time.Second)
	n := len(e.rec.frames)
	logout := c.logoutHello(e.now)
	e.send(logout)
	if e.tb.Online() != 0 || len(e.rec.frames) != n || e.h.Stats.Logouts.Load() != 1 {
		t.Fatalf("after the logout HELLO: online %d, %d replies, %d logouts; want 0, 0, 1 (drops %v)",
			e.tb.Online(), len(e.rec.frames)-n, e.h.Stats.Logouts.Load(), e.dropSummary())
	}
	e.send(logout)
	if e.h.Stats.Drops(ReasonHelloReplay) != 1 || e.h.Stats.Logouts.Load() != 1 {
		t.Fatalf("a replayed logout: drops %v, logouts %d", e.dropSummary(), e.h.Stats.Logouts.Load())
	}
	// A logout for a member with no session here changes nothing and says nothing.
	stranger := newTestClient(t, e.keys, 8, 1)
	e.send(stranger.logoutHello(e.now))
	if len(e.rec.frames) != n || e.h.Stats.Logouts.Load() != 1 {
		t.Fatalf("a logout for nobody was answered or counted")
	}
}
