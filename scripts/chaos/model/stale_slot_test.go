package model

import (
	"testing"
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
// HELLO again until its slot is exactly A's old one.
func TestStaleSlotAfterGatewayRestartIsToldToRehello(t *testing.T) {
	const appA, appB = 0, 2
	w := newSmallWorld(t, "stale-slot", 3, appA, appB)
	c, A := w.c, w.apps[appA]

	w.hello(appA, 0)
	w.failOnViolation("A's first HELLO")
	if A.state != stOnline || !A.lastBeatAccepted {
		t.Fatalf("A is not online after HELLO and its first heartbeat:%s", w.traces(A.String()))
	}
	c.advance(interval, nil)
	w.beat(appA, false)
	w.settled("A online on gw-0's first process")
	staleSlot := A.slot

	c.gws[0].restartProcess(0x5EC0)
	tries := w.helloUntilSlot(appB, staleSlot)
	t.Logf("B holds A's stale slot %x after %d HELLO(s) to the restarted gateway", staleSlot, tries)

	// A's next heartbeat, on the slot of the previous process.
	w.beat(appA, false)
	w.failOnViolation("A's heartbeat on its stale slot")
	if A.state != stOnline || A.slot == staleSlot || !A.lastBeatAccepted {
		t.Fatalf("A did not come back on a new slot after the REHELLO (state %s, slot %x):%s", A.state, A.slot, w.traces(A.String()))
	}
	w.settled("A back online after the REHELLO")
	c.advance(interval, nil)
	w.beat(appA, false)
	w.beat(appB, false)
	w.failOnViolation("heartbeats after the recovery")
	w.settled("A and B online side by side")
}
