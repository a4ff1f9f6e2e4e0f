package client

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"heartline/scripts/proctest"
)

// newestSlot is the slot of the gateway's last WELCOME and the last seq it accepted there.
func (g *testGateway) newestSlot() (slot uint32, lastSeq uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s := g.sessions[g.nextSlot]; s != nil {
		lastSeq = s.lastSeq
	}
	return g.nextSlot, lastSeq
}

// lastSeqOf is the last seq the gateway accepted on slot (0: none, or no such session).
func (g *testGateway) lastSeqOf(slot uint32) uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s := g.sessions[slot]; s != nil {
		return s.lastSeq
	}
	return 0
}

func byes(gw *testGateway) []accepted {
	_, beats, _ := gw.snapshot()
	var out []accepted
	for _, b := range beats {
		if b.bye {
			out = append(out, b)
		}
	}
	return out
}

// fakeClock is the client's previous-session clock: the real time plus an offset the test
// moves (the frames' ts keep the real clock, which the test gateways use too).
type fakeClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (f *fakeClock) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return time.Now().Add(f.offset)
}

func (f *fakeClock) advance(d time.Duration) {
	f.mu.Lock()
	f.offset += d
	f.mu.Unlock()
}

// movedClient connects a client to gateway a while its preferred gateway b is down, brings
// b up, and lets ConfirmEvery move the client to b (make before break); it returns once the
// client heartbeats on b and re-HELLOed b at least once more (a same-gateway reconnect),
// with Run stopped.
func movedClient(t *testing.T, clock *fakeClock) (c *Client, a, b *testGateway) {
	t.Helper()
	keys, _ := testCredentials(t, 1)
	a = newTestGateway(t, keys)
	hole, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	bAddr := hole.LocalAddr().(*net.UDPAddr)
	hole.Close()
	gws := []string{a.addr(), bAddr.String()}
	c, _ = New(credentialsFor(t, keys, userPreferring(bAddr.String(), gws)), Options{
		Gateways: gws, HelloTimeout: 100 * time.Millisecond, ConfirmEvery: 150 * time.Millisecond,
	})
	t.Cleanup(func() { c.Close() })
	if clock != nil {
		c.now = clock.now
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Session().Gateway != a.addr() {
		t.Fatalf("with its preferred gateway down the client is on %s, want %s", c.Session().Gateway, a.addr())
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	proctest.WaitFor(t, 5*time.Second, "heartbeats on the first gateway", func() bool { _, ok := lastBeatSlot(a); return ok })
	b = newTestGatewayAt(t, keys, bAddr) // the preferred gateway comes up: the next confirm moves there
	proctest.WaitFor(t, 5*time.Second, "heartbeats on the preferred gateway", func() bool { _, ok := lastBeatSlot(b); return ok })
	proctest.WaitFor(t, 5*time.Second, "a confirm HELLO to the same gateway", func() bool { h, _, _ := b.snapshot(); return h >= 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := c.Session().Gateway; got != b.addr() {
		t.Fatalf("session on %s, want %s", got, b.addr())
	}
	if got := byes(a); len(got) != 0 {
		t.Fatalf("the move sent BYE to the gateway left behind: %+v (moves are make before break)", got)
	}
	return c, a, b
}

func TestClientByeAfterAMoveEndsTheSessionLeftBehind(t *testing.T) {
	c, a, b := movedClient(t, nil)
	// Frames the client sent before Run stopped may still be in flight: let both gateways
	// handle everything first, so the seqs read here are the last ones sent.
	probe(t, a)
	probe(t, b)
	_, _, aProbes := a.snapshot() // the probes are the frames rejected so far
	_, _, bProbes := b.snapshot()
	aSlot, aSeq := a.newestSlot() // the session the client moved away from
	bSlot := c.Session().Slot
	bSeq := b.lastSeqOf(bSlot)
	if err := c.Bye(); err != nil {
		t.Fatal(err)
	}
	proctest.WaitFor(t, 5*time.Second, "BYE on the current gateway", func() bool { return len(byes(b)) > 0 })
	proctest.WaitFor(t, 5*time.Second, "BYE on the gateway left behind", func() bool { return len(byes(a)) > 0 })
	// The test gateways accept a frame only if its MAC verifies under the session key over
	// the reconstructed seq and ts, and the seq is newer than the last one accepted.
	if got := byes(b); len(got) != 1 || got[0].slot != bSlot || got[0].seq != bSeq+1 {
		t.Fatalf("current gateway got BYEs %+v, want one for slot %d with seq %d", got, bSlot, bSeq+1)
	}
	if got := byes(a); len(got) != 1 || got[0].slot != aSlot || got[0].seq != aSeq+1 {
		t.Fatalf("gateway left behind got BYEs %+v, want one for slot %d with seq %d", got, aSlot, aSeq+1)
	}
	for name, gw := range map[string]*testGateway{"current": b, "previous": a} {
		probes := map[*testGateway]int{a: aProbes, b: bProbes}[gw]
		if _, _, rejected := gw.snapshot(); rejected != probes {
			t.Fatalf("%s gateway rejected %d frames besides the probe", name, rejected-probes)
		}
	}
	// And a logout HELLO, which ends the session there even if the client's slot is stale.
	proctest.WaitFor(t, 5*time.Second, "a logout HELLO to the gateway left behind", func() bool { a.mu.Lock(); defer a.mu.Unlock(); return a.logouts == 1 })
	// Bye forgets the previous session: a second Bye sends nothing more to it.
	c.Bye() //nolint:errcheck // no session now: the error is expected
	probe(t, a)
	a.mu.Lock()
	logouts := a.logouts
	a.mu.Unlock()
	if got := byes(a); len(got) != 1 || logouts != 1 {
		t.Fatalf("a second Bye sent the gateway left behind %d BYEs and %d logouts in all, want 1 and 1", len(got), logouts)
	}
}

func TestClientByeLongAfterAMoveEndsOnlyTheCurrentSession(t *testing.T) {
	clock := &fakeClock{}
	c, a, b := movedClient(t, clock)
	clock.advance(previousMemory(c.Session().Interval) + time.Second)
	if err := c.Bye(); err != nil {
		t.Fatal(err)
	}
	proctest.WaitFor(t, 5*time.Second, "BYE on the current gateway", func() bool { return len(byes(b)) > 0 })
	probe(t, a)
	if got := byes(a); len(got) != 0 {
		t.Fatalf("Bye past the memory window sent BYE to the gateway left behind: %+v", got)
	}
}

// probe sends gw a garbage datagram after everything the client sent and waits until gw
// has handled it, so a frame the client sent before is known to have been handled too.
func probe(t *testing.T, gw *testGateway) {
	t.Helper()
	_, _, before := gw.snapshot()
	conn, err := net.Dial("udp", gw.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte{0xff}); err != nil {
		t.Fatal(err)
	}
	proctest.WaitFor(t, 5*time.Second, "the probe", func() bool { _, _, r := gw.snapshot(); return r > before })
}

// The bookkeeping behind Bye, without sockets: which sessions are remembered and for how long.
func TestClientRemembersTheSessionsItMovedAwayFrom(t *testing.T) {
	_, cred := testCredentials(t, 9)
	clock := &fakeClock{}
	welcome := func(c *Client, gw string, slot uint32) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.rememberPrevious(gw)
		c.session = Session{Gateway: gw, Slot: slot, Epoch: 1, Interval: 10 * time.Second}
		c.seq = 0
	}
	gateways := func(c *Client) []string {
		var out []string
		for _, p := range c.previous {
			out = append(out, fmt.Sprintf("%s/%d", p.Gateway, p.Slot))
		}
		return out
	}
	c, _ := New(cred, Options{Gateways: []string{"a:1"}})
	c.now = clock.now
	welcome(c, "a:1", 1)
	if len(c.previous) != 0 {
		t.Fatalf("first WELCOME remembered %v", gateways(c))
	}
	welcome(c, "a:1", 2) // re-found the same gateway: nothing new
	c.seq = 7
	welcome(c, "b:1", 3) // moved: a:1 slot 2 is remembered, with its seq
	welcome(c, "b:1", 4) // same gateway again: a:1 is not forgotten
	if got := gateways(c); len(got) != 1 || got[0] != "a:1/2" || c.previous[0].seq != 7 {
		t.Fatalf("remembered %v (seq %v), want [a:1/2] with seq 7", got, c.previous)
	}
	welcome(c, "c:1", 5) // moved on: both left-behind sessions are remembered
	welcome(c, "a:1", 6) // back to a: its old entry is this session now (the gateway re-finds it)
	if got := gateways(c); len(got) != 2 || got[0] != "b:1/4" || got[1] != "c:1/5" {
		t.Fatalf("remembered %v, want [b:1/4 c:1/5]", got)
	}
	for i := 0; i < 2*maxPrevious; i++ { // bounded
		welcome(c, fmt.Sprintf("gw%d:1", i), uint32(10+i))
	}
	if len(c.previous) != maxPrevious {
		t.Fatalf("remembered %d sessions, want at most %d", len(c.previous), maxPrevious)
	}
	clock.advance(previousMemory(10*time.Second) - time.Second)
	c.mu.Lock()
	live := c.takePrevious()
	left := len(c.previous)
	c.mu.Unlock()
	if len(live) != maxPrevious || left != 0 {
		t.Fatalf("within the window: took %d and kept %d, want %d and 0", len(live), left, maxPrevious)
	}
	welcome(c, "x:1", 1)
	clock.advance(previousMemory(10*time.Second) + time.Second)
	c.mu.Lock()
	live = c.takePrevious()
	c.mu.Unlock()
	if len(live) != 0 {
		t.Fatalf("past the window: took %d sessions, want none", len(live))
	}

	// Over TCP nothing is remembered: the move closed the old connection, and a new one
	// must start with HELLO.
	tc, _ := New(cred, Options{Gateways: []string{"a:1"}, Network: "tcp"})
	welcome(tc, "a:1", 1)
	welcome(tc, "b:1", 2)
	if len(tc.previous) != 0 {
		t.Fatalf("a TCP client remembered %v", gateways(tc))
	}
}
