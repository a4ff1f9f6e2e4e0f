package tcp

import (
	"net"
	"testing"
	"time"

	"heartline/agent/shared/clock"
	"heartline/protocol/hl1"
	"heartline/protocol/token"
)

// testClient is one app session over one TCP connection to a test server.
type testClient struct {
	c       net.Conn
	key     hl1.MACKey
	tok     [token.Size]byte
	clk     *clock.Fake
	nonce   uint32
	helloMS uint64 // client_time_ms of the last HELLO
	w       hl1.Welcome
	seq     uint64
}

func dialClient(t *testing.T, keys *token.KeyRing, clk *clock.Fake, addr string, user uint64, device uint32) *testClient {
	t.Helper()
	tok, sk, err := keys.Issue(token.Claims{UserID: user, DeviceID: device, Expiry: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &testClient{c: c, key: hl1.NewMACKey(sk), tok: tok.Bytes(), clk: clk}
}

// helloFrame is a fresh HELLO (new nonce, client time 16 ms after the previous one).
func (tc *testClient) helloFrame() []byte {
	tc.nonce++
	tc.helloMS = max(uint64(tc.clk.Now().UnixMilli()), tc.helloMS+16)
	h := hl1.Hello{ClientTimeMS: tc.helloMS, Nonce: tc.nonce, Token: tc.tok, Flags: hl1.FlagActive}.Seal(tc.key)
	return hl1.AppendHello(nil, h)
}

// welcome reads the WELCOME answering the last HELLO and adopts its session.
func (tc *testClient) welcome(t *testing.T) {
	t.Helper()
	f := read(t, tc.c)
	w, err := hl1.ParseWelcome(f)
	if err != nil || !w.Verify(tc.key, tc.nonce) {
		t.Fatalf("want a WELCOME for HELLO nonce %d, got %x (%v)", tc.nonce, f, err)
	}
	tc.w, tc.seq = w, 0
}

// hello says HELLO and waits for the WELCOME.
func (tc *testClient) hello(t *testing.T) {
	t.Helper()
	send(t, tc.c, tc.helloFrame())
	tc.welcome(t)
}

// beatFrame is the session's next HEARTBEAT (or BYE).
func (tc *testClient) beatFrame(bye bool) []byte {
	tc.seq++
	ts := uint64(tc.clk.Now().UnixMilli()-int64(tc.w.ServerTimeMS)) / 10
	return hl1.AppendHeartbeat(nil, hl1.Beat{Slot: tc.w.Slot, Epoch: tc.w.Epoch, Seq: tc.seq, TS: ts, Active: true, Bye: bye}.Seal(tc.key))
}

func (tc *testClient) beat(t *testing.T) { t.Helper(); send(t, tc.c, tc.beatFrame(false)) }
