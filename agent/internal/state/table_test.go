package state

import (
	"testing"

	"heartline/protocol/presencekv"
)

func on(u uint64, d uint32, st uint8, at int64) presencekv.Transition {
	return presencekv.Transition{Kind: presencekv.KindOnline, User: u, Device: d, Status: st, At: at}
}

func off(u uint64, d uint32, at int64) presencekv.Transition {
	return presencekv.Transition{Kind: presencekv.KindOffline, User: u, Device: d, Status: 2, At: at}
}

func takeAll(t *Table) []Work {
	var w []Work
	for l := 0; l < t.Lanes(); l++ {
		w = t.Take(l, 1<<20, w)
	}
	return w
}

func TestTransitionsCoalescePerSession(t *testing.T) {
	tb := New(16, 2, 0)
	tb.Apply(on(1, 1, 1, 10))
	tb.Apply(on(1, 1, 2, 11)) // status change of an online session
	tb.Apply(on(1, 1, 2, 12)) // no change: ignored
	tb.Apply(on(2, 1, 1, 13))
	tb.Apply(off(2, 1, 14))
	work := takeAll(tb)
	trs := map[uint64]presencekv.Transition{}
	for _, w := range work {
		for _, tr := range w.Transitions {
			trs[tr.User] = tr
		}
	}
	if len(trs) != 2 || trs[1].Kind != presencekv.KindStatus || trs[1].Status != 2 || trs[2].Kind != presencekv.KindOffline {
		t.Fatalf("coalesced transitions = %+v", trs)
	}
	if s := tb.Sessions(1); len(s) != 1 || s[0].Since != 10 || s[0].Status != 2 {
		t.Fatalf("session of user 1 = %+v; want since 10 (first online), status 2", s)
	}
	if tb.Dirty() != 0 {
		t.Fatalf("%d buckets dirty after taking all", tb.Dirty())
	}
}

func TestDirtySetIsBoundedByBucketCount(t *testing.T) {
	tb := New(8, 3, 0)
	for u := uint64(0); u < 10000; u++ {
		tb.Apply(on(u, 1, 1, 1))
	}
	if tb.Dirty() > 8 {
		t.Fatalf("%d dirty buckets for 8 buckets", tb.Dirty())
	}
	work := takeAll(tb)
	if len(work) != 8 {
		t.Fatalf("took %d buckets, want 8", len(work))
	}
	tb.Requeue(work)
	tb.Requeue(work)
	if tb.Dirty() != 8 {
		t.Fatalf("requeueing twice made %d dirty, want 8", tb.Dirty())
	}
}

func TestRequeueNeverOverwritesNewer(t *testing.T) {
	tb := New(4, 1, 0)
	tb.Apply(on(1, 1, 1, 10))
	failed := takeAll(tb)   // a txn with "online" fails ...
	tb.Apply(off(1, 1, 20)) // ... while the session goes offline
	tb.Requeue(failed)
	work := takeAll(tb)
	if len(work) != 1 || len(work[0].Sessions) != 0 {
		t.Fatalf("retry would write %+v; want the current (empty) bucket", work)
	}
	if len(work[0].Transitions) != 1 || work[0].Transitions[0].Kind != presencekv.KindOffline {
		t.Fatalf("retry transitions %+v; want only the newer offline", work[0].Transitions)
	}
	if len(work[0].Offline) != 1 || work[0].Offline[0].At != 20 {
		t.Fatalf("last seen %+v; want user 1 at 20", work[0].Offline)
	}
}

func TestReplaceRecordsTheDifference(t *testing.T) {
	tb := New(16, 1, 0)
	tb.ApplyAll([]presencekv.Transition{on(1, 1, 1, 1), on(2, 1, 1, 1), on(3, 1, 1, 1)})
	takeAll(tb)
	tb.Replace([]presencekv.Session{{User: 2, Device: 1, Status: 1, Since: 1}, {User: 3, Device: 1, Status: 2, Since: 1}, {User: 4, Device: 9, Status: 1, Since: 5}}, 100)
	kinds := map[uint64]uint8{}
	var lastSeen []presencekv.LastSeen
	for _, w := range takeAll(tb) {
		for _, tr := range w.Transitions {
			kinds[tr.User] = tr.Kind
		}
		lastSeen = append(lastSeen, w.Offline...)
	}
	want := map[uint64]uint8{1: presencekv.KindOffline, 3: presencekv.KindStatus, 4: presencekv.KindOnline}
	if len(kinds) != len(want) {
		t.Fatalf("transitions %v, want %v", kinds, want)
	}
	for u, k := range want {
		if kinds[u] != k {
			t.Fatalf("transitions %v, want %v", kinds, want)
		}
	}
	if len(lastSeen) != 1 || lastSeen[0] != (presencekv.LastSeen{User: 1, At: 100}) {
		t.Fatalf("last seen %v; want user 1 at 100", lastSeen)
	}
	if tb.Count() != 3 {
		t.Fatalf("count %d", tb.Count())
	}
}

func TestNotifyWhenEnoughBucketsAreDirty(t *testing.T) {
	tb := New(64, 1, 3)
	tb.Apply(on(1, 1, 1, 1))
	select {
	case <-tb.Notify():
		t.Fatal("notified with one dirty bucket")
	default:
	}
	for u := uint64(2); tb.Dirty() < 3; u++ {
		tb.Apply(on(u, 1, 1, 1))
	}
	select {
	case <-tb.Notify():
	default:
		t.Fatal("not notified with 3 dirty buckets")
	}
}
