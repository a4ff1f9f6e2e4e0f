package main

import (
	"encoding/base64"
	"net"
	"sync"
	"testing"
	"time"

	"heartline/protocol/hl1"
	"heartline/protocol/token"
)

// fakeGateway answers HELLO with WELCOME (announcing its interval) over UDP and records
// every datagram both ways, as a radio would see them. It does not check heartbeats: this is
// about what the client sends and when, not about the gateway.
type fakeGateway struct {
	conn     *net.UDPConn
	keys     *token.KeyRing
	interval time.Duration

	mu      sync.Mutex
	packets []packet
	slot    uint32
}

// packet is one datagram: its HL1 type, its size (UDP payload) and when it passed.
type packet struct {
	at   time.Time
	typ  hl1.Type
	size int
	up   bool // app -> gateway
}

func newFakeGateway(t testing.TB, interval time.Duration) *fakeGateway {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	g := &fakeGateway{conn: conn, keys: testKeyRing(t), interval: interval}
	t.Cleanup(func() { conn.Close() })
	go g.serve()
	return g
}

func (g *fakeGateway) addr() string { return g.conn.LocalAddr().String() }

func (g *fakeGateway) serve() {
	buf := make([]byte, hl1.MaxFrame)
	for {
		n, from, err := g.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		f := buf[:n]
		typ, _ := hl1.PeekType(f)
		g.record(typ, n, true)
		if typ != hl1.TypeHello {
			continue
		}
		h, err := hl1.ParseHello(f)
		if err != nil || h.Flags&hl1.FlagLogout != 0 {
			continue
		}
		_, key, err := g.keys.Open(h.Token[:], time.Now())
		if err != nil {
			continue
		}
		g.mu.Lock()
		g.slot++
		w := hl1.Welcome{Slot: g.slot, Epoch: 1, IntervalMS: uint32(g.interval / time.Millisecond), ServerTimeMS: uint64(time.Now().UnixMilli())}
		g.mu.Unlock()
		out := hl1.AppendWelcome(nil, w.Seal(hl1.NewMACKey(key), h.Nonce))
		if _, err := g.conn.WriteToUDP(out, from); err == nil {
			g.record(hl1.TypeWelcome, len(out), false)
		}
	}
}

func (g *fakeGateway) record(typ hl1.Type, size int, up bool) {
	g.mu.Lock()
	g.packets = append(g.packets, packet{at: time.Now(), typ: typ, size: size, up: up})
	g.mu.Unlock()
}

// since returns the packets recorded at or after t.
func (g *fakeGateway) since(t time.Time) []packet {
	g.mu.Lock()
	defer g.mu.Unlock()
	return packetsSince(g.packets, t)
}

// packetsSince returns a copy of the packets of ps at or after t.
func packetsSince(ps []packet, t time.Time) []packet {
	var out []packet
	for _, p := range ps {
		if !p.at.Before(t) {
			out = append(out, p)
		}
	}
	return out
}

// count returns how many packets of type typ were recorded.
func (g *fakeGateway) count(typ hl1.Type) int {
	n := 0
	for _, p := range g.since(time.Time{}) {
		if p.typ == typ {
			n++
		}
	}
	return n
}

func testKeyRing(t testing.TB) *token.KeyRing {
	t.Helper()
	r := token.NewKeyRing()
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(9*i + 4)
	}
	if err := r.Add(3, secret); err != nil {
		t.Fatal(err)
	}
	if err := r.SetCurrent(3); err != nil {
		t.Fatal(err)
	}
	return r
}

// siteCredentials issues credentials as the site's POST /api/session returns them (text).
func siteCredentials(t testing.TB, keys *token.KeyRing, user uint64) (tok, key string) {
	t.Helper()
	tk, sk, err := keys.Issue(token.Claims{UserID: user, DeviceID: 1, Expiry: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return tk.String(), base64.RawURLEncoding.EncodeToString(sk[:])
}

// newTestSession makes a session against g as hl_create would, with tuning.
func newTestSession(t testing.TB, g *fakeGateway, user uint64, tune tuning) *session {
	t.Helper()
	tok, key := siteCredentials(t, g.keys, user)
	cred, err := parseCredentials(tok, key)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newSession(cred, []string{g.addr()}, transportUDP, tune)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.destroy)
	return s
}
