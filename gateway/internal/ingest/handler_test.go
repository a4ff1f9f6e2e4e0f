package ingest

import (
	"encoding/binary"
	"testing"
	"time"

	"heartline/gateway/internal/table"
	"heartline/protocol/feed"
	"heartline/protocol/hl1"
)

func publish(e *testEnv) []feed.Record {
	s := e.tb.Shard(0)
	s.Tick(e.tb.Tick(e.now))
	o := s.Outbox()
	if !o.Ready() {
		return nil
	}
	recs := append([]feed.Record(nil), o.Records...)
	o.Done()
	return recs
}

func TestHelloHeartbeatsBye(t *testing.T) {
	e := newEnv(t, 1)
	c := e.connect(t, 77, 3)
	if c.epoch != 0xE90C {
		t.Fatalf("epoch %x", c.epoch)
	}
	e.send(c.beat(e.now, true, false)) // the first heartbeat, right after WELCOME
	if recs := publish(e); len(recs) != 1 || recs[0].Kind != feed.KindOnline || recs[0].User != 77 || recs[0].Device != 3 {
		t.Fatalf("after the first heartbeat: %+v", recs)
	}
	for i := 0; i < 20; i++ {
		e.now = e.now.Add(10 * time.Second)
		e.send(c.beat(e.now, i < 10, false))
	}
	if got := e.h.Stats.Heartbeats.Load(); got != 21 {
		t.Fatalf("accepted %d heartbeats, want 21 (drops %v)", got, e.dropSummary())
	}
	if recs := publish(e); len(recs) != 1 || recs[0].Kind != feed.KindStatus || recs[0].Status != feed.StatusAway {
		t.Fatalf("status change: %+v", recs)
	}
	e.send(c.beat(e.now, false, true))
	if recs := publish(e); len(recs) != 1 || recs[0].Kind != feed.KindOffline {
		t.Fatalf("after BYE: %+v", recs)
	}
	// Anything after BYE: REHELLO "expired".
	e.now = e.now.Add(time.Second)
	e.send(c.beat(e.now, true, false))
	r, err := hl1.ParseRehello(e.rec.last())
	if err != nil || r.Reason != hl1.RehelloExpired || r.Slot != c.slot {
		t.Fatalf("after BYE: %+v %v", r, err)
	}
}

// A session is reported online at its first authenticated heartbeat, not at HELLO: a
// WELCOME the app never got must not show the member online.
func TestOnlineAtFirstHeartbeatNotAtHello(t *testing.T) {
	e := newEnv(t, 1)
	c := e.connect(t, 78, 1)
	if recs := publish(e); len(recs) != 0 {
		t.Fatalf("after HELLO: %+v, want nothing before a heartbeat", recs)
	}
	e.now = e.now.Add(20 * time.Millisecond)
	e.send(c.beat(e.now, false, false))
	if got := e.h.Stats.Heartbeats.Load(); got != 1 {
		t.Fatalf("accepted %d heartbeats, want 1 (drops %v)", got, e.dropSummary())
	}
	recs := publish(e)
	if len(recs) != 1 || recs[0].Kind != feed.KindOnline || recs[0].User != 78 || recs[0].Device != 1 || recs[0].Status != feed.StatusAway {
		t.Fatalf("after the first heartbeat: %+v, want one ONLINE away", recs)
	}
}

func TestReplayedAndForgedFramesAreDropped(t *testing.T) {
	e := newEnv(t, 1)
	c := e.connect(t, 1, 1)
	e.now = e.now.Add(time.Second)
	hb := c.beat(e.now, true, false)
	e.send(hb)
	e.send(hb) // replay
	if n := e.h.Stats.Drops(ReasonReplay); n != 1 {
		t.Fatalf("replay drops %d (%v)", n, e.dropSummary())
	}
	// A later heartbeat whose tag is flipped.
	e.now = e.now.Add(time.Second)
	forged := c.beat(e.now, true, false)
	forged[16] ^= 1
	e.send(forged)
	// A heartbeat claiming another status with the original tag.
	e.now = e.now.Add(time.Second)
	flipped := c.beat(e.now, true, false)
	flipped[7] ^= 0x80
	e.send(flipped)
	if n := e.h.Stats.Drops(ReasonBadMAC); n != 2 {
		t.Fatalf("bad_mac drops %d (%v)", n, e.dropSummary())
	}
	// A fresh, genuine heartbeat still goes through (the forgeries did not advance seq).
	e.now = e.now.Add(time.Second)
	e.send(c.beat(e.now, true, false))
	if got := e.h.Stats.Heartbeats.Load(); got != 2 {
		t.Fatalf("heartbeats %d, want 2", got)
	}
	// A replayed HELLO after the client said HELLO again with a newer clock: dropped.
	old := c.hello(e.now, true)
	e.now = e.now.Add(time.Second)
	e.send(c.hello(e.now, true))
	c.welcome(t, e.rec.last())
	e.send(old)
	if n := e.h.Stats.Drops(ReasonHelloReplay); n != 1 {
		t.Fatalf("hello replay drops %d (%v)", n, e.dropSummary())
	}
}

func TestMalformedFramesAreCountedNotAnswered(t *testing.T) {
	e := newEnv(t, 1)
	c := e.connect(t, 1, 1)
	hb := c.beat(e.now, true, false)
	cases := map[DropReason][]byte{
		ReasonShort:       hb[:9],
		ReasonTrailing:    append(append([]byte(nil), hb...), 0),
		ReasonTooLarge:    make([]byte, hl1.MaxFrame+1),
		ReasonVersion:     {0x23, 0, 0, 0, 0},
		ReasonUnknownType: {0x1F},
		ReasonUnexpected:  hl1.AppendRehello(nil, hl1.Rehello{Slot: 1, Reason: 1}),
	}
	cases[ReasonTooLarge][0] = 0x13
	replies := len(e.rec.frames)
	for want, b := range cases {
		before := e.h.Stats.Drops(want)
		e.send(b)
		if e.h.Stats.Drops(want) != before+1 {
			t.Errorf("%s: not counted (%v)", want, e.dropSummary())
		}
	}
	if len(e.rec.frames) != replies {
		t.Fatalf("malformed frames were answered")
	}
}

func TestUnknownSlotGetsSmallRateLimitedRehello(t *testing.T) {
	e := newEnv(t, 1)
	c := e.connect(t, 1, 1)
	c.slot ^= 0x00000003 // an index nobody has
	n := len(e.rec.frames)
	for i := 0; i < 500; i++ {
		e.send(c.beat(e.now, true, false))
	}
	// The per-source burst (2 x RehelloPerSrc = 100) at one instant, not one per frame.
	sent := e.rec.frames[n:]
	if len(sent) == 0 || len(sent) > 100 {
		t.Fatalf("%d REHELLOs for 500 frames from one source at one instant, want 1..100", len(sent))
	}
	for _, f := range sent {
		if len(f) >= hl1.HeartbeatSize {
			t.Fatalf("REHELLO of %d bytes answers a %d-byte frame", len(f), hl1.HeartbeatSize)
		}
		if r, err := hl1.ParseRehello(f); err != nil || r.Reason != hl1.RehelloUnknownSlot {
			t.Fatalf("REHELLO %+v %v", r, err)
		}
	}
	if e.h.Stats.Drops(ReasonUnknownSlot) != 500 {
		t.Fatalf("unknown slot drops %d", e.h.Stats.Drops(ReasonUnknownSlot))
	}
}

func TestHelloRateLimitPerSource(t *testing.T) {
	e := newEnv(t, 1)
	c := newTestClient(t, e.keys, 5, 5)
	for i := 0; i < 100; i++ {
		e.send(c.hello(e.now, true))
	}
	if ok := e.h.Stats.Hellos.Load(); ok < 10 || ok > 30 {
		t.Fatalf("%d of 100 HELLOs from one source in one instant answered, want about the burst (20)", ok)
	}
	if e.h.Stats.Drops(ReasonRateLimited) == 0 {
		t.Fatal("no rate-limited drops counted")
	}
	// Another source is unaffected.
	e.from.Raw[7] = 2
	before := e.h.Stats.Hellos.Load()
	e.send(newTestClient(t, e.keys, 6, 1).hello(e.now, true))
	if e.h.Stats.Hellos.Load() != before+1 {
		t.Fatal("second source was rate-limited")
	}
}

func TestForgedHelloIsRejected(t *testing.T) {
	e := newEnv(t, 1)
	c := newTestClient(t, e.keys, 5, 5)
	h := c.hello(e.now, true)
	h[len(h)-1] ^= 1 // tag
	e.send(h)
	h = c.hello(e.now, true)
	h[20] ^= 1 // inside the token
	e.send(h)
	if e.h.Stats.Drops(ReasonHelloBadTag) != 1 || e.h.Stats.Drops(ReasonTokenBadMAC) != 1 || len(e.rec.frames) != 0 {
		t.Fatalf("drops %v, replies %d", e.dropSummary(), len(e.rec.frames))
	}
	// Clock skew.
	e.send(c.hello(e.now.Add(10*time.Minute), true))
	if e.h.Stats.Drops(ReasonClockSkew) != 1 {
		t.Fatalf("drops %v", e.dropSummary())
	}
}

type captureRouter struct {
	shard int
	got   []Handoff
}

func (r *captureRouter) Route(shard int, h *Handoff) bool {
	r.shard = shard
	r.got = append(r.got, *h)
	return true
}

func TestForeignSlotIsHandedToItsOwner(t *testing.T) {
	e := newEnv(t, 2)
	// Session lives in shard 1 (its HELLO arrived at loop 1).
	rec1 := &recorder{}
	h1 := NewHandler(e.tb, 1, rec1, nil, HandlerOptions{Keys: e.keys, Epoch: 0xE90C})
	c := newTestClient(t, e.keys, 9, 9)
	h1.Frame(c.hello(e.now, true), &e.from, nil, e.nowT())
	c.welcome(t, rec1.last())
	// After a NAT rebinding its heartbeat lands on loop 0.
	router := &captureRouter{}
	e.h.router = router
	e.now = e.now.Add(time.Second)
	e.send(c.beat(e.now, true, false))
	if len(router.got) != 1 || router.shard != 1 {
		t.Fatalf("hand-off: %d frames to shard %d", len(router.got), router.shard)
	}
	h1.Handoff(&router.got[0], e.nowT())
	if h1.Stats.Heartbeats.Load() != 1 {
		t.Fatalf("owner did not accept the handed-off heartbeat (drops %v)", h1.Stats.Drops(ReasonBadMAC))
	}
	// A HELLO for the same (user, device) at loop 0 also goes to the owner.
	e.now = e.now.Add(time.Second)
	e.send(c.hello(e.now, true))
	if len(router.got) != 2 {
		t.Fatal("HELLO for a session of another shard was not handed off")
	}
	h1.Handoff(&router.got[1], e.nowT())
	c.welcome(t, rec1.last())
	if _, _, r := e.tb.Shard(1).Lookup(c.slot); r != table.LookupOK {
		t.Fatal("re-HELLO moved the session")
	}
}

func TestHeartbeatPathDoesNotAllocate(t *testing.T) {
	e := newEnv(t, 1)
	clients := make([]*testClient, 100)
	for i := range clients {
		e.from.Raw[6] = byte(i) // distinct sources: no rate limit in the way
		clients[i] = e.connect(t, uint64(i), 1)
	}
	// Pre-build a minute of heartbeats.
	var frames [][]byte
	start := e.now
	for s := 1; s <= 60; s++ {
		now := start.Add(time.Duration(s) * time.Second)
		for _, c := range clients {
			frames = append(frames, c.beat(now, s%2 == 0, false))
		}
	}
	i := 0
	allocs := testing.AllocsPerRun(len(frames)-1, func() {
		e.now = start.Add(time.Duration(i/len(clients)+1) * time.Second)
		e.h.Frame(frames[i], &e.from, nil, e.nowT())
		i++
	})
	if allocs != 0 {
		t.Fatalf("%.2f allocations per heartbeat", allocs)
	}
	if e.h.Stats.Heartbeats.Load() < uint64(len(frames)-1) {
		t.Fatalf("only %d of %d heartbeats accepted (%v)", e.h.Stats.Heartbeats.Load(), len(frames), e.dropSummary())
	}
}

func FuzzHandlerFrame(f *testing.F) {
	e := newEnv(f, 2)
	c := e.connect(f, 1, 1)
	f.Add(c.beat(e.now, true, false))
	f.Add(c.beat(e.now, false, true))
	f.Add(c.hello(e.now, true))
	f.Add([]byte{0x13})
	f.Add(hl1.AppendRehello(nil, hl1.Rehello{Slot: c.slot, Reason: 1}))
	var slot [4]byte
	binary.BigEndian.PutUint32(slot[:], c.slot)
	f.Add(append([]byte{0x13}, slot[:]...))
	var bat hl1.Batch
	hb, _ := hl1.ParseHeartbeat(c.beat(e.now, true, false))
	_ = bat.Add(hb)
	if fr, err := hl1.AppendBatch(nil, &bat); err == nil {
		f.Add(fr)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		before := len(e.rec.frames)
		e.send(b)
		for _, r := range e.rec.frames[before:] {
			if len(r) > len(b) {
				t.Fatalf("reply of %d bytes to a %d-byte frame", len(r), len(b))
			}
		}
		e.rec.frames = e.rec.frames[:0]
	})
}

// BenchmarkHandlerHeartbeat is the per-heartbeat CPU of the handler alone (no syscall):
// parse, slot lookup, reconstruction, SipHash tag, table update.
func BenchmarkHandlerHeartbeat(b *testing.B) {
	e := newEnv(b, 1)
	e.h = NewHandler(e.tb, 0, e.rec, nil, HandlerOptions{Keys: e.keys, Epoch: 0xE90C, HelloBurst: 1e9, HelloPerSource: 1e9, HelloPerLoop: 1e9})
	const n = 1000
	clients := make([]*testClient, n)
	for i := range clients {
		e.from.Raw[6] = byte(i)
		clients[i] = e.connect(b, uint64(i), 1)
	}
	frames := make([][]byte, 0, 64*n)
	for r := 0; r < 64; r++ {
		for _, c := range clients {
			frames = append(frames, c.beat(e.now, true, false))
		}
	}
	now := e.nowT()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i > 0 && i%len(frames) == 0 {
			b.StopTimer() // re-key: restart every session so seq starts over
			for j, c := range clients {
				e.from.Raw[6] = byte(j)
				e.now = e.now.Add(20 * time.Millisecond) // HELLO stamps have 16 ms resolution
				e.send(c.hello(e.now, true))
				c.welcome(b, e.rec.last())
			}
			frames = frames[:0]
			for r := 0; r < 64; r++ {
				for _, c := range clients {
					frames = append(frames, c.beat(e.now, true, false))
				}
			}
			now = e.nowT()
			b.StartTimer()
		}
		e.h.Frame(frames[i%len(frames)], &e.from, nil, now)
	}
	if e.h.Stats.Heartbeats.Load() != uint64(b.N) {
		b.Fatalf("accepted %d of %d (%v)", e.h.Stats.Heartbeats.Load(), b.N, e.dropSummary())
	}
}

func TestHelloAllocations(t *testing.T) {
	// Not a zero-allocation path (HELLOs are rare next to heartbeats), but bounded: the
	// README and OPERATIONS.md promise 1 allocation per HELLO -> WELCOME, and their GC
	// guidance rests on that number.
	e := newEnv(t, 1)
	e.h = NewHandler(e.tb, 0, e.rec, nil, HandlerOptions{Keys: e.keys, Epoch: 1, HelloBurst: 1e9, HelloPerSource: 1e9, HelloPerLoop: 1e9})
	c := newTestClient(t, e.keys, 3, 3)
	frames := make([][]byte, 200)
	for i := range frames {
		e.now = e.now.Add(20 * time.Millisecond)
		frames[i] = c.hello(e.now, true)
	}
	i := 0
	allocs := testing.AllocsPerRun(len(frames)-1, func() {
		e.h.Frame(frames[i], &e.from, nil, e.nowT())
		i++
	})
	t.Logf("HELLO -> WELCOME: %.1f allocations", allocs)
	if e.h.Stats.Hellos.Load() < uint64(len(frames)-1) {
		t.Fatalf("only %d HELLOs answered (%v)", e.h.Stats.Hellos.Load(), e.dropSummary())
	}
	if allocs > 1 {
		t.Fatalf("HELLO -> WELCOME costs %.1f allocations, want at most 1 (documented in gateway/README.md)", allocs)
	}
}

func TestBatchEntriesAreVerifiedOneByOne(t *testing.T) {
	e := newEnv(t, 1)
	var cs []*testClient
	for i := 0; i < 5; i++ {
		e.from.Raw[6] = byte(i)
		cs = append(cs, e.connect(t, uint64(10+i), 1))
	}
	e.now = e.now.Add(time.Second)
	var b hl1.Batch
	for i, c := range cs {
		hb, _ := hl1.ParseHeartbeat(c.beat(e.now, true, false))
		if i == 2 {
			hb.Tag ^= 1 // the relay (or anyone) tampers with one entry
		}
		if err := b.Add(hb); err != nil {
			t.Fatal(err)
		}
	}
	b.Sort()
	frame, err := hl1.AppendBatch(nil, &b)
	if err != nil {
		t.Fatal(err)
	}
	e.send(frame)
	if e.h.Stats.Heartbeats.Load() != 4 || e.h.Stats.Drops(ReasonBadMAC) != 1 {
		t.Fatalf("batch: %d accepted, drops %v", e.h.Stats.Heartbeats.Load(), e.dropSummary())
	}
	e.send(frame) // the whole batch replayed
	if e.h.Stats.Heartbeats.Load() != 4 || e.h.Stats.Drops(ReasonReplay) != 4 {
		t.Fatalf("replayed batch: %d accepted, drops %v", e.h.Stats.Heartbeats.Load(), e.dropSummary())
	}
	e.h.send = discard{} // the tampered entry is answered with REHELLO; the recorder would allocate
	allocs := testing.AllocsPerRun(20, func() { e.send(frame) })
	if allocs != 0 {
		t.Fatalf("BATCH handling allocates %.1f", allocs)
	}
}
