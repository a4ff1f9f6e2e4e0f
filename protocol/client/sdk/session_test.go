package main

import (
	"errors"
	"testing"
	"time"

	"heartline/protocol/hl1"
	"heartline/scripts/proctest"
)

func waitState(t *testing.T, s *session, want int32) {
	t.Helper()
	proctest.WaitFor(t, 10*time.Second, "handle state "+stateName(want), func() bool { return s.currentState() == want })
}

func stateName(st int32) string {
	return [...]string{"idle", "connecting", "online", "paused", "logged out"}[st]
}

// stateEvents drains s's queue and returns the state events in order.
func stateEvents(s *session) []int32 {
	var out []int32
	for e, ok := s.events.pop(); ok; e, ok = s.events.pop() {
		if e.kind == kindState {
			out = append(out, e.state)
		}
	}
	return out
}

func wantCode(t *testing.T, what string, err error, code int32) {
	t.Helper()
	if got := codeOf(err); got != code {
		t.Fatalf("%s: code %d (%v), want %d", what, got, err, code)
	}
}

func TestSessionStartBackgroundByeForegroundLogout(t *testing.T) {
	g := newFakeGateway(t, 50*time.Millisecond)
	s := newTestSession(t, g, 100001, tuning{})
	wantCode(t, "stop before start", s.stop(), codeState)
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "second start", s.start(), codeState)
	waitState(t, s, stateOnline)
	if got := stateEvents(s); len(got) != 2 || got[0] != stateConnecting || got[1] != stateOnline {
		t.Fatalf("state events %v, want [connecting online]", got)
	}
	if st := s.status(); st.slot == 0 || st.intervalMS != 50 || st.gateway != g.addr() || !st.active {
		t.Fatalf("status online: %+v", st)
	}

	// Background with linger 0: BYE at once, then quiet.
	if err := s.setBackgroundPolicy(policyByeAfter, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.setActive(false); err != nil {
		t.Fatal(err)
	}
	if st := s.currentState(); st != statePaused {
		t.Fatalf("state after going to the background with linger 0: %s, want paused", stateName(st))
	}
	proctest.WaitFor(t, 5*time.Second, "the gateway to receive the background BYE", func() bool { return g.count(hl1.TypeBye) == 1 })

	// Foreground: HELLO again.
	if err := s.setActive(true); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, stateOnline)
	if n := g.count(hl1.TypeHello); n != 2 {
		t.Fatalf("%d HELLOs, want 2 (start, foreground after the pause)", n)
	}
	if got := stateEvents(s); len(got) != 3 || got[0] != statePaused || got[1] != stateConnecting || got[2] != stateOnline {
		t.Fatalf("state events %v, want [paused connecting online]", got)
	}

	if err := s.logout(); err != nil {
		t.Fatal(err)
	}
	proctest.WaitFor(t, 5*time.Second, "the logout BYE", func() bool { return g.count(hl1.TypeBye) == 2 })
	wantCode(t, "second logout", s.logout(), codeLoggedOut)
	wantCode(t, "start after logout", s.start(), codeLoggedOut)
	wantCode(t, "stop after logout", s.stop(), codeLoggedOut)
	wantCode(t, "set active after logout", s.setActive(false), codeLoggedOut)
	wantCode(t, "policy after logout", s.setBackgroundPolicy(policyKeep, 0), codeLoggedOut)
	if st := s.status(); st.state != stateLoggedOut {
		t.Fatalf("status after logout: %+v", st)
	}
}

func TestForegroundWithinLingerCancelsTheBackgroundBye(t *testing.T) {
	g := newFakeGateway(t, 50*time.Millisecond)
	s := newTestSession(t, g, 100002, tuning{})
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, stateOnline)
	if err := s.setBackgroundPolicy(policyByeAfter, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.setActive(false); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	armed, gen := s.bgTimer != nil, s.bgGen
	s.mu.Unlock()
	if !armed {
		t.Fatal("no linger timer armed when going to the background")
	}
	if err := s.setActive(true); err != nil {
		t.Fatal(err)
	}
	s.pause(gen) // the timer of the earlier background firing late changes nothing
	if st := s.currentState(); st != stateOnline {
		t.Fatalf("state %s after a late linger timer, want online", stateName(st))
	}
	if n := g.count(hl1.TypeBye); n != 0 {
		t.Fatalf("%d BYEs, want none", n)
	}
}

func TestKeepPolicyBeatsInTheBackground(t *testing.T) {
	g := newFakeGateway(t, 20*time.Millisecond)
	s := newTestSession(t, g, 100003, tuning{})
	if err := s.setBackgroundPolicy(policyKeep, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, stateOnline)
	if err := s.setActive(false); err != nil {
		t.Fatal(err)
	}
	before := g.count(hl1.TypeHeartbeat)
	proctest.WaitFor(t, 10*time.Second, "three more heartbeats in the background", func() bool { return g.count(hl1.TypeHeartbeat) >= before+3 })
	if st := s.status(); st.state != stateOnline || st.active {
		t.Fatalf("status in the background with HL_BG_KEEP: %+v", st)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if n := g.count(hl1.TypeBye); n != 0 {
		t.Fatalf("hl_stop sent %d BYEs, want none", n)
	}
}

func TestSubscriptionsNeedTCP(t *testing.T) {
	g := newFakeGateway(t, time.Second)
	s := newTestSession(t, g, 100004, tuning{})
	wantCode(t, "subscribe over UDP", s.changeSubs([]uint64{1}, false), codeNeedsTCP)
	wantCode(t, "grant over UDP", s.grant([]byte{1}), codeNeedsTCP)
}

func TestHandlesAreNeverReused(t *testing.T) {
	g := newFakeGateway(t, time.Second)
	s := newTestSession(t, g, 100005, tuning{})
	id, err := addHandle(s)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := lookupHandle(id); err != nil || got != s {
		t.Fatalf("lookup %d: %v", id, err)
	}
	if _, err := removeHandle(id); err != nil {
		t.Fatal(err)
	}
	if _, err := removeHandle(id); !errors.Is(err, errInvalidHandle) {
		t.Fatalf("second remove: %v", err)
	}
	s2 := newTestSession(t, g, 100006, tuning{})
	id2, err := addHandle(s2)
	if err != nil {
		t.Fatal(err)
	}
	defer removeHandle(id2) //nolint:errcheck
	if id2 == id {
		t.Fatalf("handle %d reused", id)
	}
	if _, err := lookupHandle(id); !errors.Is(err, errInvalidHandle) {
		t.Fatalf("lookup of a removed handle: %v", err)
	}
}

func TestEventQueueDropsTheOldestWhenFull(t *testing.T) {
	var q eventQueue
	for i := range eventQueueCap + 6 {
		q.push(event{kind: kindPresence, userID: uint64(i)})
	}
	if n, dropped := q.counts(); n != eventQueueCap || dropped != 6 {
		t.Fatalf("queued %d dropped %d, want %d and 6", n, dropped, eventQueueCap)
	}
	for want := uint64(6); want < eventQueueCap+6; want++ {
		e, ok := q.pop()
		if !ok || e.userID != want {
			t.Fatalf("pop: %+v %v, want user %d", e, ok, want)
		}
	}
	if _, ok := q.pop(); ok {
		t.Fatal("pop from an empty queue")
	}
}
