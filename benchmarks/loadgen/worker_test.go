package main

import (
	"testing"
	"time"

	"heartline/benchmarks/mmsg"
	"heartline/protocol/hl1"
	"heartline/protocol/token"
)

// fakeGateway is an in-memory HL1 gateway: it checks tokens, HELLO tags, heartbeat MACs,
// seq/ts (with Heartbeat.Open) exactly as a real gateway must, and answers WELCOME.
type fakeGateway struct {
	t         *testing.T
	keys      *token.KeyRing
	now       *time.Time
	sessions  map[uint32]*fakeSession
	byUser    map[uint64]uint32
	nextSlot  uint32
	replies   [][]byte
	bufs      [][]byte
	dropHello int // drop this many HELLOs before answering
	beats     int
	bad       int
	batches   int
	byes      int
}

type fakeSession struct {
	key        hl1.MACKey
	lastSeq    uint64
	lastTS     uint64
	acceptedAt time.Time
	base       time.Time
	beats      int
}

func newFakeGateway(t *testing.T, keys *token.KeyRing, now *time.Time) *fakeGateway {
	g := &fakeGateway{t: t, keys: keys, now: now, sessions: map[uint32]*fakeSession{}, byUser: map[uint64]uint32{}, nextSlot: 100}
	for i := 0; i < 8; i++ {
		g.bufs = append(g.bufs, make([]byte, mmsg.MaxDatagram))
	}
	return g
}

func (g *fakeGateway) Buffers() [][]byte { return g.bufs }

func (g *fakeGateway) Recv(sizes []int, _ []mmsg.Sockaddr) (int, error) {
	n := 0
	for n < len(sizes) && len(g.replies) > 0 {
		sizes[n] = copy(g.bufs[n], g.replies[0])
		g.replies = g.replies[1:]
		n++
	}
	if n == 0 {
		return 0, mmsg.ErrWouldBlock
	}
	return n, nil
}

func (g *fakeGateway) Send(frames [][]byte, _ []mmsg.Sockaddr) (int, error) {
	for _, f := range frames {
		g.frame(f)
	}
	return len(frames), nil
}

func (g *fakeGateway) frame(f []byte) {
	typ, err := hl1.PeekType(f)
	if err != nil {
		g.t.Fatalf("loadgen sent an unparseable frame: %v", err)
	}
	switch typ {
	case hl1.TypeHello:
		h, err := hl1.ParseHello(f)
		if err != nil {
			g.t.Fatal(err)
		}
		tok, sk, err := g.keys.Open(h.Token[:], *g.now)
		if err != nil {
			g.t.Fatalf("token does not verify: %v", err)
		}
		key := hl1.NewMACKey(sk)
		if !h.Verify(key) {
			g.t.Fatal("HELLO tag does not verify")
		}
		if g.dropHello > 0 {
			g.dropHello--
			return
		}
		slot := g.nextSlot
		g.nextSlot++
		g.byUser[tok.UserID] = slot
		g.sessions[slot] = &fakeSession{key: key, base: *g.now, acceptedAt: *g.now}
		w := hl1.Welcome{Slot: slot, Epoch: 7, IntervalMS: 100, ServerTimeMS: uint64(g.now.UnixMilli())}.Seal(key, h.Nonce)
		g.replies = append(g.replies, hl1.AppendWelcome(nil, w))
	case hl1.TypeHeartbeat, hl1.TypeBye:
		h, err := hl1.ParseHeartbeat(f)
		if err != nil {
			g.t.Fatal(err)
		}
		g.beat(h)
	case hl1.TypeBatch:
		var b hl1.Batch
		if err := hl1.ParseBatch(f, &b); err != nil {
			g.t.Fatalf("BATCH does not parse: %v", err)
		}
		g.batches++
		for i := 0; i < b.Len(); i++ {
			g.beat(b.Entry(i))
		}
	default:
		g.t.Fatalf("unexpected frame type %v", typ)
	}
}

func (g *fakeGateway) beat(h hl1.Heartbeat) {
	s := g.sessions[h.Slot]
	if s == nil {
		g.bad++
		return
	}
	expected := s.lastTS + hl1.TicksSince(s.acceptedAt.UnixMilli(), g.now.UnixMilli())
	seq, ts, err := h.Open(s.key, 7, s.lastSeq, expected)
	if err != nil {
		g.bad++
		return
	}
	s.lastSeq, s.lastTS, s.acceptedAt = seq, ts, *g.now
	if h.Bye {
		g.byes++
		delete(g.sessions, h.Slot)
		return
	}
	s.beats++
	g.beats++
}

func testRing(t *testing.T) *token.KeyRing {
	r := token.NewKeyRing()
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(i*13 + 1)
	}
	if err := r.Add(3, secret); err != nil {
		t.Fatal(err)
	}
	if err := r.SetCurrent(3); err != nil {
		t.Fatal(err)
	}
	return r
}

func testOptions(n int) *Options {
	return &Options{Mode: "run", Sessions: n, Workers: 1, Proto: "hl1", Handshake: "hello", UserBase: 1000, DeviceID: 1,
		HelloRate: 10000, HelloWin: 8, HelloRetry: 50 * time.Millisecond, HelloTries: 5, Batch: 16, Tick: time.Millisecond, Jitter: 0.1, Seed: 1}
}

// drive steps the worker every ms for d of fake time.
func drive(wk *worker, now *time.Time, d time.Duration) {
	for end := now.Add(d); now.Before(end); *now = now.Add(time.Millisecond) {
		wk.step(*now)
	}
}

func setupWorker(t *testing.T, o *Options) (*worker, *fakeGateway, *time.Time) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	keys := testRing(t)
	g := newFakeGateway(t, keys, &now)
	wk := newWorker(0, 1, o, g, keys, []mmsg.Sockaddr{{}}, now)
	return wk, g, &now
}

func TestWorkerHellosThenHeartbeatsVerify(t *testing.T) {
	o := testOptions(50)
	wk, g, now := setupWorker(t, o)
	drive(wk, now, 100*time.Millisecond)
	if got := wk.c.Online.Load(); got != 50 {
		t.Fatalf("online after 100 ms = %d, want 50", got)
	}
	if len(g.sessions) != 50 || wk.c.Hellos.Load() != 50 {
		t.Fatalf("gateway has %d sessions, loadgen sent %d HELLOs", len(g.sessions), wk.c.Hellos.Load())
	}
	drive(wk, now, time.Second) // interval 100 ms from WELCOME: ~10 beats each
	if g.bad != 0 {
		t.Fatalf("%d heartbeats failed verification", g.bad)
	}
	for slot, s := range g.sessions {
		if s.beats < 8 || s.beats > 12 {
			t.Fatalf("slot %d sent %d heartbeats in 1 s at a 100 ms interval", slot, s.beats)
		}
	}
	if uint64(g.beats) != wk.c.Heartbeats.Load() {
		t.Fatalf("gateway accepted %d, loadgen counted %d", g.beats, wk.c.Heartbeats.Load())
	}
}

func TestWorkerHelloRateAndWindow(t *testing.T) {
	o := testOptions(1000)
	o.HelloRate = 1000 // 1 per ms
	o.HelloWin = 4
	wk, g, now := setupWorker(t, o)
	g.dropHello = 1 << 30 // never answer: the window must cap outstanding HELLOs
	drive(wk, now, 20*time.Millisecond)
	if h := wk.c.Hellos.Load(); h != 4 {
		t.Fatalf("sent %d first HELLOs with a window of 4 and no answers", h)
	}
	g.dropHello = 0
	drive(wk, now, 200*time.Millisecond)
	if h := wk.c.Hellos.Load() + wk.c.HelloRetries.Load(); h > 230 {
		t.Fatalf("sent %d HELLOs in 220 ms at 1000/s", h)
	}
}

func TestWorkerRetriesLostHello(t *testing.T) {
	o := testOptions(3)
	o.HelloRetry = 1500 * time.Millisecond // the retry crosses a second: the token must not change
	wk, g, now := setupWorker(t, o)
	g.dropHello = 3
	drive(wk, now, 1400*time.Millisecond)
	if wk.c.Online.Load() != 0 {
		t.Fatal("a session came online without a WELCOME")
	}
	drive(wk, now, 200*time.Millisecond)
	if wk.c.Online.Load() != 3 || wk.c.HelloRetries.Load() != 3 {
		t.Fatalf("online %d, retries %d; want 3 and 3", wk.c.Online.Load(), wk.c.HelloRetries.Load())
	}
}

func TestWorkerRehelloBringsSessionBack(t *testing.T) {
	o := testOptions(5)
	wk, g, now := setupWorker(t, o)
	drive(wk, now, 50*time.Millisecond)
	var victim uint32
	for s := range g.sessions {
		victim = s
		break
	}
	delete(g.sessions, victim) // the gateway forgot it (restart, expiry)
	g.replies = append(g.replies, hl1.AppendRehello(nil, hl1.Rehello{Slot: victim, Reason: hl1.RehelloUnknownSlot}))
	drive(wk, now, 50*time.Millisecond)
	if wk.c.Rehellos.Load() != 1 || wk.c.Hellos.Load() != 6 || wk.c.Online.Load() != 5 || len(g.sessions) != 5 {
		t.Fatalf("rehellos %d hellos %d online %d gateway %d", wk.c.Rehellos.Load(), wk.c.Hellos.Load(), wk.c.Online.Load(), len(g.sessions))
	}
	// A second REHELLO for the same old slot names no session any more.
	g.replies = append(g.replies, hl1.AppendRehello(nil, hl1.Rehello{Slot: victim, Reason: hl1.RehelloUnknownSlot}))
	drive(wk, now, 10*time.Millisecond)
	if wk.c.Unmatched.Load() != 1 {
		t.Fatalf("stale REHELLO: unmatched %d, want 1", wk.c.Unmatched.Load())
	}
	drive(wk, now, 500*time.Millisecond)
	if g.bad != 0 {
		t.Fatalf("%d heartbeats failed verification after re-HELLO", g.bad)
	}
}

func TestWorkerLossChurnStatusAndRelay(t *testing.T) {
	o := testOptions(200)
	o.Loss = 0.3
	o.Churn = 100 // per second
	o.StatusFlip = 0.2
	o.Relay = 50
	wk, g, now := setupWorker(t, o)
	drive(wk, now, 100*time.Millisecond)
	if wk.c.Byes.Load() != 0 {
		t.Fatal("churn started before warm-up ended")
	}
	wk.churnOn.Store(true)
	drive(wk, now, 2*time.Second)
	if g.bad != 0 {
		t.Fatalf("%d heartbeats failed verification (loss must leave only seq gaps)", g.bad)
	}
	lost, sent := wk.c.Lost.Load(), wk.c.Heartbeats.Load()
	if frac := float64(lost) / float64(lost+sent); frac < 0.25 || frac > 0.35 {
		t.Fatalf("lost fraction %.2f, want about 0.3", frac)
	}
	if g.batches == 0 || uint64(g.batches) != wk.c.Batches.Load() {
		t.Fatalf("gateway saw %d BATCH frames, loadgen sent %d", g.batches, wk.c.Batches.Load())
	}
	if b := wk.c.Byes.Load(); b < 150 || b > 250 || uint64(g.byes) != b {
		t.Fatalf("byes: loadgen %d, gateway %d; want about 200 in 2 s at 100/s", b, g.byes)
	}
	if wk.c.StatusChanges.Load() == 0 {
		t.Fatal("no status changes")
	}
	if wk.c.Online.Load() < 190 {
		t.Fatalf("online %d: churned sessions must log in again", wk.c.Online.Load())
	}
}

func TestWorkerNoHandshakeUsesPresharedKeys(t *testing.T) {
	o := testOptions(10)
	o.Handshake = "none"
	o.Interval = 100 * time.Millisecond
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	g := newFakeGateway(t, nil, &now)
	wk := newWorker(0, 1, o, g, nil, []mmsg.Sockaddr{{}}, now)
	if wk.c.Online.Load() != 10 {
		t.Fatalf("online %d without handshake, want 10", wk.c.Online.Load())
	}
	drive(wk, &now, 350*time.Millisecond)
	if b := wk.c.Heartbeats.Load(); b < 25 || b > 40 {
		t.Fatalf("%d heartbeats from 10 sessions in 350 ms at 100 ms", b)
	}
}
