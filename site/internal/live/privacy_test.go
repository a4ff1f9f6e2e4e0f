package live

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"heartline/agent/privacywatch"
	"heartline/agent/watcher"
	"heartline/protocol/privacy"
)

// viewers identifies ?as=<viewer> with the given bases for every id it asks for.
func viewers(bases map[uint64]privacy.Basis) Identify {
	return func(r *http.Request, ids []uint64) (Viewer, error) {
		var v Viewer
		switch r.URL.Query().Get("as") {
		case "":
			return Viewer{Addr: "192.0.2.1"}, nil
		case "blocked":
			v.ID = 20
		case "member":
			v.ID = 21
		case "match":
			v.ID = 22
		case "self":
			v.ID = 7
		}
		v.Basis = map[uint64]privacy.Basis{}
		for _, u := range ids {
			v.Basis[u] = bases[v.ID]
		}
		v.IssuedMS = 1
		v.Addr = r.URL.Query().Get("addr")
		return v, nil
	}
}

// noFrame asserts that s gets no frame for ms milliseconds (pings aside).
func (s *stream) noFrame(within time.Duration) {
	s.t.Helper()
	select {
	case f := <-s.frames:
		s.t.Fatalf("unexpected frame %+v", f)
	case <-time.After(within):
	}
}

// TestPrivacyOnTheStream: member 7 is watched by itself, a member it blocked, a member (not
// a match) and a match. Others get the coarse view only; the blocked viewer gets the member
// hidden in the snapshot and no event ever; going match-only hides the member from the
// non-match at once (one offline frame) without telling the blocked viewer anything;
// going invisible hides it from the match; coming back shows it again.
func TestPrivacyOnTheStream(t *testing.T) {
	src := newFake()
	src.set(7, true, 1000, 10)
	view := privacywatch.NewStatic()
	hub := NewHub(Options{Source: src, Privacy: view, Ping: time.Hour,
		Identify: viewers(map[uint64]privacy.Basis{20: privacy.BasisNone, 21: privacy.BasisMember, 22: privacy.BasisMatch, 7: privacy.BasisNone})})
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close)
	self := open(t, srv.URL+"?ids=7&as=self", "")
	blocked := open(t, srv.URL+"?ids=7&as=blocked", "")
	member := open(t, srv.URL+"?ids=7&as=member", "")
	match := open(t, srv.URL+"?ids=7&as=match", "")

	if f := self.next(); !strings.Contains(f.data, `"online":true,"status":2,"devices":1,"since_ms":1000`) {
		t.Fatalf("self snapshot lacks detail: %s", f.data)
	}
	if f := blocked.next(); !strings.Contains(f.data, `"members":[{"id":7,"online":false}]`) {
		t.Fatalf("blocked snapshot: %s", f.data)
	}
	for _, s := range []*stream{member, match} {
		if f := s.next(); !strings.Contains(f.data, `"members":[{"id":7,"online":true}]`) {
			t.Fatalf("coarse snapshot: %s", f.data)
		}
	}
	// An event: the blocked viewer gets nothing, others the coarse view.
	hub.Publish(src.set(7, false, time.Now().UnixMilli(), 11))
	if f := self.next(); !strings.Contains(f.data, `"last_seen_ms":`) {
		t.Fatalf("self event: %s", f.data)
	}
	for _, s := range []*stream{member, match} {
		f := s.next()
		if !strings.Contains(f.data, `"id":7,"online":false,"recent":"today"`) || strings.Contains(f.data, "last_seen") || strings.Contains(f.data, "devices") {
			t.Fatalf("coarse event: %s", f.data)
		}
	}
	blocked.noFrame(100 * time.Millisecond)
	hub.Publish(src.set(7, true, 2000, 12))
	for _, s := range []*stream{self, member, match} {
		s.next()
	}
	// A status change (foreground/background) while online: only the member itself hears.
	ev := src.set(7, true, 2000, 13)
	ev.Type, ev.Status = watcher.EventStatus, watcher.StatusAway
	hub.Publish(ev)
	if f := self.next(); !strings.Contains(f.data, `"status":1`) {
		t.Fatalf("self status change: %s", f.data)
	}
	member.noFrame(50 * time.Millisecond)
	match.noFrame(10 * time.Millisecond)
	hub.Publish(src.set(7, true, 2000, 14))
	for _, s := range []*stream{self, member, match} {
		s.next()
	}

	// Match-only: the non-match gets one hidden frame, the blocked viewer nothing.
	var r privacy.Record
	r.SetMode(7, privacy.ModeMatches)
	view.Apply(privacy.RecordBucket(7), &r, 20)
	hub.PrivacyChanged([]uint64{7})
	if f := member.next(); !strings.Contains(f.data, `"id":7,"online":false,"server_ms"`) {
		t.Fatalf("non-match after match-only: %s", f.data)
	}
	hub.Publish(src.set(7, false, 3000, 13))
	match.next()
	self.next()
	hub.Publish(src.set(7, true, 4000, 14))
	match.next()
	self.next()
	member.noFrame(100 * time.Millisecond)
	blocked.noFrame(10 * time.Millisecond)

	// Invisible: the match gets the member offline; back to everyone: online again.
	r.SetMode(7, privacy.ModeNobody)
	view.Apply(privacy.RecordBucket(7), &r, 21)
	hub.PrivacyChanged([]uint64{7})
	if f := match.next(); !strings.Contains(f.data, `"id":7,"online":false,"server_ms"`) {
		t.Fatalf("match after invisible: %s", f.data)
	}
	hub.Publish(src.set(7, true, 5000, 15)) // heartbeats go on: only the member sees them
	if f := self.next(); !strings.Contains(f.data, `"online":true`) {
		t.Fatalf("self while invisible: %s", f.data)
	}
	r.SetMode(7, privacy.ModeMembers)
	view.Apply(privacy.RecordBucket(7), &r, 22)
	hub.PrivacyChanged([]uint64{7})
	for _, s := range []*stream{member, match} {
		if f := s.next(); !strings.Contains(f.data, `"id":7,"online":true`) {
			t.Fatalf("after visible again: %s", f.data)
		}
	}
	blocked.noFrame(100 * time.Millisecond)

	// A block revocation hides the member from a viewer whose stream opened before it.
	r.Revoke(7, 22, time.Now().UnixMilli(), privacy.RevokeBlock)
	view.Apply(privacy.RecordBucket(7), &r, 23)
	hub.PrivacyChanged([]uint64{7})
	if f := match.next(); !strings.Contains(f.data, `"id":7,"online":false,"server_ms"`) {
		t.Fatalf("after block: %s", f.data)
	}
	hub.Publish(src.set(7, false, 6000, 16))
	member.next()
	match.noFrame(100 * time.Millisecond)
}

func TestAnonymousGetsCountOnlyAndCapsApply(t *testing.T) {
	hub := NewHub(Options{Source: newFake(), Privacy: privacywatch.NewStatic(), MaxPerAddr: 2, MaxPerMember: 1,
		Identify: viewers(map[uint64]privacy.Basis{21: privacy.BasisMember})})
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close)
	get := func(q string) int {
		resp, err := http.Get(srv.URL + q)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			resp.Body.Close()
		} else {
			t.Cleanup(func() { resp.Body.Close() })
		}
		return resp.StatusCode
	}
	if c := get("?ids=7"); c != http.StatusForbidden {
		t.Fatalf("anonymous with ids: %d, want 403", c)
	}
	if c := get(""); c != 200 {
		t.Fatalf("anonymous count stream: %d", c)
	}
	if c := get("?ids=7&as=member&addr=198.51.100.1"); c != 200 {
		t.Fatalf("member: %d", c)
	}
	if c := get("?ids=7&as=member&addr=198.51.100.2"); c != http.StatusTooManyRequests {
		t.Fatalf("second stream of one member: %d, want 429", c)
	}
	if c := get("?ids=7&as=match&addr=198.51.100.1"); c != 200 {
		t.Fatalf("second stream from the address: %d", c)
	}
	if c := get("?ids=7&as=self&addr=198.51.100.1"); c != http.StatusTooManyRequests {
		t.Fatalf("third stream from the address: %d, want 429", c)
	}
	deadline := time.Now().Add(5 * time.Second)
	for hub.Stats().Clients != 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := hub.Stats().Clients; n != 3 {
		t.Fatalf("clients %d, want 3", n)
	}
}
