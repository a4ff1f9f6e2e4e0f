package ingest

import (
	"testing"
	"time"

	"heartline/gateway/internal/table"
	"heartline/protocol/hl1"
)

// relayBatch builds a BATCH of the clients' next heartbeats plus unknown slots.
func relayBatch(t *testing.T, e *testEnv, cs []*testClient, unknown ...uint32) []byte {
	t.Helper()
	var b hl1.Batch
	for _, c := range cs {
		hb, _ := hl1.ParseHeartbeat(c.beat(e.now, true, false))
		if err := b.Add(hb); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range unknown {
		if err := b.Add(hl1.Heartbeat{Slot: s, Word: 1, Tag: 7}); err != nil {
			t.Fatal(err)
		}
	}
	b.Sort()
	frame, err := hl1.AppendBatch(nil, &b)
	if err != nil {
		t.Fatal(err)
	}
	return frame
}

// A BATCH from a source outside -relays costs no MAC and gets no answer.
func TestBatchFromANonRelayIsDroppedUnanswered(t *testing.T) {
	e := newEnv(t, 1)
	c := e.connect(t, 1, 1)
	e.now = e.now.Add(time.Second)
	frame := relayBatch(t, e, []*testClient{c}, 900, 901)
	e.from.Raw[4] = 192 // 192.0.0.1: not a relay
	before := len(e.rec.frames)
	e.send(frame)
	if got := e.h.Stats.Drops(ReasonNotARelay); got != 1 {
		t.Fatalf("not_a_relay %d, want 1 (drops %v)", got, e.dropSummary())
	}
	if e.h.Stats.Heartbeats.Load() != 0 || len(e.rec.frames) != before {
		t.Fatalf("a non-relay's BATCH was applied (%d heartbeats) or answered (%d frames)", e.h.Stats.Heartbeats.Load(), len(e.rec.frames)-before)
	}
	var none HandlerOptions
	if none.Relays.Allows(&e.from) {
		t.Fatal("an empty relay list allows a source")
	}
}

// Every REHELLO one BATCH causes goes back as one REHELLOS frame, smaller than the BATCH on
// the wire (IP and UDP headers count the same for both).
func TestBatchIsAnsweredByOneSmallerFrame(t *testing.T) {
	e := newEnv(t, 1)
	c := e.connect(t, 1, 1)
	e.now = e.now.Add(time.Second)
	frame := relayBatch(t, e, []*testClient{c}, 900, 901, 902, 903)
	before := len(e.rec.frames)
	e.send(frame)
	replies := e.rec.frames[before:]
	if len(replies) != 1 {
		t.Fatalf("%d replies to one BATCH, want 1", len(replies))
	}
	if len(replies[0]) >= len(frame) {
		t.Fatalf("reply %d bytes >= BATCH %d bytes", len(replies[0]), len(frame))
	}
	rs, err := hl1.ParseRehellos(replies[0], nil)
	if err != nil || len(rs) != 4 {
		t.Fatalf("REHELLOS %+v (%v), want the 4 unknown slots", rs, err)
	}
	for i, r := range rs {
		if r.Slot != uint32(900+i) || r.Reason != hl1.RehelloUnknownSlot {
			t.Fatalf("entry %d: %+v", i, r)
		}
	}
	if e.h.Stats.Heartbeats.Load() != 1 {
		t.Fatalf("the live entry was not applied: %d heartbeats", e.h.Stats.Heartbeats.Load())
	}
	// A BATCH that causes no REHELLO gets no answer.
	e.now = e.now.Add(time.Second)
	before = len(e.rec.frames)
	e.send(relayBatch(t, e, []*testClient{c}))
	if len(e.rec.frames) != before {
		t.Fatalf("%d replies to a clean BATCH", len(e.rec.frames)-before)
	}
}

// syncRouter delivers hand-offs to the other loops' handlers at once, as the inboxes would
// at their next drain; lose drops the next n hand-offs (a full inbox).
type syncRouter struct {
	loops []*Handler
	now   func() Now
	queue []Handoff
	lose  int
}

func (r *syncRouter) Route(shard int, h *Handoff) bool {
	if r.lose > 0 {
		r.lose--
		return false
	}
	c := *h
	c.Conn = nil
	r.queue = append(r.queue, c)
	_ = shard
	return true
}

// deliver runs queued hand-offs (and the verdicts they cause) until none is left.
func (r *syncRouter) deliver(owner func(h *Handoff) *Handler) {
	for len(r.queue) > 0 {
		h := r.queue[0]
		r.queue = r.queue[1:]
		owner(&h).Handoff(&h, r.now())
	}
}

// A BATCH whose entries belong to several loops is still answered once: the other loop
// returns its verdicts to the loop holding the BATCH, which sends one frame when all are in.
func TestBatchAcrossLoopsIsAnsweredOnce(t *testing.T) {
	e := newEnv(t, 2)
	rec1 := &recorder{}
	router := &syncRouter{now: e.nowT}
	h0 := NewHandler(e.tb, 0, e.rec, router, HandlerOptions{Keys: e.keys, Epoch: 0xE90C, Relays: testRelays})
	h1 := NewHandler(e.tb, 1, rec1, router, HandlerOptions{Keys: e.keys, Epoch: 0xE90C, Relays: testRelays})
	e.h = h0
	// One live session on each loop; then slots of both loops that nobody holds.
	c0 := e.connect(t, 1, 1)
	c1 := newTestClient(t, e.keys, 2, 1)
	h1.Frame(c1.hello(e.now, true), &e.from, nil, e.nowT())
	c1.welcome(t, rec1.last())
	var unknown []uint32
	for s := uint32(1000); len(unknown) < 6; s++ {
		if _, _, r := e.tb.Shard(e.tb.ShardOf(s)).Lookup(s); r == table.LookupUnknown && e.tb.ShardOf(s) == len(unknown)%2 {
			unknown = append(unknown, s)
		}
	}
	owner := func(h *Handoff) *Handler {
		if h.Verdict {
			return []*Handler{h0, h1}[h.Origin]
		}
		return []*Handler{h0, h1}[e.tb.ShardOf(slotOf(t, h))]
	}
	e.now = e.now.Add(time.Second)
	frame := relayBatch(t, e, []*testClient{c0, c1}, unknown...)
	before := len(e.rec.frames)
	e.send(frame)
	if len(e.rec.frames) != before {
		t.Fatal("answered before the other loop's verdicts were in")
	}
	router.deliver(owner)
	replies := append(e.rec.frames[before:], rec1.frames...)
	if len(replies) != 2 { // rec1 holds c1's WELCOME
		t.Fatalf("%d frames, want one REHELLOS (plus c1's WELCOME)", len(replies)-1)
	}
	rs, err := hl1.ParseRehellos(e.rec.frames[before], nil)
	if err != nil || len(rs) != len(unknown) {
		t.Fatalf("REHELLOS %+v (%v), want %d entries", rs, err, len(unknown))
	}
	if len(e.rec.frames[before]) >= len(frame) {
		t.Fatalf("reply %d bytes >= BATCH %d bytes", len(e.rec.frames[before]), len(frame))
	}
	if h0.Stats.Heartbeats.Load()+h1.Stats.Heartbeats.Load() != 2 {
		t.Fatalf("live entries applied: %d + %d, want 2", h0.Stats.Heartbeats.Load(), h1.Stats.Heartbeats.Load())
	}

	// A verdict lost to a full inbox: the loop's next tick sends what it has, still once.
	e.now = e.now.Add(time.Second)
	frame = relayBatch(t, e, []*testClient{c0, c1}, unknown...)
	before = len(e.rec.frames)
	e.send(frame)
	router.lose = 1 // the first verdict back is lost
	router.deliver(owner)
	if len(e.rec.frames) != before {
		t.Fatal("answered although a verdict is missing")
	}
	e.now = e.now.Add(50 * time.Millisecond)
	h0.Tick(e.nowT())
	if len(e.rec.frames) != before {
		t.Fatal("gave up on the verdict after 50 ms (the other loop may take two receive timeouts)")
	}
	e.now = e.now.Add(time.Second)
	h0.Tick(e.nowT())
	if len(e.rec.frames) != before+1 {
		t.Fatalf("%d frames after the tick, want 1", len(e.rec.frames)-before)
	}
	if rs, err := hl1.ParseRehellos(e.rec.frames[before], nil); err != nil || len(rs) < len(unknown)/2 {
		t.Fatalf("REHELLOS after the tick %+v (%v), want at least loop 0's %d entries", rs, err, len(unknown)/2)
	}
	h0.Tick(e.nowT())
	if len(e.rec.frames) != before+1 {
		t.Fatal("a reply was sent twice")
	}
}

func slotOf(t *testing.T, h *Handoff) uint32 {
	t.Helper()
	hb, err := hl1.ParseHeartbeat(h.Frame[:h.Len])
	if err != nil {
		t.Fatalf("hand-off is not a heartbeat: %v", err)
	}
	return hb.Slot
}
