package livesync

import (
	"testing"
	"time"

	"heartline/protocol/hl1"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func TestQueueCoalescesPerUserAndKeepsVersionsMonotonic(t *testing.T) {
	q := newQueue()
	if r := q.offer(hl1.Event{UserID: 1, State: hl1.StateActive, Version: 10}); r != queued {
		t.Fatalf("first offer: %v", r)
	}
	q.offer(hl1.Event{UserID: 2, State: hl1.StateAway, Version: 11})
	if r := q.offer(hl1.Event{UserID: 1, State: hl1.StateAway, Version: 12}); r != coalesced {
		t.Fatalf("second offer for user 1: %v, want coalesced", r)
	}
	if r := q.offer(hl1.Event{UserID: 1, State: hl1.StateOffline, Version: 9}); r != stale {
		t.Fatalf("older version: %v, want stale", r)
	}
	if q.Len() != 2 {
		t.Fatalf("pending %d, want 2 (one per user)", q.Len())
	}
	c := &fakeConn{keep: true}
	sent, frames, slow := q.flush(c, t0, 1<<20, time.Second)
	if sent != 2 || frames != 1 || slow || q.Len() != 0 {
		t.Fatalf("flush: sent %d frames %d slow %v pending %d", sent, frames, slow, q.Len())
	}
	evs := c.events(t)
	if len(evs) != 2 || evs[0].UserID != 1 || evs[0].Version != 12 || evs[0].State != hl1.StateAway || evs[1].UserID != 2 {
		t.Fatalf("events %+v: want user 1 at version 12 (away), then user 2", evs)
	}
	// After the write the version floor stays: an older change is still stale.
	if r := q.offer(hl1.Event{UserID: 1, Version: 11}); r != stale {
		t.Fatalf("older than written: %v", r)
	}
	// Equal version (same transaction) is the newer state and goes out.
	if r := q.offer(hl1.Event{UserID: 1, State: hl1.StateActive, Version: 12}); r != queued {
		t.Fatalf("equal version: %v", r)
	}
	q.forget(1)
	if q.Len() != 0 {
		t.Fatal("forget left the pending entry")
	}
	if r := q.offer(hl1.Event{UserID: 1, Version: 3}); r != queued {
		t.Fatalf("after forget the floor is gone (a new subscription starts over): %v", r)
	}
}

func TestQueueSplitsFramesAndStopsAtTheWindow(t *testing.T) {
	q := newQueue()
	n := 3*hl1.MaxEvents + 5
	for u := 1; u <= n; u++ {
		q.offer(hl1.Event{UserID: uint64(u), State: hl1.StateActive, Version: uint64(u)})
	}
	c := &fakeConn{keep: true}
	frameBytes := hl1.TCPHeaderSize + 3 + hl1.MaxEvents*hl1.EventSize
	// A window of two full frames: the third frame waits.
	sent, frames, slow := q.flush(c, t0, 2*frameBytes, time.Second)
	if sent != 2*hl1.MaxEvents || frames != 2 || slow || q.Len() != n-sent {
		t.Fatalf("sent %d frames %d slow %v pending %d", sent, frames, slow, q.Len())
	}
	c.drain()
	sent, frames, _ = q.flush(c, t0, 2*frameBytes, time.Second)
	if sent != hl1.MaxEvents+5 || frames != 2 || q.Len() != 0 {
		t.Fatalf("second flush: sent %d frames %d pending %d", sent, frames, q.Len())
	}
	evs := c.events(t)
	if len(evs) != n {
		t.Fatalf("%d events, want %d", len(evs), n)
	}
	for i, ev := range evs {
		if ev.UserID != uint64(i+1) {
			t.Fatalf("event %d is user %d: order not kept", i, ev.UserID)
		}
	}
}

func TestQueueSlowAfterGrace(t *testing.T) {
	q := newQueue()
	c := &fakeConn{backlog: 1 << 20} // the socket holds a megabyte: nothing fits
	q.offer(hl1.Event{UserID: 7, Version: 1})
	grace := 2 * time.Second
	if _, _, slow := q.flush(c, t0, 1024, grace); slow {
		t.Fatal("slow at the first miss")
	}
	if _, _, slow := q.flush(c, t0.Add(grace), 1024, grace); slow {
		t.Fatal("slow at exactly the grace period")
	}
	// Catching up resets the clock.
	c.drain()
	if _, _, slow := q.flush(c, t0.Add(grace+time.Millisecond), 1024, grace); slow || q.Len() != 0 {
		t.Fatal("a connection that caught up is slow")
	}
	c.backlog = 1 << 20
	q.offer(hl1.Event{UserID: 7, Version: 2})
	start := t0.Add(10 * time.Second)
	q.flush(c, start, 1024, grace)
	if _, _, slow := q.flush(c, start.Add(grace+time.Millisecond), 1024, grace); !slow {
		t.Fatal("behind for longer than grace and not slow")
	}
}
