package client

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"heartline/protocol/hl1"
	"heartline/protocol/token"
	"heartline/scripts/proctest"
)

// testGateway is a minimal HL1 responder over UDP for exercising the client: it verifies
// HELLO (token, tag), answers WELCOME, verifies every heartbeat with hl1's reconstruction
// and MAC, and can be told to forget sessions (answering REHELLO). The real gateway has
// its own tests that use this client.
type testGateway struct {
	t     *testing.T
	conn  *net.UDPConn
	keys  *token.KeyRing
	epoch uint32

	mu       sync.Mutex
	sessions map[uint32]*testSession
	nextSlot uint32
	hellos   int
	beats    []accepted
	rejected int
	draining bool // answer heartbeats and HELLOs with REHELLO 4 (drain_test.go)
	cutOff   bool // answers HELLOs with REHELLO 5 (its agent cannot reach Consul)
	refused  int  // HELLOs answered with REHELLO 4
	logouts  int  // HELLOs with hl1.FlagLogout (they end the member's sessions, answer nothing)
}

type testSession struct {
	key      hl1.MACKey
	lastSeq  uint64
	lastTS   uint64
	baseMS   int64
	lastSeen time.Time
}

type accepted struct {
	slot   uint32
	seq    uint64
	active bool
	bye    bool
}

func newTestGateway(t *testing.T, keys *token.KeyRing) *testGateway {
	return newTestGatewayAt(t, keys, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
}

func newTestGatewayAt(t *testing.T, keys *token.KeyRing, at *net.UDPAddr) *testGateway {
	conn, err := net.ListenUDP("udp", at)
	if err != nil {
		t.Fatal(err)
	}
	g := &testGateway{t: t, conn: conn, keys: keys, epoch: 0xE90C, sessions: map[uint32]*testSession{}, nextSlot: 100}
	go g.serve()
	t.Cleanup(func() { conn.Close() })
	return g
}

func (g *testGateway) addr() string { return g.conn.LocalAddr().String() }

func (g *testGateway) serve() {
	buf := make([]byte, hl1.MaxFrame)
	for {
		n, from, err := g.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		g.handle(buf[:n], from)
	}
}

func (g *testGateway) handle(f []byte, from *net.UDPAddr) {
	g.mu.Lock()
	defer g.mu.Unlock()
	typ, err := hl1.PeekType(f)
	if err != nil {
		g.rejected++
		return
	}
	now := time.Now()
	switch typ {
	case hl1.TypeHello:
		h, err := hl1.ParseHello(f)
		if err != nil {
			g.rejected++
			return
		}
		_, key, err := g.keys.Open(h.Token[:], now)
		mac := hl1.NewMACKey(key)
		if err != nil || !h.Verify(mac) {
			g.rejected++
			return
		}
		if h.Logout() {
			g.logouts++
			for slot, s := range g.sessions {
				if s.key == mac {
					delete(g.sessions, slot)
				}
			}
			return
		}
		if g.draining {
			g.refused++
			g.conn.WriteToUDP(hl1.AppendRehello(nil, hl1.Rehello{Slot: 0, Reason: hl1.RehelloDraining}), from) //nolint:errcheck
			return
		}
		if g.cutOff {
			g.refused++
			g.conn.WriteToUDP(hl1.AppendRehello(nil, hl1.Rehello{Slot: 0, Reason: hl1.RehelloUnavailable}), from) //nolint:errcheck
			return
		}
		g.hellos++
		g.nextSlot++
		slot := g.nextSlot
		g.sessions[slot] = &testSession{key: mac, baseMS: now.UnixMilli(), lastSeen: now}
		w := hl1.Welcome{Slot: slot, Epoch: g.epoch, IntervalMS: 50, ServerTimeMS: uint64(now.UnixMilli())}
		g.conn.WriteToUDP(hl1.AppendWelcome(nil, w.Seal(mac, h.Nonce)), from) //nolint:errcheck
	case hl1.TypeHeartbeat, hl1.TypeBye:
		hb, err := hl1.ParseHeartbeat(f)
		if err != nil {
			g.rejected++
			return
		}
		s := g.sessions[hb.Slot]
		if s == nil {
			g.conn.WriteToUDP(hl1.AppendRehello(nil, hl1.Rehello{Slot: hb.Slot, Reason: hl1.RehelloUnknownSlot}), from) //nolint:errcheck
			return
		}
		expected := s.lastTS + hl1.TicksSince(s.lastSeen.UnixMilli(), now.UnixMilli())
		seq, ts, err := hb.Open(s.key, g.epoch, s.lastSeq, expected)
		if err != nil {
			g.rejected++
			return
		}
		s.lastSeq, s.lastTS, s.lastSeen = seq, ts, now
		g.beats = append(g.beats, accepted{slot: hb.Slot, seq: seq, active: hb.Word.Active(), bye: hb.Bye})
		if hb.Bye {
			delete(g.sessions, hb.Slot)
		} else if g.draining {
			g.conn.WriteToUDP(hl1.AppendRehello(nil, hl1.Rehello{Slot: hb.Slot, Reason: hl1.RehelloDraining}), from) //nolint:errcheck
		}
	}
}

func (g *testGateway) forgetAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sessions = map[uint32]*testSession{}
}

func (g *testGateway) snapshot() (hellos int, beats []accepted, rejected int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.hellos, append([]accepted(nil), g.beats...), g.rejected
}

func testCredentials(t *testing.T, user uint64) (*token.KeyRing, Credentials) {
	keys := token.NewKeyRing()
	if err := keys.Add(1, []byte("0123456789abcdef0123456789abcdef")); err != nil {
		t.Fatal(err)
	}
	if err := keys.SetCurrent(1); err != nil {
		t.Fatal(err)
	}
	tok, key, err := keys.Issue(token.Claims{UserID: user, DeviceID: 1, Expiry: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var cred Credentials
	copy(cred.Token[:], tok.Append(nil))
	cred.Key = key
	return keys, cred
}

func TestClientHelloHeartbeatsStatusAndBye(t *testing.T) {
	keys, cred := testCredentials(t, 4242)
	gw := newTestGateway(t, keys)
	c, err := New(cred, Options{Gateways: []string{gw.addr()}, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if s := c.Session(); s.Gateway != gw.addr() || s.Interval != 50*time.Millisecond || s.Epoch != gw.epoch {
		t.Fatalf("session %+v does not match the WELCOME", s)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	proctest.WaitFor(t, 5*time.Second, "5 verified heartbeats", func() bool { _, b, _ := gw.snapshot(); return len(b) >= 5 })
	if err := c.SetActive(false); err != nil {
		t.Fatal(err)
	}
	proctest.WaitFor(t, 5*time.Second, "an away heartbeat", func() bool {
		_, b, _ := gw.snapshot()
		return len(b) > 0 && !b[len(b)-1].active
	})

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := c.Bye(); err != nil {
		t.Fatal(err)
	}
	proctest.WaitFor(t, 5*time.Second, "BYE", func() bool { _, b, _ := gw.snapshot(); return len(b) > 0 && b[len(b)-1].bye })
	_, beats, rejected := gw.snapshot()
	if rejected != 0 {
		t.Fatalf("gateway rejected %d frames from the reference client", rejected)
	}
	for i, b := range beats {
		if b.seq != uint64(i+1) {
			t.Fatalf("beat %d has seq %d, want %d (seq must start at 1 and count every frame)", i, b.seq, i+1)
		}
	}
}

func TestClientReHellosOnRehello(t *testing.T) {
	keys, cred := testCredentials(t, 7)
	gw := newTestGateway(t, keys)
	c, _ := New(cred, Options{Gateways: []string{gw.addr()}})
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	first := c.Session().Slot
	go c.Run(ctx) //nolint:errcheck
	proctest.WaitFor(t, 5*time.Second, "a heartbeat", func() bool { _, b, _ := gw.snapshot(); return len(b) > 0 })
	gw.forgetAll() // as a restarted gateway would
	proctest.WaitFor(t, 5*time.Second, "a second HELLO", func() bool { h, _, _ := gw.snapshot(); return h >= 2 })
	proctest.WaitFor(t, 5*time.Second, "heartbeats on the new slot", func() bool {
		_, b, _ := gw.snapshot()
		return len(b) > 0 && b[len(b)-1].slot != first
	})

}

func TestClientFailsOverToNextGateway(t *testing.T) {
	keys, _ := testCredentials(t, 1)
	gw := newTestGateway(t, keys)
	// A "gateway" that never answers: a bound UDP socket nobody reads.
	dead, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	gws := []string{gw.addr(), dead.LocalAddr().String()}
	// Pick a member whose rendezvous order puts the dead gateway first.
	user := uint64(1)
	for GatewayOrder(user, gws)[0] != dead.LocalAddr().String() {
		user++
	}
	tok, key, err := keys.Issue(token.Claims{UserID: user, DeviceID: 1, Expiry: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var cred Credentials
	copy(cred.Token[:], tok.Append(nil))
	cred.Key = key
	c, _ := New(cred, Options{Gateways: gws, HelloTimeout: 100 * time.Millisecond, HelloAttempts: 2})
	defer c.Close()
	if err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := c.Session().Gateway; got != gw.addr() {
		t.Fatalf("connected to %s, want the live gateway %s", got, gw.addr())
	}
}

func TestClientRejectsForgedWelcomeAndBadOptions(t *testing.T) {
	_, cred := testCredentials(t, 5)
	if _, err := New(cred, Options{}); err == nil {
		t.Fatal("no gateways accepted")
	}
	if _, err := New(cred, Options{Gateways: []string{"x:1"}, Network: "sctp"}); err == nil {
		t.Fatal("unknown network accepted")
	}
	// A gateway with a different secret cannot produce a WELCOME the client accepts.
	wrong := token.NewKeyRing()
	wrong.Add(1, []byte("another secret, 32 bytes long!!!")) //nolint:errcheck
	gw := newTestGateway(t, wrong)
	c, _ := New(cred, Options{Gateways: []string{gw.addr()}, HelloTimeout: 50 * time.Millisecond, HelloAttempts: 2})
	defer c.Close()
	if err := c.Connect(context.Background()); !errors.Is(err, ErrNoGateway) {
		t.Fatalf("connect to a gateway with the wrong secret: %v, want ErrNoGateway", err)
	}
}

// credentialsFor issues credentials for user under keys.
func credentialsFor(t *testing.T, keys *token.KeyRing, user uint64) Credentials {
	tok, key, err := keys.Issue(token.Claims{UserID: user, DeviceID: 1, Expiry: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var cred Credentials
	copy(cred.Token[:], tok.Append(nil))
	cred.Key = key
	return cred
}

// userPreferring returns a user id whose rendezvous order puts first before the others.
func userPreferring(first string, gws []string) uint64 {
	user := uint64(1)
	for GatewayOrder(user, gws)[0] != first {
		user++
	}
	return user
}

func lastBeatSlot(gw *testGateway) (uint32, bool) {
	_, b, _ := gw.snapshot()
	if len(b) == 0 {
		return 0, false
	}
	return b[len(b)-1].slot, true
}

func TestClientLeavesAGatewayThatDied(t *testing.T) {
	keys, _ := testCredentials(t, 1)
	a, b := newTestGateway(t, keys), newTestGateway(t, keys)
	gws := []string{a.addr(), b.addr()}
	c, _ := New(credentialsFor(t, keys, userPreferring(a.addr(), gws)), Options{Gateways: gws, HelloTimeout: 200 * time.Millisecond})
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Session().Gateway != a.addr() {
		t.Fatalf("connected to %s, want the rendezvous winner %s", c.Session().Gateway, a.addr())
	}
	go c.Run(ctx) //nolint:errcheck
	proctest.WaitFor(t, 5*time.Second, "heartbeats on the first gateway", func() bool { _, ok := lastBeatSlot(a); return ok })
	a.conn.Close() // the gateway process dies: its port answers ICMP unreachable
	proctest.WaitFor(t, 5*time.Second, "heartbeats on the next gateway", func() bool { _, ok := lastBeatSlot(b); return ok })
	if got := c.Session().Gateway; got != b.addr() {
		t.Fatalf("session on %s, want %s", got, b.addr())
	}
}

func TestClientConfirmReturnsToItsPreferredGateway(t *testing.T) {
	keys, _ := testCredentials(t, 1)
	b := newTestGateway(t, keys)
	// Reserve an address for the preferred gateway, which is down at first.
	hole, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	aAddr := hole.LocalAddr().(*net.UDPAddr)
	hole.Close()
	gws := []string{aAddr.String(), b.addr()}
	c, _ := New(credentialsFor(t, keys, userPreferring(aAddr.String(), gws)), Options{
		Gateways: gws, HelloTimeout: 100 * time.Millisecond, ConfirmEvery: 300 * time.Millisecond,
	})
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Session().Gateway != b.addr() {
		t.Fatalf("with its preferred gateway down the client is on %s, want %s", c.Session().Gateway, b.addr())
	}
	go c.Run(ctx)                         //nolint:errcheck
	a := newTestGatewayAt(t, keys, aAddr) // the preferred gateway comes back
	proctest.WaitFor(t, 5*time.Second, "the client back on its preferred gateway", func() bool { _, ok := lastBeatSlot(a); return ok })
	if got := c.Session().Gateway; got != aAddr.String() {
		t.Fatalf("session on %s, want %s", got, aAddr)
	}
}

func TestHelloClockIsMonotonic(t *testing.T) {
	_, cred := testCredentials(t, 3)
	c, _ := New(cred, Options{Gateways: []string{"127.0.0.1:1"}})
	// A previous HELLO "from the future", as if the wall clock has since stepped back 90 s.
	c.lastHello = uint64(time.Now().Add(90 * time.Second).UnixMilli())
	prev := c.lastHello
	for i := 0; i < 100; i++ {
		got := c.helloClock()
		if got < prev+helloClockStep {
			t.Fatalf("HELLO %d: client_time %d, want at least %d (previous + %d ms)", i, got, prev+helloClockStep, helloClockStep)
		}
		prev = got
	}
	// With a sane history it follows the wall clock.
	c.lastHello = 0
	if got, now := c.helloClock(), uint64(time.Now().UnixMilli()); got+1000 < now || got > now+1000 {
		t.Fatalf("first HELLO client_time %d, want the wall clock %d", got, now)
	}
}
