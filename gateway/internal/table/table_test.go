package table

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"heartline/protocol/feed"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func newTestTable(t testing.TB, shards, per int) *Table {
	t.Helper()
	tb, err := New(Options{Shards: shards, SessionsPerShard: per, Start: t0})
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// take runs a shard tick at tick now and returns (and releases) its batch.
func take(s *Shard, now uint32) []feed.Record {
	s.Tick(now)
	if !s.out.Ready() {
		return nil
	}
	recs := append([]feed.Record(nil), s.out.Records...)
	s.out.Done()
	return recs
}

func hello(t *testing.T, s *Shard, user uint64, dev uint32, stamp uint32, now uint32) Slot {
	t.Helper()
	slot, base, res, _ := s.Hello(HelloParams{User: user, Device: dev, K0: user, K1: uint64(dev), Active: true, Stamp: stamp}, now)
	if res != HelloNew && res != HelloRefound {
		t.Fatalf("hello(%d,%d): result %d", user, dev, res)
	}
	if base != now {
		t.Fatalf("base %d, want %d", base, now)
	}
	return slot
}

// beat accepts a verified heartbeat (absolute seq and ts, status) for the session at slot at
// tick now, as the ingest loop does, and returns the session's index. The first one confirms
// the session: only then is it reported online.
func beat(t *testing.T, s *Shard, slot Slot, seq, ts uint32, active bool, now uint32) uint32 {
	t.Helper()
	idx, _, r := s.Lookup(slot)
	if r != LookupOK {
		t.Fatalf("beat on slot %x: lookup %v", slot, r)
	}
	s.Accept(idx, seq, ts, active, now)
	return idx
}

func TestHelloHeartbeatSilenceOffline(t *testing.T) {
	tb := newTestTable(t, 1, 64)
	s := tb.Shard(0)
	slot := hello(t, s, 42, 1, 1, 100)
	if recs := take(s, 100); len(recs) != 0 {
		t.Fatalf("after HELLO, before the first heartbeat: %+v", recs)
	}
	idx, sess, r := s.Lookup(slot)
	if r != LookupOK || sess.User != 42 {
		t.Fatalf("lookup: %v", r)
	}
	s.Accept(idx, 1, 0, true, 100) // the first heartbeat, right after WELCOME
	recs := take(s, 100)
	if len(recs) != 1 || recs[0].Kind != feed.KindOnline || recs[0].User != 42 || recs[0].Status != feed.StatusActive {
		t.Fatalf("after the first heartbeat: %+v", recs)
	}
	// Heartbeats every 10 s for a minute: no records.
	now := uint32(100)
	for i := 1; i <= 6; i++ {
		now += 1000
		s.Accept(idx, uint32(i+1), uint32(i*1000), true, now)
		if recs := take(s, now); len(recs) != 0 {
			t.Fatalf("steady heartbeats produced %+v", recs)
		}
	}
	last := now
	deadline := last + tb.timeout + tb.debounce // 32 s + 5 s
	for now = last; now < deadline; now += 10 {
		if recs := take(s, now); len(recs) != 0 {
			t.Fatalf("record %+v at %d ticks after last heartbeat, before timeout+debounce", recs, now-last)
		}
	}
	// The wheel fires on its 100 ms resolution: the OFFLINE comes within one wheel tick.
	var off []feed.Record
	for ; now <= deadline+10 && len(off) == 0; now++ {
		off = take(s, now)
	}
	if len(off) != 1 || off[0].Kind != feed.KindOffline || off[0].At != tb.UnixMilli(last) {
		t.Fatalf("offline: %+v (want At=%d)", off, tb.UnixMilli(last))
	}
	if _, _, r := s.Lookup(slot); r == LookupOK {
		t.Fatal("expired slot still accepted")
	}
	if tb.Online() != 0 {
		t.Fatalf("online gauge %d after expiry", tb.Online())
	}
}

func TestFlapInsideDebounceIsSilent(t *testing.T) {
	tb := newTestTable(t, 1, 64)
	s := tb.Shard(0)
	slot := hello(t, s, 7, 2, 1, 0)
	idx := beat(t, s, slot, 1, 0, true, 0)
	if recs := take(s, 0); len(recs) != 1 || recs[0].Kind != feed.KindOnline {
		t.Fatalf("after the first heartbeat: %+v", recs)
	}
	// Silent past the timeout, back 3 s into the 5 s debounce window.
	back := tb.timeout + 300
	for now := uint32(0); now < back; now += 10 {
		if recs := take(s, now); len(recs) != 0 {
			t.Fatalf("records during the flap: %+v", recs)
		}
	}
	if _, _, r := s.Lookup(slot); r != LookupOK {
		t.Fatalf("lingering session not accepted: %v", r)
	}
	s.Accept(idx, 2, back, true, back)
	for now := back; now < back+2*tb.timeout; now += 10 {
		if now%1000 == 0 {
			s.Accept(idx, 3+now, now, true, now)
		}
		if recs := take(s, now); len(recs) != 0 {
			t.Fatalf("records after a flap inside debounce: %+v", recs)
		}
	}
}

func TestByeIsImmediateAndSlotGenerationChanges(t *testing.T) {
	tb := newTestTable(t, 1, 1) // one slot: the next session must reuse it
	s := tb.Shard(0)
	old := hello(t, s, 1, 1, 1, 0)
	idx := beat(t, s, old, 1, 0, true, 0)
	if recs := take(s, 0); len(recs) != 1 || recs[0].Kind != feed.KindOnline {
		t.Fatalf("after the first heartbeat: %+v", recs)
	}
	s.Bye(idx, 2, 5, 5)
	recs := take(s, 5)
	if len(recs) != 1 || recs[0].Kind != feed.KindOffline || recs[0].At != tb.UnixMilli(5) {
		t.Fatalf("BYE: %+v", recs)
	}
	if _, _, r := s.Lookup(old); r != LookupExpired {
		t.Fatalf("after BYE lookup = %v, want expired", r)
	}
	// The slot index is held until the wheel lets go of it.
	if _, _, res, _ := s.Hello(HelloParams{User: 2, Device: 1}, 6); res != HelloFull {
		t.Fatalf("hello while the only slot is held: %v", res)
	}
	take(s, tb.timeout+10)
	if _, _, r := s.Lookup(old); r != LookupExpired {
		t.Fatalf("after the slot was let go, before reuse, lookup = %v, want expired (REHELLO 2)", r)
	}
	fresh := hello(t, s, 2, 1, 1, tb.timeout+10)
	if _, i1, _ := tb.layout.split(fresh); i1 != idx {
		t.Fatalf("slot index not reused")
	}
	if fresh == old {
		t.Fatal("reused slot has the same generation")
	}
	if _, _, r := s.Lookup(old); r != LookupUnknown {
		t.Fatalf("old generation lookup = %v, want unknown", r)
	}
}

func TestStatusChangeAndCoalescing(t *testing.T) {
	tb := newTestTable(t, 1, 8)
	s := tb.Shard(0)
	slot := hello(t, s, 9, 1, 1, 0)
	idx := beat(t, s, slot, 1, 0, true, 0)
	if recs := take(s, 0); len(recs) != 1 || recs[0].Kind != feed.KindOnline || recs[0].Status != feed.StatusActive {
		t.Fatalf("online: %+v", recs)
	}
	s.Accept(idx, 2, 10, false, 10)
	if recs := take(s, 10); len(recs) != 1 || recs[0].Kind != feed.KindStatus || recs[0].Status != feed.StatusAway {
		t.Fatalf("status: %+v", recs)
	}
	// Away then active again before the tick: latest state wins, and it equals what the
	// feed already knows, so nothing is sent.
	s.Accept(idx, 3, 20, true, 20)
	s.Accept(idx, 4, 21, false, 21)
	s.Accept(idx, 5, 22, false, 22)
	if recs := take(s, 22); len(recs) != 0 {
		t.Fatalf("coalesced away->active->away sent %+v, want nothing", recs)
	}
}

func TestMultiDeviceAndRehello(t *testing.T) {
	tb := newTestTable(t, 2, 16)
	a, b := tb.Shard(0), tb.Shard(1)
	s1 := hello(t, a, 5, 1, 10, 0)
	s2 := hello(t, b, 5, 2, 10, 0) // same user, second device, other shard
	if s1 == s2 {
		t.Fatal("two devices share a slot")
	}
	// The same (user, device) arriving at the other shard is handed over.
	if _, _, res, owner := b.Hello(HelloParams{User: 5, Device: 1, Stamp: 11}, 1); res != HelloForeign || owner != 0 {
		t.Fatalf("foreign hello: %v %d", res, owner)
	}
	// Same HELLO again: retransmit, same slot.
	p := HelloParams{User: 5, Device: 1, K0: 5, K1: 1, Active: true, Stamp: 10}
	if slot, base, res, _ := a.Hello(p, 50); res != HelloRetransmit || slot != s1 || base != 0 {
		t.Fatalf("retransmit: %v slot %x base %d", res, slot, base)
	}
	// Older stamp (a replayed HELLO): refused.
	p.Stamp = 9
	if _, _, res, _ := a.Hello(p, 60); res != HelloStale {
		t.Fatalf("replayed older hello: %v", res)
	}
	// Newer stamp: the same session restarted under a new slot (new generation), so the
	// old slot, and every frame captured on it, is dead.
	p.Stamp, p.K0 = 12, 99
	slot, base, res, _ := a.Hello(p, 70)
	if res != HelloRefound || slot == s1 || base != 70 {
		t.Fatalf("refound: %v slot %x (old %x) base %d", res, slot, s1, base)
	}
	if _, _, r := a.Lookup(s1); r != LookupUnknown {
		t.Fatalf("old slot after a re-HELLO: %v, want unknown", r)
	}
	_, sess, _ := a.Lookup(slot)
	if sess.K0 != 99 || sess.LastSeq != 0 {
		t.Fatal("re-HELLO did not re-key the session")
	}
	// The index follows: the next HELLO finds the session under its new slot.
	p.Stamp = 13
	again, _, res, _ := a.Hello(p, 80)
	if res != HelloRefound || again == slot || again == s1 {
		t.Fatalf("second re-HELLO: %v slot %x", res, again)
	}
	// No heartbeat yet on either device: nothing is reported.
	if ra, rb := take(a, 80), take(b, 80); len(ra) != 0 || len(rb) != 0 {
		t.Fatalf("before the first heartbeats: %+v %+v", ra, rb)
	}
	beat(t, a, again, 1, 0, true, 90)
	beat(t, b, s2, 1, 9, true, 90)
	ra, rb := take(a, 90), take(b, 90)
	if len(ra) != 1 || len(rb) != 1 || ra[0].Kind != feed.KindOnline || rb[0].Kind != feed.KindOnline ||
		ra[0].Device != 1 || rb[0].Device != 2 {
		t.Fatalf("want one ONLINE per device, got %+v %+v", ra, rb)
	}
}

func TestSnapshotListsOnlineSessions(t *testing.T) {
	tb := newTestTable(t, 1, 128)
	s := tb.Shard(0)
	for u := uint64(1); u <= 100; u++ {
		beat(t, s, hello(t, s, u, 1, 1, 0), 1, 0, true, 0)
	}
	take(s, 0)
	idx := beat(t, s, hello(t, s, 1000, 1, 1, 1), 1, 0, true, 1)
	s.Bye(idx, 2, 1, 1)
	tb.RequestSnapshot()
	s.Tick(2)
	if !s.out.HasSnapshot || !s.out.SnapshotDone || len(s.out.Snapshot) != 100 {
		t.Fatalf("snapshot: has=%v done=%v n=%d", s.out.HasSnapshot, s.out.SnapshotDone, len(s.out.Snapshot))
	}
	for _, r := range s.out.Snapshot {
		if r.User == 1000 {
			t.Fatal("snapshot lists a session that said BYE")
		}
	}
}

func TestIndexAgainstMap(t *testing.T) {
	tb := newTestTable(t, 1, 512)
	s := tb.Shard(0)
	r := rand.New(rand.NewPCG(1, 2))
	live := map[[2]uint64]Slot{}
	now := uint32(0) // the wheel stays still: only HELLO, BYE and publishing change the index
	for step := 0; step < 20000; step++ {
		u, d := r.Uint64N(64), uint32(r.IntN(8))
		k := [2]uint64{u, uint64(d)}
		if slot, ok := live[k]; ok && r.IntN(2) == 0 {
			idx, _, res := s.Lookup(slot)
			if res != LookupOK {
				t.Fatalf("step %d: live slot lookup %v", step, res)
			}
			s.Bye(idx, 1, 1, now)
			delete(live, k)
			continue
		}
		slot, _, res, _ := s.Hello(HelloParams{User: u, Device: d, Stamp: uint32(step + 1)}, now)
		if res == HelloFull {
			continue
		}
		if old, ok := live[k]; ok {
			// A re-HELLO keeps the session where it is, under a new generation.
			osh, oidx, _ := tb.layout.split(old)
			nsh, nidx, _ := tb.layout.split(slot)
			if res != HelloRefound || osh != nsh || oidx != nidx || old == slot {
				t.Fatalf("step %d: (%d,%d) re-HELLO %v: slot %x -> %x", step, u, d, res, old, slot)
			}
		}
		live[k] = slot
		if step%7 == 0 {
			take(s, now)
		}
	}
	take(s, now)
	tb.index.mu.Lock()
	defer tb.index.mu.Unlock()
	for k, slot := range live {
		if got, ok := tb.index.find(k[0], uint32(k[1])); !ok || got != slot {
			t.Fatalf("index lost (%d,%d): %x %v want %x", k[0], k[1], got, ok, slot)
		}
	}
}

func TestHotPathDoesNotAllocate(t *testing.T) {
	tb := newTestTable(t, 1, 1024)
	s := tb.Shard(0)
	var slots []Slot
	for u := uint64(0); u < 1000; u++ {
		slots = append(slots, hello(t, s, u, 1, 1, 0))
	}
	take(s, 0)
	now, seq := uint32(0), uint32(0)
	allocs := testing.AllocsPerRun(50, func() {
		now += 10
		seq++
		for _, slot := range slots {
			idx, _, r := s.Lookup(slot)
			if r != LookupOK {
				t.Fatal(r)
			}
			s.Accept(idx, seq, now, seq%2 == 0, now)
		}
		s.Tick(now)
		s.out.Done()
	})
	if allocs != 0 {
		t.Fatalf("heartbeat path allocates %.1f times per 1000 heartbeats", allocs)
	}
}

// TestBytesPerSession measures the table's memory at 1M sessions: sessions, the index and
// the wheels, everything New allocates, divided by the sessions held.
func TestBytesPerSession(t *testing.T) {
	const n = 1 << 20
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	tb := newTestTable(t, 2, n/2)
	for i := 0; i < n; i++ {
		s := tb.Shard(i & 1)
		slot, _, res, _ := s.Hello(HelloParams{User: uint64(i), Device: uint32(i % 3), Stamp: 1}, 0)
		if res != HelloNew {
			t.Fatalf("session %d: %v", i, res)
		}
		idx, _, _ := s.Lookup(slot)
		s.Accept(idx, 1, 0, false, 0) // confirmed, so publishing below fills the batch buffers
	}
	for i := 0; i < 2; i++ { // publish everything, so the reusable batch buffers are measured too
		for tb.Shard(i).Tick(0); tb.Shard(i).out.Ready(); tb.Shard(i).Tick(0) {
			tb.Shard(i).out.Done()
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("1M sessions: %.1f bytes/session (Session struct %d B + index)", per, sizeofSession)
	if per > 64 {
		t.Fatalf("%.1f bytes/session, target <= 64", per)
	}
	runtime.KeepAlive(tb)
}

// A gateway started with -grace 0 -debounce 0 means none of either, not the defaults
// (the conformance suite found sessions living 9 s instead of 2 s).
func TestZeroGraceAndDebounceMeanNone(t *testing.T) {
	tb, err := New(Options{Interval: time.Second, Misses: 2, Grace: None(0), Debounce: None(0)})
	if err != nil {
		t.Fatal(err)
	}
	if tb.Timeout() != 2*time.Second || tb.Debounce() != 0 {
		t.Fatalf("timeout %v debounce %v, want 2s and 0", tb.Timeout(), tb.Debounce())
	}
	def, err := New(Options{Interval: time.Second, Misses: 2})
	if err != nil {
		t.Fatal(err)
	}
	if def.Timeout() != 4*time.Second || def.Debounce() != 5*time.Second {
		t.Fatalf("defaults: timeout %v debounce %v, want 4s and 5s", def.Timeout(), def.Debounce())
	}
	if None(3*time.Second) != 3*time.Second {
		t.Fatal("None changed a non-zero duration")
	}
}
