package model

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"heartline/scripts/consultest"
)

// TestStaleSlotBehindTheNewSessionsSeqIsToldToRehello is the other half of issue 20's stale
// slot: app A holds a slot of gw-0's previous process, the new process has given that very
// slot to app B, and B's session has already accepted more heartbeats than A's counter
// says. A's heartbeat then reconstructs to a sequence number at or below B's last one and
// is dropped as a replay before its MAC is even checked: silently, for ever (A's and B's
// counters grow at the same pace). A is never told to say HELLO again. Found by the model
// (seed 2 with the first-slot generations of the two processes equal).
func TestStaleSlotBehindTheNewSessionsSeqIsToldToRehello(t *testing.T) {
	consul := consultest.Start(t, nil)
	c := newCluster(t, consul, "stale-seq", 1, modelStart)
	w := &world{t: t, c: c, rng: rand.New(rand.NewPCG(21, 21)), sessions: map[sessionRef]*sessionRecord{}}
	for i := 0; i < 3; i++ { // apps 0 and 2 share ingest loop 0, hence slot indexes
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

	w.hello(appA, 0)
	c.advance(interval, nil)
	w.beat(appA, false)
	failOnViolation("A online on gw-0's first process")
	staleSlot := A.slot

	c.gws[0].restartProcess(0x5EC1)
	for tries := 0; B.slot != staleSlot; tries++ {
		if tries == 600 {
			t.Fatalf("B never got A's old slot %x (last %x): the collision was not forced", staleSlot, B.slot)
		}
		c.advance(250*time.Millisecond, nil) // within the per-source HELLO rate
		w.hello(appB, 0)
		failOnViolation("B's HELLO")
	}
	// B heartbeats until its session's seq is past A's next one.
	for B.seq <= A.seq+1 {
		c.advance(interval, nil)
		w.beat(appB, false)
	}
	failOnViolation("B's heartbeats")
	t.Logf("B holds A's stale slot %x at seq %d; A's next heartbeat carries seq %d", staleSlot, B.seq, A.seq+1)

	w.beat(appA, false)
	failOnViolation("A's heartbeat on its stale slot")
	if A.state != stOnline || A.slot == staleSlot || !A.lastBeatAccepted {
		t.Fatalf("A did not come back on a new slot (state %s, slot %x):%s", A.state, A.slot, w.traces(A.String()))
	}
	must, may := w.expectations()
	if took, wrong := c.settle(w.users(), must, may); wrong != "" {
		t.Fatalf("after %v: %s%s", took.Round(time.Millisecond), wrong, w.traces(wrong))
	}
}
