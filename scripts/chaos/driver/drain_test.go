package driver

import (
	"testing"

	"heartline/protocol/hl1"
)

// TestDrainingGatewayMovesTheAppMakeBeforeBreak: REHELLO 4 on an established session makes
// the app leave that gateway without a BYE (the draining gateway keeps the member online
// until the session expires there), skip it for its next HELLO, and remember the session
// left behind, as the reference client does.
func TestDrainingGatewayMovesTheAppMakeBeforeBreak(t *testing.T) {
	d, w, fc := newFakeDriver(t)
	welcome := func(slot uint32) hl1.Welcome {
		return hl1.Welcome{Slot: slot, Epoch: 7, IntervalMS: 5000, ServerTimeMS: 1}.Seal(d.key[0], d.nonce[0])
	}
	// Established on its preferred gateway.
	w.mu.Lock()
	first := w.order(0)[0]
	w.sendHello(0, d.mono())
	w.mu.Unlock()
	w.welcomed(first, welcome(0x201))
	if int(d.gw[0]) != first {
		t.Fatalf("not established on gateway %d", first)
	}
	sentBefore := len(fc.sent)

	w.rehelloed(first, hl1.Rehello{Slot: 0x201, Reason: hl1.RehelloDraining})
	if d.state[0] != stIdle || d.gw[0] != -1 {
		t.Fatalf("still on the draining gateway (state %d, gw %d)", d.state[0], d.gw[0])
	}
	if int(d.prev[0].gw) != first || d.prev[0].slot != 0x201 {
		t.Fatalf("the session left behind is not remembered: %+v", d.prev[0])
	}
	if len(fc.sent) != sentBefore {
		t.Fatalf("the move sent %d frames (a BYE would show the member offline)", len(fc.sent)-sentBefore)
	}
	if d.Stats.DrainMoves.Load() != 1 {
		t.Fatalf("drain moves %d", d.Stats.DrainMoves.Load())
	}

	// The next HELLO goes elsewhere, and the WELCOME there completes the move.
	w.mu.Lock()
	if got := w.order(0)[0]; got == first {
		t.Fatalf("the next HELLO would go to the draining gateway %d again", got)
	}
	w.sendHello(0, d.mono())
	next := int(d.target[0])
	w.mu.Unlock()
	w.welcomed(next, welcome(0x301))
	if int(d.gw[0]) != next || next == first || d.prev[0].movedAt == 0 {
		t.Fatalf("after the WELCOME: gw %d (draining %d), prev %+v", d.gw[0], first, d.prev[0])
	}

	// Another reason only forgets the session (nothing left behind to BYE later).
	w.rehelloed(next, hl1.Rehello{Slot: 0x301, Reason: hl1.RehelloUnknownSlot})
	if d.state[0] != stIdle || d.gw[0] != -1 || d.Stats.DrainMoves.Load() != 1 {
		t.Fatalf("REHELLO 1: state %d gw %d drain moves %d", d.state[0], d.gw[0], d.Stats.DrainMoves.Load())
	}
}
