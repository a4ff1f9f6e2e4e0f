package ingest

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"runtime"
	"testing"
	"time"

	"heartline/agent/shared/clock"
	"heartline/gateway/internal/table"
	"heartline/protocol/hl1"
	"heartline/scripts/proctest"
)

func startGroup(t testing.TB, loops int) (*Group, *table.Table, *clock.Fake, *testEnv) {
	t.Helper()
	clk := clock.NewFake(t0.Add(time.Second))
	tb, err := table.New(table.Options{Shards: loops, SessionsPerShard: 4096, Start: t0})
	if err != nil {
		t.Fatal(err)
	}
	env := &testEnv{tb: tb, keys: testKeys(t), now: clk.Now()}
	g, err := NewGroup(tb, Options{Addr: "127.0.0.1:0", Loops: loops, Clock: clk, TickEvery: 5 * time.Millisecond,
		Handler: HandlerOptions{Keys: env.keys, Epoch: 42, HelloBurst: 1000}}) // all test clients share 127.0.0.1
	if err != nil {
		t.Fatal(err)
	}
	g.Start()
	t.Cleanup(g.Stop)
	return g, tb, clk, env
}

func dialUDP(t testing.TB, g *Group) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(g.LocalAddr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func udpHello(t testing.TB, conn *net.UDPConn, c *testClient, now time.Time) {
	t.Helper()
	buf := make([]byte, 128)
	for try := 0; try < 5; try++ {
		if _, err := conn.Write(c.hello(now, true)); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		n, err := conn.Read(buf)
		if err == nil {
			c.welcome(t, buf[:n])
			return
		}
	}
	t.Fatal("no WELCOME over UDP")
}

func total(g *Group, f func(*Stats) uint64) uint64 {
	var n uint64
	for _, s := range g.Stats() {
		n += f(s)
	}
	return n
}

func TestUDPLoopsHelloAndHeartbeats(t *testing.T) {
	g, _, clk, env := startGroup(t, 2)
	var clients []*testClient
	var conns []*net.UDPConn
	for i := 0; i < 20; i++ {
		c := newTestClient(t, env.keys, uint64(100+i), 1)
		conn := dialUDP(t, g)
		udpHello(t, conn, c, clk.Now())
		if c.epoch != 42 {
			t.Fatalf("epoch %d", c.epoch)
		}
		clients, conns = append(clients, c), append(conns, conn)
	}
	for round := 1; round <= 5; round++ {
		clk.Advance(10 * time.Second)
		for i, c := range clients {
			if _, err := conns[i].Write(c.beat(clk.Now(), true, false)); err != nil {
				t.Fatal(err)
			}
		}
		want := uint64(20 * round)
		proctest.WaitFor(t, 10*time.Second, "a round of heartbeats", func() bool { return total(g, func(s *Stats) uint64 { return s.Heartbeats.Load() }) == want })
	}
	// An oversize datagram is counted, not answered.
	big := make([]byte, 5000)
	big[0] = byte(hl1.TypeHeartbeat)
	_, _ = conns[0].Write(big)
	proctest.WaitFor(t, 10*time.Second, "too_large drop", func() bool { return total(g, func(s *Stats) uint64 { return s.Drops(ReasonTooLarge) }) == 1 })
}

// TestUDPLoopSteadyStateDoesNotAllocate sends a few thousand heartbeats over loopback and
// reads the process's malloc count around them: the receive loop, decoding, MAC and table
// update must not allocate.
func TestUDPLoopSteadyStateDoesNotAllocate(t *testing.T) {
	g, _, clk, env := startGroup(t, 1)
	const clients, rounds = 50, 60
	cs := make([]*testClient, clients)
	conns := make([]*net.UDPConn, clients)
	for i := range cs {
		cs[i] = newTestClient(t, env.keys, uint64(i), 2)
		conns[i] = dialUDP(t, g)
		udpHello(t, conns[i], cs[i], clk.Now())
	}
	// Pre-build every frame (the fake clock does not move: ts stays put, seq climbs).
	frames := make([][]byte, 0, clients*rounds)
	for r := 0; r < rounds; r++ {
		for i := range cs {
			frames = append(frames, cs[i].beat(clk.Now(), true, false))
		}
	}
	send := func(from, to int) {
		for k := from; k < to; k++ {
			if _, err := conns[k%clients].Write(frames[k]); err != nil {
				t.Fatal(err)
			}
			if k%200 == 199 { // stay well inside the socket buffer
				want := uint64(k + 1)
				proctest.WaitFor(t, 10*time.Second, "loop to catch up", func() bool { return g.Stats()[0].Heartbeats.Load() >= want })
			}
		}
		want := uint64(to)
		proctest.WaitFor(t, 10*time.Second, "heartbeats", func() bool { return g.Stats()[0].Heartbeats.Load() >= want })
	}
	send(0, 400) // warm up: buffers, dirty lists, lazily grown slices
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	send(400, len(frames))
	runtime.ReadMemStats(&after)
	n := len(frames) - 400
	per := float64(after.Mallocs-before.Mallocs) / float64(n)
	t.Logf("%d heartbeats over loopback: %d mallocs in the whole process (%.4f per heartbeat)", n, after.Mallocs-before.Mallocs, per)
	if g.Stats()[0].Heartbeats.Load() != uint64(len(frames)) {
		t.Fatalf("accepted %d of %d", g.Stats()[0].Heartbeats.Load(), len(frames))
	}
	// The sender and the test's polling share the process; a per-heartbeat allocation in
	// the loop would show as >= 1.0.
	if per >= 0.1 {
		t.Fatalf("%.3f mallocs per heartbeat", per)
	}
}

// TestNATRebindingIsHandedToTheOwningLoop moves a client to new source ports (as a NAT
// rebinding does) until SO_REUSEPORT delivers its heartbeats to the other loop, and checks
// they are still accepted, by the loop that owns the session.
func TestNATRebindingIsHandedToTheOwningLoop(t *testing.T) {
	g, _, clk, env := startGroup(t, 2)
	c := newTestClient(t, env.keys, 500, 1)
	udpHello(t, dialUDP(t, g), c, clk.Now())
	sent := uint64(0)
	for port := 0; port < 200 && total(g, func(s *Stats) uint64 { return s.HandedOff.Load() }) == 0; port++ {
		conn := dialUDP(t, g) // a new source port
		if _, err := conn.Write(c.beat(clk.Now(), true, false)); err != nil {
			t.Fatal(err)
		}
		sent++
		want := sent
		proctest.WaitFor(t, 10*time.Second, "heartbeat", func() bool { return total(g, func(s *Stats) uint64 { return s.Heartbeats.Load() }) == want })
	}
	if total(g, func(s *Stats) uint64 { return s.HandedOff.Load() }) == 0 {
		t.Fatal("200 source ports all hashed to the owning loop; cannot exercise the hand-off")
	}
	owner := g.tb.ShardOf(c.slot)
	if got := g.Stats()[owner].Heartbeats.Load(); got != sent {
		t.Fatalf("owning loop accepted %d of %d heartbeats", got, sent)
	}
	if got := g.Stats()[owner].Received.Load(); got == 0 {
		t.Fatal("owning loop received no hand-off")
	}
}

// TestFloodKeepsMemoryBounded throws random frames and HELLO-shaped garbage from 400k
// spoofed sources at a handler: everything is counted as dropped and the heap does not grow
// with the flood (the rate-limit tables are fixed-size).
func TestFloodKeepsMemoryBounded(t *testing.T) {
	e := newEnv(t, 1)
	e.h.send = discard{}
	c := newTestClient(t, e.keys, 1, 1)
	hello := c.hello(e.now, true)
	r := rand.New(rand.NewPCG(1, 2))
	junk := make([]byte, 200)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const n = 400_000
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint32(e.from.Raw[4:8], r.Uint32())
		switch i % 4 {
		case 0:
			f := append(junk[:0], hello...)
			f[20+r.IntN(40)] ^= byte(1 + r.IntN(255)) // a forged or corrupted HELLO
			e.send(f)
		case 1:
			f := junk[:hl1.HeartbeatSize]
			for j := range f {
				f[j] = byte(r.Uint32())
			}
			f[0] = byte(hl1.TypeHeartbeat)
			e.send(f)
		default:
			f := junk[:r.IntN(len(junk))]
			for j := range f {
				f[j] = byte(r.Uint32())
			}
			e.send(f)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	var dropped uint64
	for _, reason := range DropReasons {
		dropped += e.h.Stats.Drops(reason)
	}
	if e.h.Stats.Hellos.Load() != 0 || e.h.Stats.Heartbeats.Load() != 0 {
		t.Fatalf("flood accepted %d HELLOs, %d heartbeats", e.h.Stats.Hellos.Load(), e.h.Stats.Heartbeats.Load())
	}
	if dropped != n {
		t.Fatalf("%d of %d flood frames counted as dropped (%v)", dropped, n, e.dropSummary())
	}
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("400k flood frames: heap growth %d bytes, drops %v, REHELLOs %d", growth, e.dropSummary(), e.h.Stats.Rehellos.Load())
	if growth > 1<<20 {
		t.Fatalf("heap grew by %d bytes under a flood", growth)
	}
	if e.h.Stats.Rehellos.Load() > uint64(e.h.opts.RehelloPerLoop)+1 {
		t.Fatalf("%d REHELLOs to spoofed sources in one instant, budget %v", e.h.Stats.Rehellos.Load(), e.h.opts.RehelloPerLoop)
	}
}

type discard struct{}

func (discard) Send([]byte, *Addr) {}
