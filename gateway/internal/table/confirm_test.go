package table

import (
	"testing"

	"heartline/protocol/feed"
)

// A session is reported online at its first heartbeat (flagConfirmed), not at HELLO: a
// WELCOME the app never got, or got after it had moved on to another gateway, must not show
// the member online here.

// snapshotUsers requests a snapshot, publishes it at tick now (one part: the tests' tables
// are small) and returns the users it lists.
func snapshotUsers(t *testing.T, tb *Table, s *Shard, now uint32) map[uint64]feed.Record {
	t.Helper()
	tb.RequestSnapshot()
	s.Tick(now)
	if !s.out.HasSnapshot || !s.out.SnapshotDone {
		t.Fatalf("snapshot not published in one part: has=%v done=%v", s.out.HasSnapshot, s.out.SnapshotDone)
	}
	got := map[uint64]feed.Record{}
	for _, r := range s.out.Snapshot {
		got[r.User] = r
	}
	if len(s.out.Records) != 0 {
		t.Fatalf("records published with the snapshot: %+v", s.out.Records)
	}
	s.out.Done()
	return got
}

func TestUnconfirmedSessionIsNeverReported(t *testing.T) {
	tb := newTestTable(t, 1, 2) // two slots: the orphan's must come back after it expires
	s := tb.Shard(0)
	orphan := hello(t, s, 1, 1, 1, 0) // its WELCOME never reached the app
	live := hello(t, s, 2, 1, 1, 0)
	beat(t, s, live, 1, 0, true, 0)
	if recs := take(s, 0); len(recs) != 1 || recs[0].User != 2 || recs[0].Kind != feed.KindOnline {
		t.Fatalf("want one ONLINE, of the heartbeating session only: %+v", recs)
	}
	if snap := snapshotUsers(t, tb, s, 1); len(snap) != 1 || snap[2].Kind != feed.KindOnline {
		t.Fatalf("snapshot lists %+v, want only user 2", snap)
	}
	if tb.Online() != 1 {
		t.Fatalf("online gauge %d, want 1: a session is online from its first heartbeat, the orphan never had one", tb.Online())
	}
	// The orphan expires silently; the live session keeps beating.
	end := tb.timeout + tb.debounce + 2*uint32(tb.opts.WheelTick/TickDuration)
	for now := uint32(10); now <= end; now += 10 {
		if now%1000 == 0 {
			beat(t, s, live, 1+now/1000, now, true, now)
		}
		if recs := take(s, now); len(recs) != 0 {
			t.Fatalf("records at tick %d: %+v", now, recs)
		}
	}
	if _, _, r := s.Lookup(orphan); r == LookupOK {
		t.Fatal("orphan session still accepted after timeout + debounce")
	}
	if tb.Online() != 1 {
		t.Fatalf("online gauge %d after the orphan expired, want 1", tb.Online())
	}
	if snap := snapshotUsers(t, tb, s, end+10); len(snap) != 1 || snap[2].Kind != feed.KindOnline {
		t.Fatalf("snapshot after the orphan expired lists %+v, want only user 2", snap)
	}
	// Its slot was let go: a new member fits in the two-slot table.
	take(s, end+20)
	if _, _, res, _ := s.Hello(HelloParams{User: 3, Device: 1, Stamp: 1}, end+20); res != HelloNew {
		t.Fatalf("HELLO after the orphan expired: %v, want a new session in its slot", res)
	}
}

func TestFirstHeartbeatReportsOnlineOnce(t *testing.T) {
	tb := newTestTable(t, 1, 8)
	s := tb.Shard(0)
	slot := hello(t, s, 5, 3, 1, 0) // HELLO says active
	if recs := take(s, 0); len(recs) != 0 {
		t.Fatalf("after HELLO: %+v", recs)
	}
	// The first heartbeat says away: one ONLINE with the heartbeat's status and time, not an
	// ONLINE active followed by a STATUS.
	idx := beat(t, s, slot, 1, 25, false, 25)
	recs := take(s, 30)
	if len(recs) != 1 || recs[0].Kind != feed.KindOnline || recs[0].User != 5 || recs[0].Device != 3 ||
		recs[0].Status != feed.StatusAway || recs[0].At != tb.UnixMilli(25) {
		t.Fatalf("after the first heartbeat: %+v (want one ONLINE away at %d)", recs, tb.UnixMilli(25))
	}
	for i := uint32(2); i <= 5; i++ {
		s.Accept(idx, i, 25+i*1000, false, 25+i*1000)
		if recs := take(s, 25+i*1000); len(recs) != 0 {
			t.Fatalf("heartbeat %d: %+v", i, recs)
		}
	}
	if snap := snapshotUsers(t, tb, s, 6000); len(snap) != 1 || snap[5].Status != feed.StatusAway {
		t.Fatalf("snapshot: %+v", snap)
	}
}

func TestRehelloOfConfirmedSessionIsSilent(t *testing.T) {
	tb := newTestTable(t, 1, 8)
	s := tb.Shard(0)
	first := hello(t, s, 8, 1, 10, 0)
	beat(t, s, first, 1, 0, true, 0)
	if recs := take(s, 0); len(recs) != 1 || recs[0].Kind != feed.KindOnline {
		t.Fatalf("after the first heartbeat: %+v", recs)
	}
	// The app re-HELLOs (newer stamp, same status): a new slot, no OFFLINE/ONLINE pair, and
	// the member stays listed while the new WELCOME is on its way.
	second := hello(t, s, 8, 1, 20, 500)
	if second == first {
		t.Fatal("re-HELLO kept the slot")
	}
	if recs := take(s, 500); len(recs) != 0 {
		t.Fatalf("re-HELLO of a reported session produced %+v", recs)
	}
	if snap := snapshotUsers(t, tb, s, 510); len(snap) != 1 || snap[8].Kind != feed.KindOnline {
		t.Fatalf("snapshot after the re-HELLO: %+v", snap)
	}
	idx := beat(t, s, second, 1, 0, true, 600)
	if recs := take(s, 600); len(recs) != 0 {
		t.Fatalf("first heartbeat after the re-HELLO produced %+v", recs)
	}
	// Still reported: when it goes, the feed hears of it.
	s.Bye(idx, 2, 10, 700)
	if recs := take(s, 700); len(recs) != 1 || recs[0].Kind != feed.KindOffline || recs[0].User != 8 {
		t.Fatalf("BYE after the re-HELLO: %+v", recs)
	}
}

func TestRehelloOfConfirmedSessionThatNeverBeatsAgainGoesOffline(t *testing.T) {
	// The re-HELLO keeps the session reported; if the app then goes silent (its WELCOME lost
	// too), silence must still end it with an OFFLINE, or the member stays online forever.
	tb := newTestTable(t, 1, 8)
	s := tb.Shard(0)
	beat(t, s, hello(t, s, 8, 1, 10, 0), 1, 0, true, 0)
	take(s, 0)
	hello(t, s, 8, 1, 20, 500)
	var off []feed.Record
	now := uint32(500)
	for ; now <= 500+tb.timeout+tb.debounce+100 && len(off) == 0; now += 10 {
		off = take(s, now)
	}
	if len(off) != 1 || off[0].Kind != feed.KindOffline || off[0].User != 8 {
		t.Fatalf("silent after a re-HELLO: %+v, want one OFFLINE", off)
	}
	if now-10 < 500+tb.timeout+tb.debounce {
		t.Fatalf("OFFLINE at tick %d, before the re-HELLO's timeout + debounce", now-10)
	}
}

func TestByeOfUnconfirmedSessionIsSilent(t *testing.T) {
	tb := newTestTable(t, 1, 8)
	s := tb.Shard(0)
	slot := hello(t, s, 4, 2, 1, 0)
	if recs := take(s, 0); len(recs) != 0 {
		t.Fatalf("after HELLO: %+v", recs)
	}
	idx, _, r := s.Lookup(slot)
	if r != LookupOK {
		t.Fatalf("lookup: %v", r)
	}
	// A BYE as the first frame (the app logged out right after its WELCOME), after the
	// HELLO was published: nothing to take back.
	s.Bye(idx, 1, 5, 5)
	if recs := take(s, 5); len(recs) != 0 {
		t.Fatalf("BYE of a session never reported online produced %+v", recs)
	}
	if _, _, r := s.Lookup(slot); r != LookupExpired {
		t.Fatalf("after BYE lookup = %v, want expired", r)
	}
	if tb.Online() != 0 {
		t.Fatalf("online gauge %d after BYE", tb.Online())
	}
	if snap := snapshotUsers(t, tb, s, 6); len(snap) != 0 {
		t.Fatalf("snapshot after BYE: %+v", snap)
	}
	// The member logs in again: reported at its first heartbeat, as usual.
	again := hello(t, s, 4, 2, 2, 10)
	beat(t, s, again, 1, 0, true, 10)
	if recs := take(s, 10); len(recs) != 1 || recs[0].Kind != feed.KindOnline {
		t.Fatalf("after a new HELLO and heartbeat: %+v", recs)
	}
}

// sessions_online follows what the spec calls online: not at WELCOME, from the first
// heartbeat; a re-HELLO of an online session keeps it counted; BYE and expiry uncount it.
func TestOnlineGaugeCountsFromTheFirstHeartbeat(t *testing.T) {
	tb := newTestTable(t, 1, 8)
	s := tb.Shard(0)
	slot := hello(t, s, 1, 1, 1, 0)
	if tb.Online() != 0 {
		t.Fatalf("online %d after WELCOME, want 0", tb.Online())
	}
	beat(t, s, slot, 1, 0, true, 0)
	if tb.Online() != 1 {
		t.Fatalf("online %d after the first heartbeat, want 1", tb.Online())
	}
	take(s, 1)
	again := hello(t, s, 1, 1, 2, 2) // re-HELLO (newer stamp): a new slot, still online
	if tb.Online() != 1 {
		t.Fatalf("online %d after a re-HELLO, want 1", tb.Online())
	}
	idx := beat(t, s, again, 1, 0, true, 3)
	s.Bye(idx, 2, 1, 4)
	if tb.Online() != 0 {
		t.Fatalf("online %d after BYE, want 0", tb.Online())
	}
	other := hello(t, s, 2, 1, 1, 5)
	beat(t, s, other, 1, 0, true, 5)
	for now := uint32(5); now <= 5+tb.timeout+tb.debounce+20; now += 10 {
		take(s, now)
	}
	if tb.Online() != 0 {
		t.Fatalf("online %d after expiry, want 0", tb.Online())
	}
}
