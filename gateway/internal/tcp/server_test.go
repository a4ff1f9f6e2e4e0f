package tcp

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"heartline/agent/shared/clock"
	"heartline/gateway/internal/table"
	"heartline/protocol/hl1"
	"heartline/protocol/token"
	"heartline/scripts/proctest"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func setup(t *testing.T, idle time.Duration) (*Server, *token.KeyRing, *clock.Fake, string) {
	return setupMax(t, idle, 0)
}

func setupMax(t *testing.T, idle time.Duration, maxConns int) (*Server, *token.KeyRing, *clock.Fake, string) {
	return setupWith(t, func(o *Options) { o.IdleTimeout, o.MaxConns = idle, maxConns })
}

// setupWith starts a server on a free port with a one-shard table of 1024 sessions, key 1
// (32 zero bytes), a fake clock and no HELLO rate limit to speak of; mod adjusts the
// options first.
func setupWith(t *testing.T, mod func(*Options)) (*Server, *token.KeyRing, *clock.Fake, string) {
	t.Helper()
	return setupTable(t, 1024, mod)
}

// setupTable is setupWith with a table of sessions sessions.
func setupTable(t *testing.T, sessions int, mod func(*Options)) (*Server, *token.KeyRing, *clock.Fake, string) {
	t.Helper()
	keys := token.NewKeyRing()
	if err := keys.Add(1, make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	_ = keys.SetCurrent(1)
	clk := clock.NewFake(t0.Add(time.Second))
	tb, err := table.New(table.Options{Shards: 1, SessionsPerShard: sessions, Start: t0})
	if err != nil {
		t.Fatal(err)
	}
	addr := proctest.FreeAddr(t, "tcp")
	hopts := ingestOpts(keys)
	hopts.HelloPerSource, hopts.HelloBurst = 1e6, 1e6
	opts := Options{Addr: addr, IdleTimeout: time.Minute, Clock: clk, Shard: 0, Handler: hopts}
	if mod != nil {
		mod(&opts)
	}
	s := New(tb, opts)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Stop(ctx)
	})
	return s, keys, clk, addr
}

func send(t *testing.T, c net.Conn, frame []byte) {
	t.Helper()
	b, err := hl1.AppendTCP(nil, frame)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, c net.Conn) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	f, err := hl1.ReadTCPFrame(c, nil)
	if err != nil {
		t.Fatalf("read frame: %v", err)
	}
	return f
}

func TestTCPHelloHeartbeatBye(t *testing.T) {
	s, keys, clk, addr := setup(t, time.Minute)
	tok, sk, _ := keys.Issue(token.Claims{UserID: 5, DeviceID: 1, Expiry: t0.Add(time.Hour)})
	key := hl1.NewMACKey(sk)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h := hl1.Hello{ClientTimeMS: uint64(clk.Now().UnixMilli()), Nonce: 7, Token: tok.Bytes(), Flags: hl1.FlagActive}.Seal(key)
	send(t, c, hl1.AppendHello(nil, h))
	w, err := hl1.ParseWelcome(read(t, c))
	if err != nil || !w.Verify(key, 7) {
		t.Fatalf("WELCOME: %+v %v", w, err)
	}
	for i := uint64(1); i <= 3; i++ {
		clk.Advance(10 * time.Second)
		ts := uint64(clk.Now().UnixMilli()-int64(w.ServerTimeMS)) / 10
		send(t, c, hl1.AppendHeartbeat(nil, hl1.Beat{Slot: w.Slot, Epoch: w.Epoch, Seq: i, TS: ts, Active: true}.Seal(key)))
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.HandlerStats().Heartbeats.Load() != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("heartbeats over TCP: %d", s.HandlerStats().Heartbeats.Load())
		}
		time.Sleep(time.Millisecond)
	}
}

func TestTCPGarbageAndFirstFrameRules(t *testing.T) {
	s, _, _, addr := setup(t, time.Minute)
	cases := []struct {
		cause CloseCause
		bytes []byte
	}{
		{CauseFirstNotHello, mustTCP(hl1.AppendRehello(nil, hl1.Rehello{Slot: 1, Reason: 1}))},
		{CauseProtocolError, []byte{0, 0}},          // length 0
		{CauseProtocolError, []byte{0xff, 0xff, 1}}, // length above MaxFrame
	}
	for _, tc := range cases {
		before := s.Stats.Closes(tc.cause)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(tc.bytes); err != nil {
			t.Fatal(err)
		}
		f := read(t, c)
		if r, err := hl1.ParseClose(f); err != nil || r != hl1.CloseProtocolError {
			t.Fatalf("%s: got %x (%v), want CLOSE protocol error", tc.cause, f, err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("%s: connection not closed: %v", tc.cause, err)
		}
		c.Close()
		waitClose(t, s, tc.cause, before+1)
	}
}

// A connection that is not authenticated within AuthTimeout is closed with CLOSE 5, however
// it trickles bytes meanwhile: frames of an unauthenticated connection extend nothing.
func TestTCPUnauthenticatedConnectionIsClosedAfterAuthTimeout(t *testing.T) {
	s, _, _, addr := setupWith(t, func(o *Options) { o.AuthTimeout = 400 * time.Millisecond })
	start := time.Now() // before the dial: the gateway counts from its accept, which may come first
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var hdr [2]byte
	binary.BigEndian.PutUint16(hdr[:], 66)
	if _, err := c.Write(append(hdr[:], 0x11)); err != nil { // a HELLO that never completes
		t.Fatal(err)
	}
	trickle := time.NewTicker(50 * time.Millisecond)
	defer trickle.Stop()
	go func() {
		for range trickle.C {
			if _, err := c.Write([]byte{0}); err != nil {
				return
			}
		}
	}()
	f := read(t, c)
	if r, err := hl1.ParseClose(f); err != nil || r != hl1.CloseIdleTimeout {
		t.Fatalf("got %x, want CLOSE idle timeout", f)
	}
	if took := time.Since(start); took < 400*time.Millisecond {
		t.Fatalf("closed after %v, before the auth timeout", took)
	}
	waitClose(t, s, CauseAuthTimeout, 1)
}

// An authenticated connection is closed after IdleTimeout of silence, and each frame it
// sends (a heartbeat, even a replayed one) keeps it open.
func TestTCPAuthenticatedConnectionIdleTimeout(t *testing.T) {
	s, keys, clk, addr := setupWith(t, func(o *Options) { o.IdleTimeout = 600 * time.Millisecond })
	cl := dialClient(t, keys, clk, addr, 5, 1)
	cl.hello(t)
	pace := time.NewTicker(200 * time.Millisecond) // real time must pass: 6 beats span twice the idle timeout
	defer pace.Stop()
	for i := 0; i < 6; i++ {
		cl.beat(t)
		proctest.WaitFor(t, 5*time.Second, "the heartbeat counted", func() bool { return s.HandlerStats().Heartbeats.Load() == uint64(i+1) })
		<-pace.C
	}
	if n := s.Stats.Closes(CauseIdleTimeout); n != 0 {
		t.Fatalf("a heartbeating connection was closed as idle (%d)", n)
	}
	f := read(t, cl.c)
	if r, err := hl1.ParseClose(f); err != nil || r != hl1.CloseIdleTimeout {
		t.Fatalf("got %x, want CLOSE idle timeout", f)
	}
	waitClose(t, s, CauseIdleTimeout, 1)
}

func waitClose(t *testing.T, s *Server, cause CloseCause, want uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats.Closes(cause) < want {
		if time.Now().After(deadline) {
			t.Fatalf("close cause %v counted %d, want %d", cause, s.Stats.Closes(cause), want)
		}
		time.Sleep(time.Millisecond)
	}
}

func mustTCP(frame []byte) []byte {
	b, err := hl1.AppendTCP(nil, frame)
	if err != nil {
		panic(err)
	}
	return b
}

func TestTCPConnectionLimit(t *testing.T) {
	s, _, _, addr := setupMax(t, time.Minute, 3)
	var conns []net.Conn
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats.Open.Load() != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("open %d", s.Stats.Open.Load())
		}
		time.Sleep(time.Millisecond)
	}
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	_ = extra.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := extra.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("fourth connection not closed: %v", err)
	}
	waitClose(t, s, CauseTooManyConnections, 1)
}

// Without -tcp-idle an authenticated connection may stay silent as long as a session may
// (interval x misses + grace), as PROTOCOL.md says; an unauthenticated one 5 s.
func TestIdleTimeoutDefaultsToTheSessionTimeout(t *testing.T) {
	tb, err := table.New(table.Options{Shards: 1, SessionsPerShard: 4, Interval: 20 * time.Second, Misses: 2, Grace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s := New(tb, Options{})
	if s.opts.IdleTimeout != 41*time.Second || s.opts.AuthTimeout != 5*time.Second {
		t.Fatalf("idle %v, auth %v; want 41s (20s x 2 + 1s) and 5s", s.opts.IdleTimeout, s.opts.AuthTimeout)
	}
}
