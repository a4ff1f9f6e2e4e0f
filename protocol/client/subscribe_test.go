package client

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"heartline/protocol/hl1"
	"heartline/protocol/token"
)

// tcpSubGateway is a minimal TCP responder: WELCOME for a valid HELLO, then for every
// SUBSCRIBE one EVENT entry per id (version 1, active); it records the frames' id counts.
type tcpSubGateway struct {
	ln     net.Listener
	keys   *token.KeyRing
	mu     sync.Mutex
	frames []int // ids per SUBSCRIBE frame, all connections
	unsubs int
	conns  []net.Conn
}

func newTCPSubGateway(t *testing.T, keys *token.KeyRing) *tcpSubGateway {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &tcpSubGateway{ln: ln, keys: keys}
	t.Cleanup(func() {
		ln.Close()
		g.mu.Lock()
		for _, c := range g.conns {
			c.Close()
		}
		g.mu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g.mu.Lock()
			g.conns = append(g.conns, c)
			g.mu.Unlock()
			go g.serve(c)
		}
	}()
	return g
}

func (g *tcpSubGateway) serve(c net.Conn) {
	buf := make([]byte, hl1.MaxFrame+hl1.TCPHeaderSize)
	var sub hl1.Subscription
	send := func(f []byte) { b, _ := hl1.AppendTCP(nil, f); c.Write(b) } //nolint:errcheck
	for {
		f, err := hl1.ReadTCPFrame(c, buf)
		if err != nil {
			return
		}
		switch t, _ := hl1.PeekType(f); t {
		case hl1.TypeHello:
			h, err := hl1.ParseHello(f)
			if err != nil {
				return
			}
			_, key, err := g.keys.Open(h.Token[:], time.Now())
			if err != nil {
				return
			}
			w := hl1.Welcome{Slot: 1, Epoch: 1, IntervalMS: 60000, ServerTimeMS: uint64(time.Now().UnixMilli())}
			send(hl1.AppendWelcome(nil, w.Seal(hl1.NewMACKey(key), h.Nonce)))
		case hl1.TypeSubscribe, hl1.TypeUnsubscribe:
			if hl1.ParseSubscribe(f, &sub) != nil {
				return
			}
			g.mu.Lock()
			if sub.Unsubscribe {
				g.unsubs += len(sub.UserIDs)
			} else {
				g.frames = append(g.frames, len(sub.UserIDs))
			}
			g.mu.Unlock()
			if sub.Unsubscribe {
				continue
			}
			var evs []hl1.Event
			for i, u := range sub.UserIDs {
				evs = append(evs, hl1.Event{UserID: u, State: hl1.StateActive, Devices: 1, Version: 1})
				if len(evs) == hl1.MaxEvents || i == len(sub.UserIDs)-1 {
					e, _ := hl1.AppendEvents(nil, evs)
					send(e)
					evs = evs[:0]
				}
			}
		}
	}
}

func (g *tcpSubGateway) counts() (frames []int, unsubs int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int(nil), g.frames...), g.unsubs
}

func TestClientSubscribeSplitsFramesDeliversEventsAndResubscribes(t *testing.T) {
	keys, cred := testCredentials(t, 42)
	g := newTCPSubGateway(t, keys)
	var mu sync.Mutex
	got := map[uint64]int{}
	c, err := New(cred, Options{Gateways: []string{g.ln.Addr().String()}, Network: "tcp",
		OnEvent: func(ev hl1.Event) { mu.Lock(); got[ev.UserID]++; mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := (&Client{opts: Options{Network: "udp"}}).Subscribe([]uint64{1}); err == nil {
		t.Fatal("Subscribe over UDP accepted")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	go c.Run(ctx) //nolint:errcheck
	// Sparse ids (1<<40 apart) do not fit 4096 to a frame: the client splits them.
	ids := make([]uint64, 5000)
	for i := range ids {
		ids[i] = uint64(i+1) << 40
	}
	ids = append(ids, ids[0]) // duplicates are removed
	if err := c.Subscribe(ids); err != nil {
		t.Fatal(err)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("5000 events", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 5000 })
	frames, _ := g.counts()
	total := 0
	for _, n := range frames {
		if n > hl1.MaxSubscribeIDs {
			t.Fatalf("frame with %d ids", n)
		}
		total += n
	}
	if total != 5000 || len(frames) < 3 {
		t.Fatalf("frames %v: want 5000 ids over several frames", frames)
	}
	if err := c.Unsubscribe(ids[:10]); err != nil {
		t.Fatal(err)
	}
	waitFor("unsubscribe", func() bool { _, u := g.counts(); return u == 10 })

	// The gateway drops the connection: the client reconnects and subscribes again to the
	// 4990 users it still holds.
	g.mu.Lock()
	for _, conn := range g.conns {
		conn.Close()
	}
	g.mu.Unlock()
	waitFor("resubscribe after reconnect", func() bool {
		frames, _ := g.counts()
		n := 0
		for _, f := range frames {
			n += f
		}
		return n == 5000+4990
	})
}
