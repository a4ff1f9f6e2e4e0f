package driver

import (
	"testing"
	"time"
)

// TestMoveBackWaitsForTheConfirmInstantButLeavingIsImmediate checks the routing policy the
// bed's apps follow: a session still on a passing gateway moves to a better one only at its
// next confirm instant (phase + k*ConfirmEvery after it noticed), while a session whose
// gateway the catalog stopped listing moves at once; a draining gateway (warning: out of the
// passing list, still live) is left when it says so, not at once.
func TestMoveBackWaitsForTheConfirmInstantButLeavingIsImmediate(t *testing.T) {
	every := 10 * time.Second
	d := &Driver{o: Options{GatewayIDs: []string{"gw1", "gw2"}, ConfirmEvery: every}}
	d.gw, d.phase, d.confirmAt = []int8{1}, []int64{int64(3 * time.Second)}, []int64{0}
	w := &worker{d: d}
	both := []string{"gw1", "gw2"}
	d.healthy.Store(&both)
	d.live.Store(&both)

	at := func(s float64) int64 { return int64(s * float64(time.Second)) }
	// Noticed at 14 s: instants are 3, 13, 23 ... so it waits for 23 s.
	for _, s := range []float64{14, 18, 22.9} {
		if w.shouldMove(0, at(s)) {
			t.Fatalf("moved back at %vs, before the confirm instant 23s", s)
		}
	}
	if !w.shouldMove(0, at(23)) {
		t.Fatal("did not move back at the confirm instant 23s")
	}

	// Its gateway (gw2) drains: out of the passing list but live. No move at once.
	d.confirmAt[0] = 0
	only1 := []string{"gw1"}
	d.healthy.Store(&only1)
	if w.shouldMove(0, at(24)) {
		t.Fatal("left a draining gateway at once instead of when it asks (REHELLO 4)")
	}

	// Its gateway fails (critical): leave at once, whatever the instant.
	d.confirmAt[0] = 0
	d.live.Store(&only1)
	if !w.shouldMove(0, at(24)) {
		t.Fatal("stayed on a gateway the catalog no longer lists")
	}
	d.live.Store(&both)

	// Negative ConfirmEvery: move back at once (the old eager behaviour).
	d.healthy.Store(&both)
	d.confirmAt[0], d.o.ConfirmEvery = 0, -1
	if !w.shouldMove(0, at(24)) {
		t.Fatal("ConfirmEvery < 0 must move back at once")
	}
}
