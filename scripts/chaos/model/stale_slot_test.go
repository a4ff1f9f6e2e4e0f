package model

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"heartline/scripts/consultest"
)

// TestStaleSlotAfterGatewayRestartIsToldToRehello is issue 20's persistent lost-online,
// deterministically: app A holds a slot of gateway gw-0's previous process and keeps
// heartbeating to the new process, where that very slot now belongs to app B's session.
// A's heartbeat fails the MAC. If the gateway drops it silently, A never learns that it
// must say HELLO again and is never shown online again while it heartbeats for ever. The
// gateway must answer with a REHELLO, and A, following it, must be shown online (in KV and
// in the watcher) within the bound, next to B.
//
// The collision is forced whatever the new process's first slot generation is: B says
// HELLO again (each re-HELLO moves its session to the next generation of the same index)
// until its slot is exactly A's old one.
func TestStaleSlotAfterGatewayRestartIsToldToRehello(t *testing.T) {
	consul := consultest.Start(t, nil)
	c := newCluster(t, consul, "stale-slot", 1, modelStart)
	w := &world{t: t, c: c, rng: rand.New(rand.NewPCG(20, 20)), sessions: map[sessionRef]*sessionRecord{}}
	// Apps 0 and 2 land on the same ingest loop (shard 0), so their sessions use the same
	// slot indexes.
	for i := 0; i < 3; i++ {
		a := newApp(t, c.keys, i, modelStart)
		a.alive, a.loggedIn, a.wantedSince = i != 1, i != 1, c.now
		w.apps = append(w.apps, a)
	}
	const appA, appB = 0, 2
	A, B := w.apps[appA], w.apps[appB]
	failOnViolation := func(when string) {
		t.Helper()
		if len(w.violations) > 0 {
			msg := strings.Join(w.violations, "\n")
			t.Fatalf("%s: %s%s", when, msg, w.traces(msg))
		}
	}
	settled := func(when string) {
		t.Helper()
		must, may := w.expectations()
		if took, wrong := c.settle(w.users(), must, may); wrong != "" {
			t.Fatalf("%s: after %v: %s%s", when, took.Round(time.Millisecond), wrong, w.traces(wrong))
		}
	}

	w.hello(appA, 0)
	failOnViolation("A's first HELLO")
	if A.state != stOnline || !A.lastBeatAccepted {
		t.Fatalf("A is not online after HELLO and its first heartbeat:%s", w.traces(A.String()))
	}
	c.advance(interval, nil)
	w.beat(appA, false)
	settled("A online on gw-0's first process")
	staleSlot := A.slot

	c.gws[0].restartProcess(0x5EC0)
	c.advance(wheelTick, nil)
	w.hello(appB, 0)
	failOnViolation("B's HELLO to the new process")
	tries := 1
	for B.slot != staleSlot && tries < 600 {
		c.advance(250*time.Millisecond, nil) // within the per-source HELLO rate
		w.hello(appB, 0)
		failOnViolation("B's re-HELLO")
		tries++
	}
	if B.slot != staleSlot {
		t.Fatalf("B never got A's old slot %x in %d HELLOs (last %x): the collision was not forced", staleSlot, tries, B.slot)
	}
	t.Logf("B holds A's stale slot %x after %d HELLO(s) to the restarted gateway", staleSlot, tries)

	// A's next heartbeat, on the slot of the previous process.
	w.beat(appA, false)
	failOnViolation("A's heartbeat on its stale slot")
	if A.state != stOnline || A.slot == staleSlot || !A.lastBeatAccepted {
		t.Fatalf("A did not come back on a new slot after the REHELLO (state %s, slot %x):%s", A.state, A.slot, w.traces(A.String()))
	}
	settled("A back online after the REHELLO")
	c.advance(interval, nil)
	w.beat(appA, false)
	w.beat(appB, false)
	failOnViolation("heartbeats after the recovery")
	settled("A and B online side by side")
}
