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
	"heartline/protocol/token"
	"heartline/scripts/proctest"
)

// recordingSubs answers SUBSCRIBE with reply (a non-zero reason closes) and keeps the conns.
type recordingSubs struct {
	mu     sync.Mutex
	reply  hl1.CloseReason
	conns  []Conn
	closed int
	grants int
}

func (r *recordingSubs) Subscribe(c Conn, _ []byte) hl1.CloseReason {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.conns = append(r.conns, c)
	return r.reply
}
func (r *recordingSubs) Unsubscribe(Conn, []byte) hl1.CloseReason { return 0 }
func (r *recordingSubs) Grant(c Conn, _ []byte) hl1.CloseReason {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.grants++
	r.conns = append(r.conns, c)
	return r.reply
}
func (r *recordingSubs) Closed(Conn) { r.mu.Lock(); r.closed++; r.mu.Unlock() }

func (r *recordingSubs) last(t *testing.T) Conn {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.mu.Lock()
		if n := len(r.conns); n > 0 {
			c := r.conns[n-1]
			r.mu.Unlock()
			return c
		}
		r.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("Subscribe never called")
		}
		time.Sleep(time.Millisecond)
	}
}

func setupSubs(t *testing.T, subs Subscriptions) (*Server, *token.KeyRing, *clock.Fake, string) {
	t.Helper()
	return setupWith(t, func(o *Options) { o.Subscriptions = subs })
}

func welcomed(t *testing.T, keys *token.KeyRing, clk *clock.Fake, addr string, user uint64, tamper bool) net.Conn {
	t.Helper()
	tok, sk, _ := keys.Issue(token.Claims{UserID: user, DeviceID: 1, Expiry: t0.Add(time.Hour)})
	key := hl1.NewMACKey(sk)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	h := hl1.Hello{ClientTimeMS: uint64(clk.Now().UnixMilli()), Nonce: 7, Token: tok.Bytes(), Flags: hl1.FlagActive}.Seal(key)
	f := hl1.AppendHello(nil, h)
	if tamper {
		f[len(f)-1] ^= 1 // bad tag: the gateway answers CLOSE 3
	}
	send(t, c, f)
	if !tamper {
		if w, err := hl1.ParseWelcome(read(t, c)); err != nil || !w.Verify(key, 7) {
			t.Fatalf("WELCOME: %v", err)
		}
	}
	return c
}

func sub(t *testing.T, ids ...uint64) []byte {
	f, err := hl1.AppendSubscribe(nil, &hl1.Subscription{UserIDs: ids})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func expectClose(t *testing.T, c net.Conn, want hl1.CloseReason) {
	t.Helper()
	f := read(t, c)
	if r, err := hl1.ParseClose(f); err != nil || r != want {
		t.Fatalf("got %x (%v), want CLOSE %d", f, err, want)
	}
}

// A HELLO that fails verification is answered with CLOSE 3 at once, so nothing after it
// reaches the seam; a SUBSCRIBE before the WELCOME (here: as the first frame) is CLOSE 2.
func TestSubscribeNeedsWelcome(t *testing.T) {
	subs := &recordingSubs{}
	s, keys, clk, addr := setupSubs(t, subs)
	c := welcomed(t, keys, clk, addr, 5, true)
	expectClose(t, c, hl1.CloseAuthFailed)
	waitClose(t, s, CauseNotAuthenticated, 1)

	first, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	send(t, first, sub(t, 1))
	expectClose(t, first, hl1.CloseProtocolError)
	waitClose(t, s, CauseFirstNotHello, 1)
	subs.mu.Lock()
	defer subs.mu.Unlock()
	if len(subs.conns) != 0 {
		t.Fatal("an unauthenticated connection reached Subscribe")
	}
}

func TestSubscriptionsSeam(t *testing.T) {
	subs := &recordingSubs{}
	s, keys, clk, addr := setupSubs(t, subs)
	c := welcomed(t, keys, clk, addr, 5, false)
	send(t, c, sub(t, 1, 2))
	sc := subs.last(t)
	if sc.User() != 5 {
		t.Fatalf("the connection's member is %d, want 5 (its HELLO's token)", sc.User())
	}
	send(t, c, hl1.AppendGrant(nil, []byte("sealed")))
	deadline := time.Now().Add(5 * time.Second)
	for {
		subs.mu.Lock()
		n := subs.grants
		subs.mu.Unlock()
		if n == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if subs.grants != 1 {
		t.Fatal("GRANT did not reach the seam")
	}
	ev, _ := hl1.AppendEvents(nil, []hl1.Event{{UserID: 1, State: hl1.StateActive, Devices: 1, Version: 9}})
	sc.SendFrame(ev)
	got, err := hl1.ParseEvents(read(t, c), nil)
	if err != nil || len(got) != 1 || got[0].Version != 9 {
		t.Fatalf("EVENT through the seam: %+v %v", got, err)
	}
	if b := sc.Backlog(); b < 0 || b > 64<<10 {
		t.Fatalf("backlog %d", b)
	}
	sc.Close(hl1.CloseSlowConsumer)
	expectClose(t, c, hl1.CloseSlowConsumer)
	waitClose(t, s, CauseSlowConsumer, 1)

	subs.mu.Lock()
	subs.reply = hl1.CloseTooManySubscribed
	subs.mu.Unlock()
	c2 := welcomed(t, keys, clk, addr, 6, false)
	send(t, c2, sub(t, 3))
	expectClose(t, c2, hl1.CloseTooManySubscribed)
	waitClose(t, s, CauseTooManySubscriptions, 1)
	deadline = time.Now().Add(5 * time.Second)
	for {
		subs.mu.Lock()
		n := subs.closed
		subs.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Closed called %d times, want 2", n)
		}
		time.Sleep(time.Millisecond)
	}
}

// A CLOSE queued behind data the app has not read yet lingers: an app that reads again
// within CloseLinger gets everything queued, then the CLOSE frame, then EOF.
func TestCloseLingersBehindUnreadData(t *testing.T) {
	subs := &recordingSubs{}
	s, keys, clk, addr := setupWith(t, func(o *Options) {
		o.Subscriptions, o.SendBuffer, o.CloseLinger = subs, 4096, 5*time.Second
	})
	c := welcomed(t, keys, clk, addr, 5, false)
	_ = c.(*net.TCPConn).SetReadBuffer(4096)
	send(t, c, sub(t, 1))
	sc := subs.last(t)
	evs := make([]hl1.Event, hl1.MaxEvents)
	for i := range evs {
		evs[i] = hl1.Event{UserID: uint64(i + 1), State: hl1.StateActive, Devices: 1, Version: 1}
	}
	frame, _ := hl1.AppendEvents(nil, evs)
	const frames = 12 // ~49 KB: more than the socket buffers hold, less than MaxOutbound
	for i := 0; i < frames; i++ {
		sc.SendFrame(frame)
	}
	deadline := time.Now().Add(5 * time.Second)
	for sc.Backlog() < 8<<10 {
		if time.Now().After(deadline) {
			t.Fatalf("backlog %d: the socket took everything (buffers not shrunk?)", sc.Backlog())
		}
		time.Sleep(5 * time.Millisecond)
	}
	sc.Close(hl1.CloseSlowConsumer)
	checks := s.lingerChecks.Load()
	proctest.WaitFor(t, 10*time.Second, "three linger checks while the app does not read", func() bool { return s.lingerChecks.Load() >= checks+3 })
	got := 0
	for {
		f := read(t, c)
		if typ, _ := hl1.PeekType(f); typ == hl1.TypeClose {
			if r, _ := hl1.ParseClose(f); r != hl1.CloseSlowConsumer {
				t.Fatalf("CLOSE %d, want slow consumer", r)
			}
			break
		}
		got++
	}
	if got != frames {
		t.Fatalf("read %d EVENT frames before CLOSE, want %d", got, frames)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after CLOSE: %v, want EOF", err)
	}
	waitClose(t, s, CauseSlowConsumer, 1)
}

// Without a Subscriptions seam (no Consul configured) SUBSCRIBE is dropped and counted, and
// the connection keeps working for heartbeats.
func TestSubscribeWithoutSeamIsIgnored(t *testing.T) {
	s, keys, clk, addr := setupSubs(t, nil)
	c := welcomed(t, keys, clk, addr, 5, false)
	send(t, c, sub(t, 1, 2))
	deadline := time.Now().Add(5 * time.Second)
	for s.HandlerStats().Drops(ingest.ReasonUnsupported) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("unsupported drops %d", s.HandlerStats().Drops(ingest.ReasonUnsupported))
		}
		time.Sleep(time.Millisecond)
	}
	send(t, c, hl1.AppendRehello(nil, hl1.Rehello{Slot: 1, Reason: 1})) // a frame not valid here
	expectClose(t, c, hl1.CloseProtocolError)                           // proves the connection was still open
}
