//go:build linux

package main

import (
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"heartline/protocol/hl1"
	"heartline/protocol/token"
	"heartline/scripts/proctest"
)

// tcpGateway answers HELLO with WELCOME over TCP and counts what the kernel put on the wire
// for each connection (TCP_INFO: segments both ways, payload bytes both ways), so the TCP
// budget includes handshakes, ACKs and closes, not just HL1 frames.
type tcpGateway struct {
	ln       net.Listener
	keys     *token.KeyRing
	interval time.Duration

	mu     sync.Mutex
	live   map[*net.TCPConn]bool
	closed tcpCounts // connections the app closed, counted at their end
	frames []packet  // HL1 frames, for wake-ups
}

// tcpCounts is TCP_INFO's segment and byte counters, summed.
type tcpCounts struct {
	segments, payload uint64
}

func newTCPGateway(t testing.TB, interval time.Duration) *tcpGateway {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &tcpGateway{ln: ln, keys: testKeyRing(t), interval: interval, live: map[*net.TCPConn]bool{}}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go g.serve(c.(*net.TCPConn))
		}
	}()
	return g
}

func (g *tcpGateway) serve(c *net.TCPConn) {
	g.mu.Lock()
	g.live[c] = true
	g.mu.Unlock()
	buf := make([]byte, hl1.MaxFrame+hl1.TCPHeaderSize)
	for {
		f, err := hl1.ReadTCPFrame(c, buf)
		if err != nil {
			break
		}
		typ, _ := hl1.PeekType(f)
		g.record(typ, len(f)+hl1.TCPHeaderSize, true)
		if typ != hl1.TypeHello {
			continue
		}
		h, err := hl1.ParseHello(f)
		if err != nil {
			continue
		}
		_, key, err := g.keys.Open(h.Token[:], time.Now())
		if err != nil {
			continue
		}
		w := hl1.Welcome{Slot: 1, Epoch: 1, IntervalMS: uint32(g.interval / time.Millisecond), ServerTimeMS: uint64(time.Now().UnixMilli())}
		out, _ := hl1.AppendTCP(nil, hl1.AppendWelcome(nil, w.Seal(hl1.NewMACKey(key), h.Nonce)))
		if _, err := c.Write(out); err == nil {
			g.record(hl1.TypeWelcome, len(out), false)
		}
	}
	// The app closed: count the connection now. Our FIN and its ACK come after: +2.
	n := tcpInfo(c)
	n.segments += 2
	c.Close()
	g.mu.Lock()
	delete(g.live, c)
	g.closed.segments += n.segments
	g.closed.payload += n.payload
	g.mu.Unlock()
}

func (g *tcpGateway) record(typ hl1.Type, size int, up bool) {
	g.mu.Lock()
	g.frames = append(g.frames, packet{at: time.Now(), typ: typ, size: size, up: up})
	g.mu.Unlock()
}

// total is every connection's counters so far.
func (g *tcpGateway) total() tcpCounts {
	g.mu.Lock()
	defer g.mu.Unlock()
	sum := g.closed
	for c := range g.live {
		n := tcpInfo(c)
		sum.segments += n.segments
		sum.payload += n.payload
	}
	return sum
}

func (g *tcpGateway) framesSince(t time.Time) []packet {
	g.mu.Lock()
	defer g.mu.Unlock()
	return packetsSince(g.frames, t)
}

func tcpInfo(c *net.TCPConn) tcpCounts {
	var n tcpCounts
	raw, err := c.SyscallConn()
	if err != nil {
		return n
	}
	raw.Control(func(fd uintptr) { //nolint:errcheck // a closed socket counts nothing
		if info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			n.segments = uint64(info.Segs_in) + uint64(info.Segs_out)
			n.payload = info.Bytes_received + info.Bytes_acked
		}
	})
	return n
}

// ipv4TCPHeaders: IPv4 20 + TCP 20 + the timestamp option 12 bytes per segment.
const ipv4TCPHeaders = 20 + 20 + 12

// TestMobileBudgetTCP measures a compressed foreground hour over TCP (the transport that
// carries subscriptions), counting segments and bytes from the kernel's TCP_INFO.
func TestMobileBudgetTCP(t *testing.T) {
	proctest.SkipShort(t) // one compressed hour: 18 s
	hour := time.Hour / budgetScale
	g := newTCPGateway(t, defaultInterval/budgetScale)
	tok, key := siteCredentials(t, g.keys, 100001)
	cred, err := parseCredentials(tok, key)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newSession(cred, []string{g.ln.Addr().String()}, transportTCP, tuning{confirmEvery: 2 * time.Minute / budgetScale})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.destroy)
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, stateOnline)
	from, before := time.Now(), g.total()
	proctest.WaitFor(t, 2*hour, "a compressed hour", func() bool { return time.Since(from) >= hour })
	after := g.total()
	segs, payload := after.segments-before.segments, after.payload-before.payload
	a := measure(g.framesSince(from))
	t.Logf("foreground over TCP, per hour: %d HL1 frames up, %d down, %d TCP segments, %d payload bytes, %d bytes on the air (IPv4), %d radio wake-ups",
		a.up, a.down, segs, payload, payload+segs*ipv4TCPHeaders, a.wakeups)
	// 360 beats, each a data segment and an ACK; 30 reconnects (handshake, HELLO, WELCOME,
	// first beat, close, with their ACKs).
	// (Lower bounds leave room for beats a loaded machine skips, as in TestMobileBudget.)
	if segs < 2*330 || segs > 2*360+30*16 {
		t.Errorf("%d segments, want %d..%d", segs, 2*330, 2*360+30*16)
	}
	if a.up < 360 || a.up > 430 {
		t.Errorf("%d HL1 frames up, want 360..430", a.up)
	}
}
