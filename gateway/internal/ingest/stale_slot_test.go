package ingest

import (
	"testing"
	"time"

	"heartline/gateway/internal/table"
	"heartline/protocol/hl1"
)

// TestStaleSlotAfterARestartIsToldToRehello is the persistent lost-online of the chaos bed's
// rolling restart (issue 20): a gateway restarted faster than the catalog noticed, so an app
// kept heartbeating on the slot the previous process had given it. The new process had
// given that very slot to another member; the app's frames failed the MAC and were dropped
// without a word, so the app never said HELLO again and stayed offline while it heartbeated
// for minutes. A heartbeat that fails its MAC on a live slot must get REHELLO.
func TestStaleSlotAfterARestartIsToldToRehello(t *testing.T) {
	before := newEnv(t, 1) // the gateway's previous run
	stale := before.connect(t, 42, 1)
	before.now = before.now.Add(time.Second)
	before.send(stale.beat(before.now, true, false))

	// The restarted process (same slot layout, same generation base: the 1 in 255 case a
	// random base does not prevent) gives the same slot to another member.
	after := newEnv(t, 1)
	other := after.connect(t, 77, 1)
	if other.slot != stale.slot {
		t.Fatalf("test setup: the new process gave slot %x, want the stale app's %x", other.slot, stale.slot)
	}

	after.now = after.now.Add(2 * time.Second)
	n := len(after.rec.frames)
	after.send(stale.beat(after.now, true, false))
	if after.h.Stats.Drops(ReasonBadMAC) != 1 {
		t.Fatalf("the stale heartbeat was not dropped as bad_mac: %v", after.dropSummary())
	}
	if len(after.rec.frames) != n+1 {
		t.Fatalf("the stale app got no answer: it would heartbeat into another member's slot for ever")
	}
	r, err := hl1.ParseRehello(after.rec.last())
	if err != nil || r.Slot != stale.slot || r.Reason != hl1.RehelloUnknownSlot {
		t.Fatalf("answer % x (%v), want REHELLO slot %x reason 1", after.rec.last(), err, stale.slot)
	}

	// The member who owns the slot now is untouched.
	after.send(other.beat(after.now, true, false))
	if got := after.h.Stats.Heartbeats.Load(); got != 1 {
		t.Fatalf("the slot's owner: %d heartbeats accepted, want 1 (%v)", got, after.dropSummary())
	}
}

// TestARestartedGatewayDoesNotReissueItsPreviousSlots: with the process epoch in the table's
// options, the first slots of two runs differ, so most stale slots are simply unknown.
func TestARestartedGatewayDoesNotReissueItsPreviousSlots(t *testing.T) {
	first := func(epoch uint32) uint32 {
		tb, err := table.New(table.Options{Shards: 2, SessionsPerShard: 1024, Start: t0, Epoch: epoch})
		if err != nil {
			t.Fatal(err)
		}
		slot, _, res, _ := tb.Shard(0).Hello(table.HelloParams{User: 1, Device: 1, K0: 1, K1: 2, Stamp: 1}, tb.Tick(t0))
		if res != table.HelloNew {
			t.Fatalf("hello: %v", res)
		}
		return slot
	}
	a, b := first(0x9A3F_10C2), first(0x51E7_44D8)
	if a == b {
		t.Fatalf("two runs with different epochs both gave slot %x first", a)
	}
	const shardAndIndex = 1<<11 - 1 // 2 shards x 1024 sessions: 1 + 10 bits
	if a&shardAndIndex != b&shardAndIndex {
		t.Fatalf("slots %x and %x differ in shard or index, want only the generation to differ", a, b)
	}
}

// TestStaleSlotBehindTheNewSessionsSeqIsToldToRehello: the same situation, but the slot's new
// owner has sent more heartbeats than the stale app, so the stale frame's seq reconstructs
// at or below the owner's last seq. It used to be dropped as a replay, silently, before its
// tag was even checked (found by the model-based test in scripts/chaos/model).
func TestStaleSlotBehindTheNewSessionsSeqIsToldToRehello(t *testing.T) {
	before := newEnv(t, 1)
	stale := before.connect(t, 42, 1)
	after := newEnv(t, 1)
	other := after.connect(t, 77, 1)
	if other.slot != stale.slot {
		t.Fatalf("test setup: slots %x and %x differ", other.slot, stale.slot)
	}
	for i := 0; i < 10; i++ {
		after.now = after.now.Add(time.Second)
		after.send(other.beat(after.now, true, false))
	}
	n := len(after.rec.frames)
	after.send(stale.beat(after.now, true, false)) // seq 1, behind the owner's 10
	if after.h.Stats.Drops(ReasonReplay) != 0 || after.h.Stats.Drops(ReasonBadMAC) != 1 {
		t.Fatalf("the stale frame was counted as %v, want bad_mac (it is not this session's)", after.dropSummary())
	}
	if len(after.rec.frames) != n+1 {
		t.Fatal("the stale app got no answer")
	}
	if r, err := hl1.ParseRehello(after.rec.last()); err != nil || r.Slot != stale.slot || r.Reason != hl1.RehelloUnknownSlot {
		t.Fatalf("answer % x (%v), want REHELLO 1 for slot %x", after.rec.last(), err, stale.slot)
	}
}
