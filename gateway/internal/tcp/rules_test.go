package tcp

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"heartline/agent/shared/clock"
	"heartline/gateway/internal/ingest"
	"heartline/protocol/hl1"
	"heartline/scripts/proctest"
)

// expectEOF asserts the gateway closed the connection (nothing more to read).
func expectEOF(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("connection still open: read %d bytes, %v", n, err)
	}
}

func TestTCPHelloWithBadTagIsClose3(t *testing.T) {
	s, keys, clk, addr := setupWith(t, nil)
	cl := dialClient(t, keys, clk, addr, 5, 1)
	f := cl.helloFrame()
	f[len(f)-1] ^= 1
	send(t, cl.c, f)
	expectClose(t, cl.c, hl1.CloseAuthFailed)
	expectEOF(t, cl.c)
	waitClose(t, s, CauseNotAuthenticated, 1)
	if s.Stats.Closes(CauseAuthTimeout) != 0 {
		t.Fatal("closed by the auth timeout, not by the rule")
	}
}

// Frames of the wrong length after an accepted HELLO are protocol errors (CLOSE 2), whatever
// their type.
func TestTCPShortAndTrailingFramesAfterHelloAreClose2(t *testing.T) {
	s, keys, clk, addr := setupWith(t, nil)
	for i, mangle := range []func(f []byte) []byte{
		func(f []byte) []byte { return f[:len(f)-1] },        // short heartbeat
		func(f []byte) []byte { return append(f, 0) },        // trailing byte
		func(f []byte) []byte { return append(f, f[1:]...) }, // two heartbeats glued in one frame
	} {
		cl := dialClient(t, keys, clk, addr, 5, uint32(10+i))
		cl.hello(t)
		send(t, cl.c, mangle(cl.beatFrame(false)))
		expectClose(t, cl.c, hl1.CloseProtocolError)
		expectEOF(t, cl.c)
		waitClose(t, s, CauseProtocolError, uint64(i+1))
	}
	cl := dialClient(t, keys, clk, addr, 5, 20)
	cl.hello(t)
	send(t, cl.c, cl.helloFrame()[:hl1.HelloSize-1]) // a short HELLO is no retry
	expectClose(t, cl.c, hl1.CloseProtocolError)
	waitClose(t, s, CauseProtocolError, 4)
}

// A HELLO on an authenticated connection is allowed before its first heartbeat (a retry
// that crossed the WELCOME) and after a REHELLO; otherwise it is CLOSE 2.
func TestTCPSecondHelloRule(t *testing.T) {
	s, keys, clk, addr := setupWith(t, nil)

	retry := dialClient(t, keys, clk, addr, 5, 1)
	retry.hello(t)
	retry.hello(t) // no heartbeat yet: a retry, answered
	retry.beat(t)
	proctest.WaitFor(t, 5*time.Second, "the heartbeat on the retried session", func() bool { return s.HandlerStats().Heartbeats.Load() == 1 })

	send(t, retry.c, retry.helloFrame()) // after a heartbeat, with no REHELLO: not allowed
	expectClose(t, retry.c, hl1.CloseProtocolError)
	waitClose(t, s, CauseProtocolError, 1)

	after := dialClient(t, keys, clk, addr, 5, 2)
	after.hello(t)
	after.beat(t)
	after.w.Slot ^= 1 << 20 // a slot the gateway does not know: answered with REHELLO 1
	after.beat(t)
	f := read(t, after.c)
	if r, err := hl1.ParseRehello(f); err != nil || r.Reason != hl1.RehelloUnknownSlot || r.Slot != after.w.Slot {
		t.Fatalf("got %x (%v), want REHELLO 1 for slot %d", f, err, after.w.Slot)
	}
	after.hello(t) // after a REHELLO: allowed, answered with WELCOME
	after.beat(t)
	proctest.WaitFor(t, 5*time.Second, "heartbeats of the re-HELLOed session", func() bool { return s.HandlerStats().Heartbeats.Load() == 3 })
	if n := s.Stats.Closes(CauseProtocolError); n != 1 {
		t.Fatalf("%d protocol-error closes, want only the first connection's", n)
	}
}

// A HELLO the gateway has no room for is answered with REHELLO 3 (slot 0), then the
// connection ends.
func TestTCPGatewayFullIsRehello3ThenClose(t *testing.T) {
	s, keys, clk, addr := setupTable(t, 1, nil)
	first := dialClient(t, keys, clk, addr, 5, 1)
	first.hello(t)
	second := dialClient(t, keys, clk, addr, 6, 1)
	send(t, second.c, second.helloFrame())
	f := read(t, second.c)
	if r, err := hl1.ParseRehello(f); err != nil || r.Slot != 0 || r.Reason != hl1.RehelloFull {
		t.Fatalf("got %x (%v), want REHELLO 3 for slot 0", f, err)
	}
	expectEOF(t, second.c)
	waitClose(t, s, CauseHelloRefused, 1)
}

// gatedClock stalls the TCP worker (it reads the clock for every frame and tick) while
// held, so a test can fill the work queue deterministically.
type gatedClock struct {
	*clock.Fake
	gate sync.RWMutex
}

func (g *gatedClock) Now() time.Time {
	g.gate.RLock()
	defer g.gate.RUnlock()
	return g.Fake.Now()
}

// A few connections flooding frames cannot get a real user closed as overloaded: each
// holds at most ConnQueue frames of the shared queue, and the one that wants more is the
// one closed.
func TestTCPFloodingConnectionsCannotCrowdOutOthers(t *testing.T) {
	var gc *gatedClock
	s, keys, clk, addr := setupWith(t, func(o *Options) {
		gc = &gatedClock{Fake: o.Clock.(*clock.Fake)}
		o.Clock, o.WorkQueue, o.ConnQueue = gc, 16, 4
	})
	var flooders []*testClient
	for i := 0; i < 3; i++ {
		cl := dialClient(t, keys, clk, addr, uint64(10+i), 1)
		cl.hello(t)
		flooders = append(flooders, cl)
	}
	legit := dialClient(t, keys, clk, addr, 5, 1)
	legit.hello(t)

	gc.gate.Lock() // the worker stops taking frames
	for _, cl := range flooders {
		f := mustTCP(cl.beatFrame(false))
		var burst []byte
		for range 50 {
			burst = append(burst, f...) // one valid heartbeat, then its replays
		}
		if _, err := cl.c.Write(burst); err != nil {
			t.Fatal(err)
		}
	}
	proctest.WaitFor(t, 5*time.Second, "every flooder closed as overloaded", func() bool { return s.Stats.Closes(CauseOverload) == 3 })
	legit.beat(t)
	gc.gate.Unlock()
	proctest.WaitFor(t, 5*time.Second, "the legit heartbeat", func() bool { return s.HandlerStats().Heartbeats.Load() == 4 })
	for _, cl := range flooders {
		expectClose(t, cl.c, hl1.CloseSlowConsumer)
	}
	legit.beat(t) // still open
	proctest.WaitFor(t, 5*time.Second, "the second legit heartbeat", func() bool { return s.HandlerStats().Heartbeats.Load() == 5 })
	if n := s.Stats.Closes(CauseOverload); n != 3 {
		t.Fatalf("%d connections closed as overloaded, want the 3 flooders", n)
	}
}

func TestTCPConnectionsPerAddressAreCapped(t *testing.T) {
	s, _, _, addr := setupWith(t, func(o *Options) { o.MaxConnsPerAddr = 2 })
	var open []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		open = append(open, c)
	}
	proctest.WaitFor(t, 5*time.Second, "two connections open", func() bool { return s.Stats.Open.Load() == 2 })
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	expectEOF(t, extra)
	waitClose(t, s, CauseTooManyFromAddress, 1)

	open[0].Close()
	proctest.WaitFor(t, 5*time.Second, "the closed connection uncounted", func() bool { return s.Stats.Open.Load() == 1 })
	again, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	proctest.WaitFor(t, 5*time.Second, "a new connection from the address admitted", func() bool { return s.Stats.Open.Load() == 2 })
	if n := s.Stats.Closes(CauseTooManyFromAddress); n != 1 {
		t.Fatalf("%d refused, want 1", n)
	}
}

// Every drop reason maps to the reaction PROTOCOL.md gives it: a HELLO that fails
// authentication is CLOSE 3, a frame that does not parse CLOSE 2, a HELLO the gateway has no
// room for REHELLO 3, a lost or replayed heartbeat nothing.
func TestRefusalOfEveryDropReason(t *testing.T) {
	auth := map[ingest.DropReason]bool{ingest.ReasonTokenMalformed: true, ingest.ReasonTokenUnknownKey: true, ingest.ReasonTokenBadMAC: true,
		ingest.ReasonTokenExpired: true, ingest.ReasonHelloBadTag: true, ingest.ReasonClockSkew: true, ingest.ReasonHelloReplay: true}
	parse := map[ingest.DropReason]bool{ingest.ReasonShort: true, ingest.ReasonTrailing: true, ingest.ReasonTooLarge: true,
		ingest.ReasonVersion: true, ingest.ReasonUnknownType: true, ingest.ReasonBadLength: true, ingest.ReasonBadValue: true,
		ingest.ReasonNotSorted: true, ingest.ReasonCorrupt: true, ingest.ReasonUnexpected: true}
	for _, r := range ingest.DropReasons {
		hello, beat := refusal(hl1.TypeHello, r), refusal(hl1.TypeHeartbeat, r)
		switch {
		case parse[r]:
			if hello != refuseProtocol || beat != refuseProtocol {
				t.Errorf("%s: %d/%d, want CLOSE 2 for any frame", r, hello, beat)
			}
		case auth[r]:
			if hello != refuseAuth {
				t.Errorf("%s on a HELLO: %d, want CLOSE 3", r, hello)
			}
		default:
			if hello != refuseBusy || beat != refuseIgnore {
				t.Errorf("%s: HELLO %d, heartbeat %d; want REHELLO 3 and nothing", r, hello, beat)
			}
		}
	}
}
