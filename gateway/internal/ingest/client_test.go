package ingest

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"heartline/gateway/internal/table"
	"heartline/protocol/hl1"
	"heartline/protocol/token"
)

// Test helpers: a key ring, and a minimal HL1 client built from the hl1 encoders.

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func testKeys(t testing.TB) *token.KeyRing {
	t.Helper()
	r := token.NewKeyRing()
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(i * 7)
	}
	if err := r.Add(1, secret); err != nil {
		t.Fatal(err)
	}
	if err := r.SetCurrent(1); err != nil {
		t.Fatal(err)
	}
	return r
}

type testClient struct {
	key     hl1.MACKey
	tok     token.Token
	nonce   uint32
	slot    uint32
	epoch   uint32
	base    time.Time
	seq     uint64
	clockMS uint64
}

func newTestClient(t testing.TB, keys *token.KeyRing, user uint64, dev uint32) *testClient {
	t.Helper()
	tok, sk, err := keys.Issue(token.Claims{UserID: user, DeviceID: dev, Expiry: t0.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return &testClient{key: hl1.NewMACKey(sk), tok: tok, clockMS: uint64(t0.UnixMilli())}
}

func (c *testClient) hello(now time.Time, active bool) []byte {
	c.nonce = rand.Uint32()
	h := hl1.Hello{ClientTimeMS: uint64(now.UnixMilli()), Nonce: c.nonce, Token: c.tok.Bytes()}
	if active {
		h.Flags = hl1.FlagActive
	}
	return hl1.AppendHello(nil, h.Seal(c.key))
}

func (c *testClient) welcome(t testing.TB, frame []byte) {
	t.Helper()
	w, err := hl1.ParseWelcome(frame)
	if err != nil {
		t.Fatalf("WELCOME: %v (% x)", err, frame)
	}
	if !w.Verify(c.key, c.nonce) {
		t.Fatal("WELCOME tag does not verify")
	}
	c.slot, c.epoch, c.seq = w.Slot, w.Epoch, 0
	c.base = time.UnixMilli(int64(w.ServerTimeMS))
}

// beat returns the next HEARTBEAT (or BYE) sent at time now.
func (c *testClient) beat(now time.Time, active, bye bool) []byte {
	c.seq++
	ts := uint64(now.Sub(c.base) / (10 * time.Millisecond))
	h := hl1.Beat{Slot: c.slot, Epoch: c.epoch, Seq: c.seq, TS: ts, Active: active, Bye: bye}.Seal(c.key)
	return hl1.AppendHeartbeat(nil, h)
}

// recorder collects replies.
type recorder struct{ frames [][]byte }

func (r *recorder) Send(frame []byte, to *Addr) {
	r.frames = append(r.frames, append([]byte(nil), frame...))
}
func (r *recorder) SendFrame(frame []byte)       { r.Send(frame, nil) }
func (r *recorder) Refused(hl1.Type, DropReason) {}
func (r *recorder) last() []byte {
	if len(r.frames) == 0 {
		return nil
	}
	return r.frames[len(r.frames)-1]
}

type testEnv struct {
	tb   *table.Table
	h    *Handler
	rec  *recorder
	keys *token.KeyRing
	now  time.Time
	from Addr
}

func newEnv(t testing.TB, shards int) *testEnv {
	t.Helper()
	tb, err := table.New(table.Options{Shards: shards, SessionsPerShard: 1024, Start: t0})
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{tb: tb, rec: &recorder{}, keys: testKeys(t), now: t0.Add(time.Second)}
	e.h = NewHandler(tb, 0, e.rec, nil, HandlerOptions{Keys: e.keys, Epoch: 0xE90C, Relays: testRelays})
	e.from.Raw = [28]byte{2, 0, 0x30, 0x39, 10, 0, 0, 1}
	e.from.Len = 16
	return e
}

// testRelays allows BATCH from the test clients' addresses (10.0.x.1).
var testRelays = Relays{netip.MustParsePrefix("10.0.0.0/16")}

func (e *testEnv) nowT() Now { return Now{Time: e.now, Tick: e.tb.Tick(e.now)} }

func (e *testEnv) send(b []byte) { e.h.Frame(b, &e.from, nil, e.nowT()) }

func (e *testEnv) connect(t testing.TB, user uint64, dev uint32) *testClient {
	t.Helper()
	c := newTestClient(t, e.keys, user, dev)
	n := len(e.rec.frames)
	e.send(c.hello(e.now, true))
	if len(e.rec.frames) != n+1 {
		t.Fatalf("no WELCOME for user %d (drops: %v)", user, e.dropSummary())
	}
	c.welcome(t, e.rec.last())
	return c
}

func (e *testEnv) dropSummary() map[string]uint64 {
	m := map[string]uint64{}
	for _, r := range DropReasons {
		if n := e.h.Stats.Drops(r); n > 0 {
			m[r.String()] = n
		}
	}
	return m
}

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
