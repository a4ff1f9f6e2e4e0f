package ingest

import (
	"testing"
	"time"

	"heartline/protocol/hl1"
)

// TestCutOffGatewayRefusesHellosAndKeepsItsSessions: while the agent says it cannot reach
// Consul, a HELLO (new or re-HELLO of a live session) gets REHELLO 5 for slot 0 and no
// session; heartbeats of sessions already here are accepted quietly, so nobody is moved for
// an outage. When the agent is back, HELLOs are welcome again.
func TestCutOffGatewayRefusesHellosAndKeepsItsSessions(t *testing.T) {
	e := newEnv(t, 1)
	up := new(Upstream)
	e.h = NewHandler(e.tb, 0, e.rec, nil, HandlerOptions{Keys: e.keys, Epoch: 0xC07, Upstream: up, HelloPerSource: 1000, HelloBurst: 1000})
	c := e.connect(t, 7, 1)

	if !up.SetCutOff(true) || up.SetCutOff(true) {
		t.Fatal("SetCutOff must report a change exactly once")
	}
	e.now = e.now.Add(time.Second)
	n := len(e.rec.frames)
	e.send(c.beat(e.now, true, false))
	if got := e.h.Stats.Heartbeats.Load(); got != 1 || len(e.rec.frames) != n {
		t.Fatalf("heartbeat while cut off: accepted %d, answered %d frames; want accepted, unanswered", got, len(e.rec.frames)-n)
	}

	for _, hello := range [][]byte{newTestClient(t, e.keys, 8, 1).hello(e.now, true), c.hello(e.now.Add(time.Second), true)} {
		n = len(e.rec.frames)
		e.send(hello)
		rs := rehellos(t, e.rec.frames[n:])
		if len(e.rec.frames) != n+1 || len(rs) != 1 || rs[0].Slot != 0 || rs[0].Reason != hl1.RehelloUnavailable {
			t.Fatalf("HELLO while cut off answered %d frames %+v, want only REHELLO 5 slot 0", len(e.rec.frames)-n, rs)
		}
	}
	if e.h.Stats.Drops(ReasonCutOff) != 2 || e.tb.Online() != 1 {
		t.Fatalf("drops %v, online %d; want 2 cut_off drops and the one session kept", e.dropSummary(), e.tb.Online())
	}

	up.SetCutOff(false)
	n = len(e.rec.frames)
	e.send(newTestClient(t, e.keys, 9, 1).hello(e.now.Add(2*time.Second), true))
	if len(e.rec.frames) != n+1 {
		t.Fatalf("HELLO after the agent is back answered %d frames, want a WELCOME", len(e.rec.frames)-n)
	}
	if typ, _ := hl1.PeekType(e.rec.frames[n]); typ != hl1.TypeWelcome {
		t.Fatalf("HELLO after the agent is back answered with %v, want WELCOME", typ)
	}
}
