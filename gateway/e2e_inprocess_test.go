package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"heartline/agent/shared/clock"
	"heartline/gateway/internal/feedserver"
	"heartline/gateway/internal/ingest"
	"heartline/gateway/internal/table"
	"heartline/protocol/feed"
	"heartline/protocol/hl1"
)

// inproc is a gateway assembled in the test process around a fake clock: real UDP loops
// and a real feed socket, but time moves only when the test says so.
type inproc struct {
	clk  *clock.Fake
	tb   *table.Table
	g    *ingest.Group
	path string
}

var start = time.Date(2026, 11, 23, 20, 0, 0, 0, time.UTC)

func startInproc(t *testing.T) (*inproc, *udpClient, *agent) {
	t.Helper()
	keys := testKeyRing(t)
	clk := clock.NewFake(start)
	tb, err := table.New(table.Options{Shards: 2, SessionsPerShard: 1024, Start: start})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "feed.sock")
	fs, err := feedserver.Listen(tb, feedserver.Options{Path: path, GatewayID: "gw-e2e", Epoch: 1, StartedAt: start, FlushInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = fs.Run(ctx); close(done) }()
	g, err := ingest.NewGroup(tb, ingest.Options{Addr: "127.0.0.1:0", Loops: 2, Clock: clk, TickEvery: 2 * time.Millisecond,
		Handler: ingest.HandlerOptions{Keys: keys, Epoch: 1}})
	if err != nil {
		t.Fatal(err)
	}
	g.Start()
	t.Cleanup(func() { g.Stop(); cancel(); <-done })
	p := &inproc{clk: clk, tb: tb, g: g, path: path}
	a := dialAgent(t, path)
	a.until(t, 5*time.Second, "first snapshot", func() bool { return a.snapshots == 1 })
	c := newClient(t, keys, g.LocalAddr().String(), 1001, 2, clk.Now())
	return p, c, a
}

// step advances the fake clock by d in small increments, letting the loops tick.
func (p *inproc) step(d time.Duration) {
	for moved := time.Duration(0); moved < d; moved += 100 * time.Millisecond {
		p.clk.Advance(100 * time.Millisecond)
		time.Sleep(3 * time.Millisecond)
	}
}

func TestInProcessOnlineSilenceOffline(t *testing.T) {
	p, c, a := startInproc(t)
	// HELLO alone reports nothing: the member is online at the first heartbeat.
	c.hello(t, p.clk.Now())
	p.step(time.Second)
	a.quiet(t, 100*time.Millisecond, "after HELLO, before the first heartbeat")
	c.beat(t, p.clk.Now(), true, false)
	a.until(t, 5*time.Second, "ONLINE", func() bool { return len(a.state) == 1 })
	if r := a.state[sessKey{1001, 2}]; r.Kind != feed.KindOnline || r.Status != feed.StatusActive {
		t.Fatalf("ONLINE record: %+v", r)
	}
	for i := 0; i < 3; i++ {
		p.step(10 * time.Second)
		c.beat(t, p.clk.Now(), true, false)
	}
	lastBeat := p.clk.Now()
	a.quiet(t, 50*time.Millisecond, "steady heartbeats")
	// Silence: nothing until interval x misses + grace + debounce (32 s + 5 s).
	p.step(36 * time.Second)
	a.quiet(t, 100*time.Millisecond, "before timeout + debounce")
	p.step(2 * time.Second)
	a.until(t, 5*time.Second, "OFFLINE", func() bool { return len(a.state) == 0 })
	off := a.log[len(a.log)-1]
	if off.Kind != feed.KindOffline || off.At != lastBeat.UnixMilli()/10*10 {
		t.Fatalf("OFFLINE record %+v, want At = last heartbeat %d", off, lastBeat.UnixMilli())
	}
}

func TestInProcessFlapInsideDebounceIsSilent(t *testing.T) {
	p, c, a := startInproc(t)
	c.connect(t, p.clk.Now())
	a.until(t, 5*time.Second, "ONLINE", func() bool { return len(a.state) == 1 })
	n := len(a.log)
	p.step(34 * time.Second) // past the 32 s timeout, inside the 5 s debounce
	c.beat(t, p.clk.Now(), true, false)
	p.step(20 * time.Second)
	c.beat(t, p.clk.Now(), true, false)
	a.quiet(t, 100*time.Millisecond, "flap")
	if len(a.log) != n {
		t.Fatalf("flap produced records: %+v", a.log[n:])
	}
}

func TestInProcessByeReplayAndAgentAway(t *testing.T) {
	p, c, a := startInproc(t)
	c.connect(t, p.clk.Now())
	a.until(t, 5*time.Second, "ONLINE", func() bool { return len(a.state) == 1 })
	p.step(time.Second)
	hb := c.beat(t, p.clk.Now(), false, false)
	a.until(t, 5*time.Second, "STATUS away", func() bool { return a.state[sessKey{1001, 2}].Status == feed.StatusAway })
	// Replay and forgery are dropped and counted.
	if _, err := c.conn.Write(hb); err != nil {
		t.Fatal(err)
	}
	forger := *c // knows the slot and the seq, not the key
	forger.key = hl1.NewMACKey([16]byte{1, 2, 3})
	forger.beat(t, p.clk.Now(), true, false)
	waitCount(t, "replay and bad_mac drops", func() bool {
		var r, m uint64
		for _, s := range p.g.Stats() {
			r += s.Drops(ingest.ReasonReplay)
			m += s.Drops(ingest.ReasonBadMAC)
		}
		return r == 1 && m == 1
	})
	if a.state[sessKey{1001, 2}].Status != feed.StatusAway {
		t.Fatal("forged status reached the feed")
	}
	// Agent away; a second device comes online and the first says BYE; agent back.
	_ = a.c.Close()
	keys := testKeyRing(t)
	d2 := newClient(t, keys, p.g.LocalAddr().String(), 1001, 3, p.clk.Now())
	d2.connect(t, p.clk.Now())
	p.step(time.Second)
	c.beat(t, p.clk.Now(), false, true)
	p.step(time.Second)
	b := dialAgent(t, p.path)
	b.until(t, 5*time.Second, "snapshot after reconnect", func() bool { return b.snapshots == 1 })
	if len(b.state) != 1 || b.state[sessKey{1001, 3}].Kind != feed.KindOnline {
		t.Fatalf("snapshot after agent away: %+v", b.state)
	}
}

func waitCount(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
