package livesync

import (
	"testing"
	"time"

	"heartline/agent/shared/clock"
	"heartline/protocol/hl1"
)

func newTestHub(maxPer int) (*Hub, *fakeSource, *clock.Fake) {
	src := &fakeSource{ready: true, version: 100, state: map[uint64]hl1.Event{
		1: {State: hl1.StateActive, Devices: 2, LastSeenMS: 1000},
		2: {State: hl1.StateOffline, LastSeenMS: 500},
	}}
	clk := clock.NewFake(t0)
	h := NewHub(Options{Source: src, MaxPerConn: maxPer, SendWindow: 4096, Grace: time.Second, Clock: clk})
	h.SetReady()
	return h, src, clk
}

func TestHubInitialStateThenChanges(t *testing.T) {
	h, _, _ := newTestHub(10)
	a, b := &fakeConn{id: 1, keep: true}, &fakeConn{id: 2, keep: true}
	if r := h.Subscribe(a, subscribeFrame(t, false, 1, 2, 3)); r != 0 {
		t.Fatalf("subscribe: close %d", r)
	}
	h.Subscribe(b, subscribeFrame(t, false, 2))
	evs := a.events(t)
	if len(evs) != 3 {
		t.Fatalf("initial states: %+v", evs)
	}
	want := map[uint64]hl1.Event{
		1: {UserID: 1, State: hl1.StateActive, Devices: 2, LastSeenMS: 1000, Version: 100},
		2: {UserID: 2, State: hl1.StateOffline, LastSeenMS: 500, Version: 100},
		3: {UserID: 3, Version: 100}, // never seen: offline, no last seen
	}
	for _, ev := range evs {
		if ev != want[ev.UserID] {
			t.Fatalf("initial state %+v, want %+v", ev, want[ev.UserID])
		}
	}
	if h.Stats.Active.Load() != 4 {
		t.Fatalf("active %d, want 4", h.Stats.Active.Load())
	}
	b.events(t)

	// A change for user 2 reaches both; one for user 9 reaches nobody; an older version
	// than the initial state is not sent.
	h.Publish([]hl1.Event{
		{UserID: 2, State: hl1.StateActive, Devices: 1, LastSeenMS: 2000, Version: 101},
		{UserID: 9, State: hl1.StateActive, Version: 102},
		{UserID: 1, State: hl1.StateOffline, Version: 99},
	})
	ea, eb := a.events(t), b.events(t)
	if len(ea) != 1 || ea[0].UserID != 2 || ea[0].Version != 101 || len(eb) != 1 || eb[0] != ea[0] {
		t.Fatalf("a got %+v, b got %+v", ea, eb)
	}
	if h.Stats.Stale.Load() != 1 {
		t.Fatalf("stale %d, want 1", h.Stats.Stale.Load())
	}
	if h.Interested(9) || !h.Interested(2) {
		t.Fatal("Interested does not follow the subscriptions")
	}

	// UNSUBSCRIBE stops deliveries; a repeated SUBSCRIBE of a held id sends nothing new.
	h.Unsubscribe(a, subscribeFrame(t, true, 2))
	h.Subscribe(a, subscribeFrame(t, false, 1))
	h.Publish([]hl1.Event{{UserID: 2, State: hl1.StateAway, Version: 103}})
	if ea := a.events(t); len(ea) != 0 {
		t.Fatalf("after unsubscribe: %+v", ea)
	}
	if eb := b.events(t); len(eb) != 1 {
		t.Fatalf("b after a unsubscribed: %+v", eb)
	}
	h.Closed(a)
	h.Closed(b)
	if h.Stats.Active.Load() != 0 || h.Stats.Conns.Load() != 0 || h.Interested(2) {
		t.Fatalf("after close: active %d conns %d", h.Stats.Active.Load(), h.Stats.Conns.Load())
	}
}

func TestHubLimitPerConnection(t *testing.T) {
	h, _, _ := newTestHub(3)
	c := &fakeConn{id: 1}
	if r := h.Subscribe(c, subscribeFrame(t, false, 1, 2)); r != 0 {
		t.Fatal(r)
	}
	if r := h.Subscribe(c, subscribeFrame(t, false, 1, 2, 3)); r != 0 { // 1, 2 held: one new
		t.Fatalf("within the limit: close %d", r)
	}
	if r := h.Subscribe(c, subscribeFrame(t, false, 4)); r != hl1.CloseTooManySubscribed {
		t.Fatalf("fourth id: close %d, want too many subscriptions", r)
	}
	if h.Stats.TooMany.Load() != 1 {
		t.Fatal("not counted")
	}
	if r := h.Subscribe(c, []byte{0x17, 0, 1}); r != hl1.CloseProtocolError {
		t.Fatalf("garbage SUBSCRIBE: %d", r)
	}
}

func TestHubHoldsInitialStatesUntilReady(t *testing.T) {
	src := &fakeSource{version: 5, state: map[uint64]hl1.Event{1: {State: hl1.StateAway, Devices: 1}}}
	h := NewHub(Options{Source: src, Clock: clock.NewFake(t0)})
	c := &fakeConn{id: 1, keep: true}
	h.Subscribe(c, subscribeFrame(t, false, 1))
	if evs := c.events(t); len(evs) != 0 {
		t.Fatalf("state sent before the source was ready: %+v", evs)
	}
	src.ready = true
	h.SetReady()
	if evs := c.events(t); len(evs) != 1 || evs[0].State != hl1.StateAway || evs[0].Version != 5 {
		t.Fatalf("after ready: %+v", evs)
	}
}

// A reader that stops reading: its window fills, later changes coalesce per user, and after
// the grace period it is closed with CLOSE slow consumer. A reader beside it is unaffected.
func TestHubSlowConsumerCoalescedThenClosed(t *testing.T) {
	h, _, clk := newTestHub(1000)
	slow, fast := &fakeConn{id: 1}, &fakeConn{id: 2, keep: true}
	ids := make([]uint64, 200)
	for i := range ids {
		ids[i] = uint64(i + 1)
	}
	h.Subscribe(slow, subscribeFrame(t, false, ids...))
	h.Subscribe(fast, subscribeFrame(t, false, ids...))
	fast.events(t)
	fast.drain()
	v := uint64(200)
	for round := 0; round < 5; round++ {
		evs := make([]hl1.Event, len(ids))
		for i, u := range ids {
			v++
			evs[i] = hl1.Event{UserID: u, State: hl1.State(1 + round%2), Devices: 1, Version: v}
		}
		h.Publish(evs)
		fast.drain() // the fast reader keeps up
		clk.Advance(300 * time.Millisecond)
		h.Retry()
	}
	if got := fast.events(t); len(got) != 5*len(ids) {
		t.Fatalf("fast reader got %d events, want %d", len(got), 5*len(ids))
	}
	if h.Stats.Coalesced.Load() == 0 {
		t.Fatal("nothing coalesced for the slow reader")
	}
	if slow.closed != hl1.CloseSlowConsumer || fast.closed != 0 {
		t.Fatalf("closed: slow %d fast %d", slow.closed, fast.closed)
	}
	if h.Stats.SlowConsumer.Load() != 1 {
		t.Fatalf("slow consumer closes %d", h.Stats.SlowConsumer.Load())
	}
	// Pending entries never exceed the subscriptions: coalescing bounds the queue.
	if n := h.conns[1].q.Len(); n > len(ids) {
		t.Fatalf("slow queue holds %d entries for %d subscriptions", n, len(ids))
	}
}

func TestPublishDoesNotAllocate(t *testing.T) {
	h, _, _ := newTestHub(1000)
	conns := make([]*fakeConn, 8)
	for i := range conns {
		conns[i] = &fakeConn{id: uint64(i + 1)}
		h.Subscribe(conns[i], subscribeFrame(t, false, 1, 2, 3, 4))
	}
	evs := []hl1.Event{{UserID: 1, State: hl1.StateActive, Devices: 1}, {UserID: 3, State: hl1.StateAway, Devices: 1}}
	v := uint64(1000)
	publish := func() {
		v++
		evs[0].Version, evs[1].Version = v, v
		h.Publish(evs)
		for _, c := range conns {
			c.drain()
		}
	}
	publish()
	if n := testing.AllocsPerRun(200, publish); n != 0 {
		t.Fatalf("Publish allocates %.1f times per call", n)
	}
}
