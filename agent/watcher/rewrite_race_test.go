package watcher

import (
	"testing"

	"github.com/hashicorp/consul/api"

	"heartline/protocol/presencekv"
)

// raceWatcher is a watcher whose Consul reads are driven by hand: the test hands it
// listings through applyChanges and applyRead, as follow and readBuckets would.
func raceWatcher(t *testing.T) *Watcher {
	t.Helper()
	c, err := api.NewClient(api.DefaultConfig()) // never used: no Run
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(Options{Client: c, Prefix: "hlr"})
	if err != nil {
		t.Fatal(err)
	}
	w.buckets = 16
	return w
}

func changeKey(t *testing.T, gw string, lane int, epoch uint64, modify uint64, entries ...presencekv.ChangeEntry) *api.KVPair {
	t.Helper()
	var c presencekv.Codec
	return &api.KVPair{Key: presencekv.ChangesKey("hlr", gw, lane), ModifyIndex: modify,
		Value: c.AppendChangeRecord(nil, &presencekv.ChangeRecord{Epoch: epoch, Entries: entries})}
}

func presenceKey(t *testing.T, gw string, bucket uint32, modify uint64, users ...uint64) *api.KVPair {
	t.Helper()
	var c presencekv.Codec
	var ss []presencekv.Session
	for _, u := range users {
		ss = append(ss, presencekv.Session{User: u, Device: 1, Status: StatusActive, Since: 5})
	}
	v, err := c.AppendSessions(nil, ss)
	if err != nil {
		t.Fatal(err)
	}
	return &api.KVPair{Key: presencekv.PresenceKey("hlr", bucket, gw), ModifyIndex: modify, Value: v}
}

// userInLane returns a user whose bucket (of 16) belongs to lane (of 2).
func userInLane(lane int, after uint64) (uint64, uint32) {
	for u := after + 1; ; u++ {
		if b := presencekv.Bucket(u, 16); int(b)%2 == lane {
			return u, b
		}
	}
}

// F1 (chaos findings): a restarted agent rewrites its lanes one transaction at a time. A
// listing taken between two lane commits shows the new session's lane 0 but not yet lane
// 1. That must not sweep the sessions lane 0 just rewrote, and the re-read that follows
// must leave them online whatever the keys' ModifyIndexes; once lane 1 commits, everything
// is online again.
func TestSweepRacingALaneRewriteLeavesRewrittenSessionsOnline(t *testing.T) {
	w := raceWatcher(t)
	u0, b0 := userInLane(0, 0)
	u1, b1 := userInLane(1, 0)
	on := func(u uint64) presencekv.Transition {
		return presencekv.Transition{Kind: presencekv.KindOnline, User: u, Device: 1, Status: StatusActive, At: 5}
	}
	// Old session (epoch 1): both users online, one per lane.
	w.applyChanges(api.KVPairs{
		changeKey(t, "gw1", 0, 1, 100, presencekv.ChangeEntry{Seq: 1, Transitions: []presencekv.Transition{on(u0)}}),
		changeKey(t, "gw1", 1, 1, 101, presencekv.ChangeEntry{Seq: 1, Transitions: []presencekv.Transition{on(u1)}}),
	}, 101)
	if !w.Lookup(u0).Online || !w.Lookup(u1).Online {
		t.Fatal("setup: users not online")
	}
	// The old session is destroyed (index 150) and the new one (epoch 2) has rewritten lane
	// 0 at 190 (Incomplete, as the agent's rewrite is); a churn commit on another gateway
	// moved the index to 200 before the watcher's blocking query returned.
	resync := w.applyChanges(api.KVPairs{
		changeKey(t, "gw1", 0, 2, 190, presencekv.ChangeEntry{Seq: 1, Incomplete: true}),
		changeKey(t, "gw2", 0, 7, 200, presencekv.ChangeEntry{Seq: 1}),
	}, 200)
	if !resync {
		t.Fatal("a gateway that lost lanes and rewrote others did not ask for a re-read")
	}
	// The re-read, at index 200: lane 0's bucket (written at 190) is there, lane 1's not yet.
	w.applyRead(api.KVPairs{presenceKey(t, "gw1", b0, 190, u0)}, 200, func(uint64, string) bool { return true })
	if !w.Lookup(u0).Online {
		t.Fatalf("user %d, rewritten by lane 0 at 190 and present in the read at 200, is offline: %+v", u0, w.Lookup(u0))
	}
	if w.Lookup(u1).Online {
		t.Fatalf("user %d, absent from the read at 200, is still online", u1)
	}
	// Lane 1 commits its rewrite at 210; the watcher re-reads at 210.
	resync = w.applyChanges(api.KVPairs{
		changeKey(t, "gw1", 0, 2, 190, presencekv.ChangeEntry{Seq: 1, Incomplete: true}),
		changeKey(t, "gw1", 1, 2, 210, presencekv.ChangeEntry{Seq: 1, Incomplete: true}),
		changeKey(t, "gw2", 0, 7, 200, presencekv.ChangeEntry{Seq: 1}),
	}, 210)
	if !resync {
		t.Fatal("lane 1's Incomplete rewrite did not ask for a re-read")
	}
	w.applyRead(api.KVPairs{presenceKey(t, "gw1", b0, 190, u0), presenceKey(t, "gw1", b1, 210, u1)}, 210,
		func(uint64, string) bool { return true })
	if !w.Lookup(u0).Online || !w.Lookup(u1).Online {
		t.Fatalf("after both lanes rewrote: user %d %+v, user %d %+v; want both online", u0, w.Lookup(u0), u1, w.Lookup(u1))
	}
}

// A gateway whose every change key vanished lost its session: its sessions go offline at
// once, without a re-read.
func TestGatewayWithNoKeysLeftIsSwept(t *testing.T) {
	w := raceWatcher(t)
	u0, _ := userInLane(0, 0)
	w.applyChanges(api.KVPairs{
		changeKey(t, "gw1", 0, 1, 100, presencekv.ChangeEntry{Seq: 1, Transitions: []presencekv.Transition{{Kind: presencekv.KindOnline, User: u0, Device: 1, Status: 2, At: 5}}}),
	}, 100)
	if resync := w.applyChanges(api.KVPairs{changeKey(t, "gw2", 0, 7, 120, presencekv.ChangeEntry{Seq: 1})}, 120); resync {
		t.Fatal("a gateway that is simply gone asked for a re-read")
	}
	if w.Lookup(u0).Online {
		t.Fatal("the sessions of a gateway with no change keys left are still online")
	}
}
