package ingest

import (
	"testing"
	"time"
)

// TestHeartbeatsOfAReplacedSessionCannotBeReplayedIntoTheNewOne: a session that says HELLO
// again (the reference client does every ConfirmEvery) keeps its session key and restarts
// seq at 1. Frames an on-path attacker captured from the replaced session must not be
// accepted by the new one: if they were, each would push the session's seq past the app's
// own and the app's real heartbeats would be dropped as replays until the session expired
// (the chaos bed's hostile-input scenario caught exactly that).
func TestHeartbeatsOfAReplacedSessionCannotBeReplayedIntoTheNewOne(t *testing.T) {
	e := newEnv(t, 1)
	c := e.connect(t, 42, 1)
	var captured [][]byte
	for i := 0; i < 5; i++ {
		e.now = e.now.Add(time.Second)
		hb := c.beat(e.now, true, false)
		captured = append(captured, hb)
		e.send(hb)
	}
	oldSlot := c.slot

	// The app says HELLO again (same token, same session key) and is welcomed.
	e.now = e.now.Add(time.Second)
	n := len(e.rec.frames)
	e.send(c.hello(e.now, true))
	if len(e.rec.frames) != n+1 {
		t.Fatalf("no WELCOME for the re-HELLO (drops: %v)", e.dropSummary())
	}
	c.welcome(t, e.rec.last())
	if c.slot == oldSlot {
		t.Errorf("re-HELLO kept slot %x: the replaced session's frames stay valid", c.slot)
	}

	// The attacker replays everything it captured, then the app heartbeats as usual.
	accepted := e.h.Stats.Heartbeats.Load()
	for _, hb := range captured {
		e.send(hb)
	}
	if got := e.h.Stats.Heartbeats.Load(); got != accepted {
		t.Fatalf("%d replayed frames of the replaced session were accepted", got-accepted)
	}
	for i := 0; i < 3; i++ {
		e.now = e.now.Add(time.Second)
		e.send(c.beat(e.now, true, false))
	}
	if got := e.h.Stats.Heartbeats.Load(); got != accepted+3 {
		t.Fatalf("the app's own heartbeats after the replay: %d of 3 accepted (drops %v)", got-accepted, e.dropSummary())
	}
}
