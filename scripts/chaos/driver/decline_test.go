package driver

import (
	"crypto/rand"
	"encoding/hex"
	mrand "math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"heartline/protocol/hl1"
	"heartline/protocol/token"
)

// sentFrame is one datagram the worker wrote.
type sentFrame struct {
	to    netip.AddrPort
	frame []byte
}

// fakeConn records writes; reads never happen in these tests.
type fakeConn struct{ sent []sentFrame }

func (f *fakeConn) WriteToUDPAddrPort(b []byte, a netip.AddrPort) (int, error) {
	f.sent = append(f.sent, sentFrame{a, append([]byte(nil), b...)})
	return len(b), nil
}
func (f *fakeConn) ReadFromUDPAddrPort([]byte) (int, netip.AddrPort, error) {
	select {}
}
func (f *fakeConn) Close() error { return nil }

// TestLateWelcomeOfAnAbandonedHelloIsDeclinedWithBye: a session whose HELLO to gw2 went
// unanswered retries at gw1; when gw2's WELCOME arrives after all, gw2 holds a session the
// app does not use, which would show the member online there until it expires. The app
// ends it with a BYE on that slot, and keeps its session on gw1.
func TestLateWelcomeOfAnAbandonedHelloIsDeclinedWithBye(t *testing.T) {
	d, w, fc := newFakeDriver(t)
	gw2 := d.o.Gateways[1]

	// First HELLO to gw2 (as if gw2 ranked first), then a retry to gw1.
	w.mu.Lock()
	d.attempts[0] = 3 * uint8(indexOf(w.order(0), 1))
	w.sendHello(0, d.mono())
	toGW2 := d.nonce[0]
	if d.target[0] != 1 {
		t.Fatalf("first HELLO went to gateway %d, want gw2", d.target[0])
	}
	d.attempts[0] = 3 * uint8(indexOf(w.order(0), 0))
	w.sendHello(0, d.mono())
	toGW1 := d.nonce[0]
	w.mu.Unlock()

	welcome := func(slot uint32, nonce uint32) hl1.Welcome {
		return hl1.Welcome{Slot: slot, Epoch: 7, IntervalMS: 5000, ServerTimeMS: 1}.Seal(d.key[0], nonce)
	}
	// gw1 answers the retry: the session is established there, nothing is declined.
	w.welcomed(0, welcome(0x101, toGW1))
	if d.gw[0] != 0 || d.Stats.Declined.Load() != 0 {
		t.Fatalf("after gw1's WELCOME: gw %d, declined %d", d.gw[0], d.Stats.Declined.Load())
	}
	n := len(fc.sent)
	// gw2's late WELCOME for the abandoned HELLO: declined with a BYE on gw2's slot.
	w.welcomed(1, welcome(0x202, toGW2))
	if d.Stats.Declined.Load() != 1 || len(fc.sent) != n+1 {
		t.Fatalf("late WELCOME: declined %d, frames sent %d", d.Stats.Declined.Load(), len(fc.sent)-n)
	}
	f := fc.sent[n]
	hb, err := hl1.ParseHeartbeat(f.frame)
	if err != nil || f.to != gw2 || !hb.Bye || hb.Slot != 0x202 {
		t.Fatalf("decline: to %v bye=%v slot %x err %v", f.to, hb.Bye, hb.Slot, err)
	}
	if seq, ts, err := hb.Open(d.key[0], 7, 0, 0); err != nil || seq != 1 || ts != 0 {
		t.Fatalf("decline BYE does not verify as the slot's first frame: seq %d ts %d %v", seq, ts, err)
	}
	if d.gw[0] != 0 || d.slot[0] != 0x101 {
		t.Fatalf("declining changed the live session: gw %d slot %x", d.gw[0], d.slot[0])
	}
	// The same late WELCOME again: nothing more (each abandoned HELLO is declined once).
	w.welcomed(1, welcome(0x202, toGW2))
	if d.Stats.Declined.Load() != 1 {
		t.Fatalf("declined twice")
	}
}

// newFakeDriver returns a driver with one live session, two gateways that exist only as
// addresses, and its single worker writing to a fakeConn.
func newFakeDriver(t *testing.T) (*Driver, *worker, *fakeConn) {
	t.Helper()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	keyFile := filepath.Join(t.TempDir(), "keys.txt")
	if err := os.WriteFile(keyFile, []byte("1 "+hex.EncodeToString(secret)+" current\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := token.LoadKeyRing(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	gw1, gw2 := netip.MustParseAddrPort("127.0.0.1:1"), netip.MustParseAddrPort("127.0.0.1:2")
	d, err := New(Options{Sessions: 1, Keys: keys, Sources: []string{"127.0.0.1"}, PortsPerSource: 1,
		Gateways: []netip.AddrPort{gw1, gw2}, GatewayIDs: []string{"gw1", "gw2"}})
	if err != nil {
		t.Fatal(err)
	}
	w := d.workers[0]
	_ = w.conn.Close()
	fc := &fakeConn{}
	w.conn = fc
	w.rng = mrand.New(mrand.NewPCG(1, 2))
	d.alive[0] = true
	return d, w, fc
}

func indexOf(order []int, g int) int {
	for k, x := range order {
		if x == g {
			return k
		}
	}
	return -1
}

// TestReHelloThatLandsElsewhereIsAMove: a re-HELLO (here: the clock-jump scenario's) goes to
// the top of the rendezvous order, which may be another gateway than the session's. That is
// a move: the old session is left to expire (no BYE then), and a logout right after BYEs
// both, so the old gateway does not keep the member online.
func TestReHelloThatLandsElsewhereIsAMove(t *testing.T) {
	d, w, fc := newFakeDriver(t)
	pref := w.order(0)[0]
	other := 1 - pref
	// Established on the non-preferred gateway (as after a failover).
	w.mu.Lock()
	d.attempts[0] = 3 // the second gateway in the order
	w.sendHello(0, d.mono())
	w.mu.Unlock()
	if int(d.target[0]) != other {
		t.Fatalf("setup: HELLO went to %d, want %d", d.target[0], other)
	}
	w.welcomed(other, hl1.Welcome{Slot: 0x111, Epoch: 7, IntervalMS: 5000, ServerTimeMS: 1}.Seal(d.key[0], d.nonce[0]))

	rng := mrand.New(mrand.NewPCG(1, 2))
	if d.Churn(RehelloSkewed, 1, -90_000, rng) != 1 {
		t.Fatal("re-HELLO churn did not apply")
	}
	w.mu.Lock()
	w.sendHello(0, d.mono())
	w.mu.Unlock()
	if int(d.target[0]) != pref {
		t.Fatalf("re-HELLO went to %d, want the preferred %d", d.target[0], pref)
	}
	n := len(fc.sent)
	w.welcomed(pref, hl1.Welcome{Slot: 0x222, Epoch: 7, IntervalMS: 5000, ServerTimeMS: 1}.Seal(d.key[0], d.nonce[0]))
	for _, f := range fc.sent[n:] {
		if hb, err := hl1.ParseHeartbeat(f.frame); err == nil && hb.Bye {
			t.Fatalf("the move itself sent a BYE to %v (make before break)", f.to)
		}
	}
	n = len(fc.sent)
	if d.Churn(Bye, 1, 0, rng) != 1 {
		t.Fatal("logout churn did not apply")
	}
	byes := map[netip.AddrPort]uint32{}
	for _, f := range fc.sent[n:] {
		if hb, err := hl1.ParseHeartbeat(f.frame); err == nil && hb.Bye {
			byes[f.to] = hb.Slot
		}
	}
	if byes[d.o.Gateways[pref]] != 0x222 || byes[d.o.Gateways[other]] != 0x111 {
		t.Fatalf("logout after the re-HELLO BYEd %v, want slot 222 at the preferred and 111 at the one left behind", byes)
	}
}

// TestLogoutAfterTwoMovesEndsTheSessionLeftOnTheDrainingGateway: an app drained off gw1
// lands on gw2 and then re-HELLOs gw2 (a move that re-finds its own session there). Its logout
// must still end the session it left on gw1, which the draining gateway keeps reporting until
// it expires: a BYE on that slot and a logout HELLO to gw1, besides the BYE on the current one.
func TestLogoutAfterTwoMovesEndsTheSessionLeftOnTheDrainingGateway(t *testing.T) {
	d, w, fc := newFakeDriver(t)
	gw1 := d.o.Gateways[0]
	welcome := func(slot uint32) hl1.Welcome {
		return hl1.Welcome{Slot: slot, Epoch: 7, IntervalMS: 5000, ServerTimeMS: 1}.Seal(d.key[0], d.nonce[0])
	}
	hello := func(g int) {
		w.mu.Lock()
		d.attempts[0] = 3 * uint8(indexOf(w.order(0), g))
		w.sendHello(0, d.mono())
		w.mu.Unlock()
	}
	hello(0)
	w.welcomed(0, welcome(0x101)) // on gw1
	w.mu.Lock()
	w.leave(0) // REHELLO 4 from gw1
	w.mu.Unlock()
	hello(1)
	w.welcomed(1, welcome(0x202)) // on gw2; gw1's session left behind
	w.mu.Lock()
	w.leave(0) // a move that lands on gw2 again
	w.mu.Unlock()
	hello(1)
	w.welcomed(1, welcome(0x203)) // gw2 re-found its own session

	n := len(fc.sent)
	w.mu.Lock()
	w.sendBeat(0, true)
	w.byePrev(0)
	w.mu.Unlock()
	var byeGW1, logoutGW1 bool
	for _, f := range fc.sent[n:] {
		if f.to != gw1 {
			continue
		}
		switch typ, _ := hl1.PeekType(f.frame); typ {
		case hl1.TypeBye:
			hb, _ := hl1.ParseHeartbeat(f.frame)
			byeGW1 = hb.Slot == 0x101
		case hl1.TypeHello:
			h, _ := hl1.ParseHello(f.frame)
			logoutGW1 = h.Logout() && h.Verify(d.key[0])
		}
	}
	if !byeGW1 || !logoutGW1 {
		t.Fatalf("logout sent gw1 BYE=%v logout HELLO=%v; want both (frames %d)", byeGW1, logoutGW1, len(fc.sent)-n)
	}
}
