package ingest

import (
	"testing"
	"time"

	"heartline/protocol/hl1"
)

// A heartbeat of a session that expired by silence is answered with REHELLO 2 (session
// expired), also once the table has let go of the slot, until its index serves another
// session (then the slot is unknown: REHELLO 1).
func TestHeartbeatAfterExpiryIsRehello2(t *testing.T) {
	e := newEnv(t, 1)
	c := e.connect(t, 5, 1)
	e.send(c.beat(e.now, true, false))
	silence := 10*time.Second*3 + 2*time.Second + 5*time.Second // interval x misses + grace + debounce
	for end := e.now.Add(silence + time.Second); e.now.Before(end); e.now = e.now.Add(100 * time.Millisecond) {
		publish(e) // the wheel takes the session offline, the feed batch lets go of the slot
	}
	n := len(e.rec.frames)
	e.send(c.beat(e.now, true, false))
	if len(e.rec.frames) != n+1 {
		t.Fatalf("no answer to a heartbeat after expiry (drops %v)", e.dropSummary())
	}
	if r, err := hl1.ParseRehello(e.rec.last()); err != nil || r.Slot != c.slot || r.Reason != hl1.RehelloExpired {
		t.Fatalf("got %+v %v, want REHELLO 2 for slot %d", r, err, c.slot)
	}
	if e.h.Stats.Drops(ReasonExpired) != 1 || e.h.Stats.Drops(ReasonUnknownSlot) != 0 {
		t.Fatalf("drops %v, want one expired", e.dropSummary())
	}
}
