package livesync

import (
	"bytes"
	"testing"
	"time"

	"heartline/agent/privacywatch"
	"heartline/agent/shared/clock"
	"heartline/protocol/hl1"
	"heartline/protocol/privacy"
	"heartline/protocol/token"
)

func grantRing(t testing.TB) *token.KeyRing {
	t.Helper()
	r, err := token.ParseKeyRing(bytes.NewReader([]byte("1 " + string(bytes.Repeat([]byte("5a"), 32)) + " current\n")))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func grantFrame(t testing.TB, ring *token.KeyRing, viewer uint64, issued, expires time.Time, subjects []uint64, basis []privacy.Basis) []byte {
	t.Helper()
	sealed, err := privacy.Seal(nil, ring, &privacy.Grant{Viewer: viewer, IssuedMS: issued.UnixMilli(), ExpiresMS: expires.UnixMilli(), Subjects: subjects, Basis: basis})
	if err != nil {
		t.Fatal(err)
	}
	return hl1.AppendGrant(nil, sealed)
}

// TestGatewayPrivacy: member 7 (online, 2 devices) is subscribed to by itself, by 20 (granted
// as a member), by 21 (a grant that says 7 blocks it) and by 22 (no grant). Others see the
// coarse view; 21 and 22 get 7 as offline with no last seen and nothing when it changes;
// a privacy change reaches exactly the watchers whose permission changed; grants for
// another member, forged or expired ones close the connection (CLOSE 7).
func TestGatewayPrivacy(t *testing.T) {
	ring := grantRing(t)
	view := privacywatch.NewStatic()
	src := &fakeSource{ready: true, version: 100, state: map[uint64]hl1.Event{
		7: {UserID: 7, State: hl1.StateAway, Devices: 2, LastSeenMS: uint64(t0.Add(-time.Minute).UnixMilli())},
	}}
	clk := clock.NewFake(t0)
	h := NewHub(Options{Source: src, Privacy: view, Keys: ring, SendWindow: 1 << 20, Clock: clk})
	h.SetReady()
	self := &fakeConn{id: 1, user: 7, keep: true}
	member := &fakeConn{id: 2, user: 20, keep: true}
	blocked := &fakeConn{id: 3, user: 21, keep: true}
	stranger := &fakeConn{id: 4, user: 22, keep: true}
	exp := t0.Add(10 * time.Minute)
	if r := h.Grant(member, grantFrame(t, ring, 20, t0, exp, []uint64{7}, []privacy.Basis{privacy.BasisMember})); r != 0 {
		t.Fatalf("grant: close %d", r)
	}
	if r := h.Grant(blocked, grantFrame(t, ring, 21, t0, exp, []uint64{7}, []privacy.Basis{privacy.BasisNone})); r != 0 {
		t.Fatalf("grant: close %d", r)
	}
	for _, c := range []*fakeConn{self, member, blocked, stranger} {
		if r := h.Subscribe(c, subscribeFrame(t, false, 7)); r != 0 {
			t.Fatalf("subscribe: close %d", r)
		}
	}
	one := func(c *fakeConn) hl1.Event {
		t.Helper()
		evs := c.events(t)
		if len(evs) != 1 {
			t.Fatalf("conn of %d: %d entries %+v, want 1", c.user, len(evs), evs)
		}
		return evs[0]
	}
	none := func(cs ...*fakeConn) {
		t.Helper()
		for _, c := range cs {
			if evs := c.events(t); len(evs) != 0 {
				t.Fatalf("conn of %d learned %+v", c.user, evs)
			}
		}
	}
	if e := one(self); e.Devices != 2 || e.State != hl1.StateAway {
		t.Fatalf("self: %+v", e)
	}
	if e := one(member); e.State != hl1.StateActive || e.Devices != 1 || e.LastSeenMS != 0 {
		t.Fatalf("member (coarse): %+v", e)
	}
	for _, c := range []*fakeConn{blocked, stranger} {
		if e := one(c); e.State != hl1.StateOffline || e.LastSeenMS != 0 || e.Devices != 0 {
			t.Fatalf("conn of %d: %+v, want offline with no last seen", c.user, e)
		}
	}
	// Away -> active (the app came to the foreground): only 7 itself hears of it.
	h.Publish([]hl1.Event{{UserID: 7, State: hl1.StateActive, Devices: 2, Version: 100}})
	if e := one(self); e.State != hl1.StateActive {
		t.Fatalf("self status change: %+v", e)
	}
	none(member, blocked, stranger)
	// A change: 7 goes offline. The coarse last seen is the day's midnight.
	h.Publish([]hl1.Event{{UserID: 7, LastSeenMS: uint64(t0.UnixMilli()), Version: 101}})
	if e := one(member); e.State != hl1.StateOffline || e.LastSeenMS != privacy.CoarseLastSeenMS(t0.UnixMilli(), t0) || e.LastSeenMS == uint64(t0.UnixMilli()) {
		t.Fatalf("member after offline: %+v", e)
	}
	one(self)
	none(blocked, stranger)
	h.Publish([]hl1.Event{{UserID: 7, State: hl1.StateActive, Devices: 1, LastSeenMS: uint64(t0.UnixMilli()), Version: 102}})
	one(member)
	one(self)
	none(blocked, stranger)

	// Invisible: the member gets 7 offline at once (version >= the change's index); the
	// blocked and the stranger learn nothing; heartbeats go on for 7 itself.
	var rec privacy.Record
	rec.SetMode(7, privacy.ModeNobody)
	view.Apply(privacy.RecordBucket(7), &rec, 200)
	h.PrivacyChanged([]uint64{7}, 200)
	if e := one(member); e.State != hl1.StateOffline || e.LastSeenMS != 0 || e.Version < 200 {
		t.Fatalf("member after invisible: %+v", e)
	}
	none(self, blocked, stranger)
	h.Publish([]hl1.Event{{UserID: 7, State: hl1.StateAway, Devices: 1, Version: 203}})
	one(self)
	none(member, blocked, stranger)
	rec.SetMode(7, privacy.ModeMembers)
	view.Apply(privacy.RecordBucket(7), &rec, 204)
	h.PrivacyChanged([]uint64{7}, 204)
	if e := one(member); e.State != hl1.StateActive || e.Version < 204 {
		t.Fatalf("member after visible again: %+v", e)
	}
	none(self, blocked, stranger)

	// 7 blocks 20 after 20's grant was issued: 20 loses 7 at once and for good.
	rec.Revoke(7, 20, t0.Add(time.Second).UnixMilli(), privacy.RevokeBlock)
	view.Apply(privacy.RecordBucket(7), &rec, 205)
	h.PrivacyChanged([]uint64{7}, 205)
	if e := one(member); e.State != hl1.StateOffline || e.LastSeenMS != 0 {
		t.Fatalf("member after block: %+v", e)
	}
	h.Publish([]hl1.Event{{UserID: 7, State: hl1.StateActive, Devices: 1, Version: 206}})
	none(member, blocked, stranger)

	// Grants: another member's, forged, expired.
	if r := h.Grant(stranger, grantFrame(t, ring, 20, t0, exp, []uint64{7}, []privacy.Basis{privacy.BasisMatch})); r != hl1.CloseGrantRefused {
		t.Fatalf("another member's grant: %d", r)
	}
	forged := grantFrame(t, ring, 22, t0, exp, []uint64{7}, []privacy.Basis{privacy.BasisMatch})
	forged[len(forged)-1] ^= 1
	if r := h.Grant(stranger, forged); r != hl1.CloseGrantRefused {
		t.Fatalf("forged grant: %d", r)
	}
	if r := h.Grant(stranger, grantFrame(t, ring, 22, t0.Add(-time.Hour), t0.Add(-time.Minute), []uint64{7}, []privacy.Basis{privacy.BasisMatch})); r != hl1.CloseGrantRefused {
		t.Fatalf("expired grant: %d", r)
	}
	if h.Stats.GrantRefused.Load() != 3 {
		t.Fatalf("refused grants counted %d", h.Stats.GrantRefused.Load())
	}
	// A fresh grant for the stranger shows 7 at once; when it expires, the next change hides 7.
	if r := h.Grant(stranger, grantFrame(t, ring, 22, t0.Add(2*time.Second), t0.Add(time.Minute), []uint64{7}, []privacy.Basis{privacy.BasisMember})); r != 0 {
		t.Fatalf("fresh grant: %d", r)
	}
	if e := one(stranger); e.State != hl1.StateActive {
		t.Fatalf("stranger after its grant: %+v", e)
	}
	clk.Advance(2 * time.Minute)
	h.Publish([]hl1.Event{{UserID: 7, State: hl1.StateOffline, LastSeenMS: uint64(t0.UnixMilli()), Version: 207}})
	if e := one(stranger); e.State != hl1.StateOffline || e.LastSeenMS != 0 {
		t.Fatalf("stranger after its grant expired: %+v", e)
	}
}
