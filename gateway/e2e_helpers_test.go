package main

import (
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"heartline/protocol/feed"
	"heartline/protocol/hl1"
	"heartline/protocol/token"
)

// udpClient is a minimal HL1 client over UDP built from the hl1 encoders. Unlike the
// reference client (protocol/client) it takes the time as a parameter, so tests can drive it
// from a fake clock, and it can replay or forge frames.
type udpClient struct {
	conn  *net.UDPConn
	key   hl1.MACKey
	tok   token.Token
	nonce uint32
	w     hl1.Welcome
	seq   uint64
}

func newClient(t testing.TB, keys *token.KeyRing, addr string, user uint64, dev uint32, now time.Time) *udpClient {
	t.Helper()
	tok, sk, err := keys.Issue(token.Claims{UserID: user, DeviceID: dev, Expiry: now.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialUDP("udp", nil, ua)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &udpClient{conn: conn, key: hl1.NewMACKey(sk), tok: tok}
}

func (c *udpClient) hello(t testing.TB, now time.Time) {
	t.Helper()
	buf := make([]byte, 256)
	for try := 0; try < 20; try++ {
		c.nonce = rand.Uint32()
		h := hl1.Hello{Flags: hl1.FlagActive, ClientTimeMS: uint64(now.UnixMilli()), Nonce: c.nonce, Token: c.tok.Bytes()}.Seal(c.key)
		if _, err := c.conn.Write(hl1.AppendHello(nil, h)); err != nil {
			t.Fatal(err)
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := c.conn.Read(buf)
		if err != nil {
			continue
		}
		w, err := hl1.ParseWelcome(buf[:n])
		if err != nil || !w.Verify(c.key, c.nonce) {
			t.Fatalf("bad WELCOME: %v", err)
		}
		c.w, c.seq = w, 0
		return
	}
	t.Fatal("no WELCOME")
}

// connect does what an app does to come online: HELLO, and the first HEARTBEAT (active)
// right after the WELCOME. The gateway reports a session online only at its first
// heartbeat, so hello alone leaves the member offline.
func (c *udpClient) connect(t testing.TB, now time.Time) {
	t.Helper()
	c.hello(t, now)
	c.beat(t, now, true, false)
}

// beat sends the next HEARTBEAT (or BYE) for client time now and returns the frame.
func (c *udpClient) beat(t testing.TB, now time.Time, active, bye bool) []byte {
	t.Helper()
	f := c.frame(now, active, bye)
	if _, err := c.conn.Write(f); err != nil {
		t.Fatal(err)
	}
	return f
}

// frame builds the next HEARTBEAT (or BYE) without sending it.
func (c *udpClient) frame(now time.Time, active, bye bool) []byte {
	c.seq++
	// ts counts from the WELCOME (PROTOCOL.md), so it is never negative: a caller's "now"
	// taken before the HELLO may be earlier than the gateway's server time, and a negative
	// value would wrap to a ts the gateway cannot reconstruct (bad_mac, REHELLO 1).
	ts := uint64(max(0, now.UnixMilli()-int64(c.w.ServerTimeMS))) / 10
	return hl1.AppendHeartbeat(nil, hl1.Beat{Slot: c.w.Slot, Epoch: c.w.Epoch, Seq: c.seq, TS: ts, Active: active, Bye: bye}.Seal(c.key))
}

type sessKey struct {
	user uint64
	dev  uint32
}

// agent follows the feed like the real agent: snapshot replaces, records apply.
type agent struct {
	c         net.Conn
	r         *feed.Reader
	state     map[sessKey]feed.Record
	log       []feed.Record // every live record, in order
	lastSeq   uint64
	snapshots int
}

func dialAgent(t *testing.T, path string) *agent {
	t.Helper()
	var c net.Conn
	var err error
	for i := 0; i < 500; i++ {
		if c, err = net.Dial("unix", path); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("agent dial %s: %v", path, err)
	}
	t.Cleanup(func() { c.Close() })
	return &agent{c: c, r: feed.NewReader(c), state: map[sessKey]feed.Record{}}
}

// until applies frames until cond holds; it fails the test after timeout.
func (a *agent) until(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	var snap map[sessKey]feed.Record
	for !cond() {
		_ = a.c.SetReadDeadline(time.Now().Add(timeout))
		f, err := a.r.Next()
		if err != nil {
			t.Fatalf("waiting for %s: %v (state: %v)", what, err, a.state)
		}
		switch f.Type {
		case feed.FrameSnapshotBegin:
			snap = map[sessKey]feed.Record{}
		case feed.FrameSnapshotChunk:
			for _, r := range f.Records {
				snap[sessKey{r.User, r.Device}] = r
			}
		case feed.FrameSnapshotEnd:
			a.state, a.lastSeq = snap, f.Seq
			a.snapshots++
		case feed.FrameRecords:
			for _, r := range f.Records {
				if r.Seq != a.lastSeq+1 {
					t.Fatalf("feed sequence gap: %d after %d", r.Seq, a.lastSeq)
				}
				a.lastSeq = r.Seq
				a.log = append(a.log, r)
				if r.Kind == feed.KindOffline {
					delete(a.state, sessKey{r.User, r.Device})
				} else {
					a.state[sessKey{r.User, r.Device}] = r
				}
			}
		}
	}
}

// quiet reads for d and fails if any live record arrives.
func (a *agent) quiet(t *testing.T, d time.Duration, what string) {
	t.Helper()
	_ = a.c.SetReadDeadline(time.Now().Add(d))
	for {
		f, err := a.r.Next()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				a.r = feed.NewReader(a.c) // the timed-out read may have consumed part of a frame; nothing should be pending
				return
			}
			t.Fatalf("%s: %v", what, err)
		}
		if f.Type == feed.FrameRecords && len(f.Records) > 0 {
			t.Fatalf("%s: unexpected records %+v", what, f.Records)
		}
	}
}

func testKeyRing(t testing.TB) *token.KeyRing {
	t.Helper()
	r := token.NewKeyRing()
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(3*i + 1)
	}
	if err := r.Add(7, secret); err != nil {
		t.Fatal(err)
	}
	if err := r.SetCurrent(7); err != nil {
		t.Fatal(err)
	}
	return r
}
