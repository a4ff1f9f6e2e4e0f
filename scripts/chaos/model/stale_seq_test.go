package model

import (
	"testing"
)

// TestStaleSlotBehindTheNewSessionsSeqIsToldToRehello is the other half of issue 20's stale
// slot: app A holds a slot of gw-0's previous process, the new process has given that very
// slot to app B, and B's session has already accepted more heartbeats than A's counter
// says. A's heartbeat then reconstructs to a sequence number at or below B's last one;
// before bb7d0b3 it was dropped as a replay before its MAC was even checked: silently, for
// ever (A's and B's counters grow at the same pace), so A was never told to say HELLO again.
// The gateway must answer it with a REHELLO. Found by the model (seed 16, with the
// first-slot generations of the two processes equal).
func TestStaleSlotBehindTheNewSessionsSeqIsToldToRehello(t *testing.T) {
	const appA, appB = 0, 2
	w := newSmallWorld(t, "stale-seq", 3, appA, appB)
	c, A, B := w.c, w.apps[appA], w.apps[appB]

	w.hello(appA, 0)
	c.advance(interval, nil)
	w.beat(appA, false)
	w.failOnViolation("A online on gw-0's first process")
	staleSlot := A.slot

	c.gws[0].restartProcess(0x5EC1)
	w.helloUntilSlot(appB, staleSlot)
	// B heartbeats until its session's seq is past A's next one.
	for B.seq <= A.seq+1 {
		c.advance(interval, nil)
		w.beat(appB, false)
	}
	w.failOnViolation("B's heartbeats")
	t.Logf("B holds A's stale slot %x at seq %d; A's next heartbeat carries seq %d", staleSlot, B.seq, A.seq+1)

	w.beat(appA, false)
	w.failOnViolation("A's heartbeat on its stale slot")
	if A.state != stOnline || A.slot == staleSlot || !A.lastBeatAccepted {
		t.Fatalf("A did not come back on a new slot (state %s, slot %x):%s", A.state, A.slot, w.traces(A.String()))
	}
	w.settled("A back online after the REHELLO")
}
