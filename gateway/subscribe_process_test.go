package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"heartline/protocol/client"
	"heartline/protocol/hl1"
	"heartline/protocol/privacy"
	"heartline/protocol/token"
	"heartline/scripts/consultest"
	"heartline/scripts/proctest"
)

// TestSubscriptionsEndToEnd runs the real chain: a real Consul, the agent and gateway
// binaries, members heartbeating over UDP with the reference client, and apps subscribed
// over TCP. It checks initial states, EVENTs with increasing versions, the per-connection
// limit (CLOSE too many subscriptions) and a reader that stops reading (coalesced, then
// CLOSE slow consumer), and logs the heartbeat -> EVENT latency.
func TestSubscriptionsEndToEnd(t *testing.T) {
	s := consultest.Start(t, nil)
	dir := t.TempDir()
	bins := proctest.Build(t, "heartline/gateway", "heartline/agent")
	gwBin, agentBin := bins[0], bins[1]
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(3*i + 1)
	}
	keyFile := filepath.Join(dir, "keys")
	if err := os.WriteFile(keyFile, []byte("7 "+hex.EncodeToString(secret)+" current\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := testKeyRing(t) // the same secret under id 7
	udp, tcpAddr, adminAddr, agentHTTP := proctest.FreeAddr(t, "udp"), proctest.FreeAddr(t, "tcp"), proctest.FreeAddr(t, "tcp"), proctest.FreeAddr(t, "tcp")
	sock := filepath.Join(dir, "feed.sock")
	start := func(name string, bin string, env []string, args ...string) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), env...)
		logs, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
			if t.Failed() {
				b, _ := os.ReadFile(logs.Name())
				t.Logf("%s log:\n%s", name, b)
			}
		})
	}
	start("gateway", gwBin, []string{"HEARTLINE_CONSUL_ADDR=" + s.HTTPAddr}, // the environment form of -consul-addr
		"-udp-addr", udp, "-tcp-addr", tcpAddr, "-admin-addr", adminAddr, "-drain-timeout", "0", "-secret-file", keyFile, "-loops", "1",
		"-max-sessions", "10000", "-gateway-id", "gw-sub", "-flush-interval", "10ms", "-feed-socket", sock,
		"-prefix", "hlsub", "-slow-consumer-grace", "1s", "-tcp-sndbuf", "4096")
	_, udpPort, _ := net.SplitHostPort(udp)
	start("agent", agentBin, []string{"CONSUL_HTTP_ADDR=" + s.HTTPAddr},
		"-gateway-id", "gw-sub", "-feed-socket", sock, "-gateway-admin", "http://"+adminAddr, "-http-addr", agentHTTP,
		"-buckets", "64", "-flush-window", "20ms", "-check-interval", "250ms", "-check-timeout", "1s",
		"-prefix", "hlsub", "-gateway-udp-port", udpPort)

	waitReady := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + adminAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(waitReady) {
			t.Fatalf("gateway not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()
	member := func(user uint64) *client.Client {
		tok, sk, err := keys.Issue(token.Claims{UserID: user, DeviceID: 1, Expiry: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		m, err := client.New(client.Credentials{Token: tok.Bytes(), Key: sk}, client.Options{Gateways: []string{udp}, Active: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}

	diag := func() string {
		var out string
		for _, m := range []string{"subscriptions_active", "subscribed_connections", "subscription_events_sent_total", "subscription_resyncs_total", "tcp_connections"} {
			out += fmt.Sprintf(" %s=%v", m, metric(t, adminAddr, "heartline_gateway_"+m))
		}
		return out
	}
	// App A (user 100) subscribes to members 200 and 201 with the reference client.
	// Presence privacy: A holds a grant (as the site seals it, POST /api/grant) that lets it see
	// 200 and 201 as a member; B a grant for 201.
	a := newEventApp(t, keys, tcpAddr, 100)
	a.diag = diag
	if err := a.c.Grant(sealGrant(t, keys, 100, 200, 201)); err != nil {
		t.Fatal(err)
	}
	if err := a.c.Subscribe([]uint64{200, 201}); err != nil {
		t.Fatal(err)
	}
	// Initial states come in any order (those held back until the watcher is ready are
	// sent from a set).
	initial := map[uint64]hl1.Event{}
	for len(initial) < 2 {
		ev := a.next(t, 30*time.Second, "initial states", func(ev hl1.Event) bool { return ev.UserID == 200 || ev.UserID == 201 })
		if _, dup := initial[ev.UserID]; dup {
			t.Fatalf("second event for %d before the other user's initial state: %+v", ev.UserID, ev)
		}
		initial[ev.UserID] = ev
		if ev.State != hl1.StateOffline || ev.Devices != 0 || ev.Version == 0 {
			t.Fatalf("initial state of a member never seen: %+v", ev)
		}
	}

	// Member 200 comes online over UDP, changes status 40 times, says BYE. A, another member,
	// sees online then offline, with increasing versions, and none of the status changes
	// (foreground/background is 200's own business). The time from the frame to the EVENT is
	// logged.
	m200 := member(200)
	sent := time.Now()
	if err := m200.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	var lat []time.Duration
	last := a.next(t, 10*time.Second, "200 online", func(ev hl1.Event) bool { return ev.UserID == 200 && ev.State == hl1.StateActive })
	lat = append(lat, time.Since(sent))
	if last.Devices != 1 || last.LastSeenMS != 0 {
		t.Fatalf("online event %+v: another member sees online, one device, no time", last)
	}
	for i := 0; i < 40; i++ {
		if err := m200.SetActive(i%2 == 1); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	sent = time.Now()
	if err := m200.Bye(); err != nil {
		t.Fatal(err)
	}
	off := a.next(t, 10*time.Second, "200's next entry", func(ev hl1.Event) bool { return ev.UserID == 200 })
	lat = append(lat, time.Since(sent))
	if off.State != hl1.StateOffline || off.Version <= last.Version || off.LastSeenMS == 0 || off.LastSeenMS%(24*3600*1000) != 0 {
		t.Fatalf("200's entry after 40 status changes and BYE %+v: want offline with a day-granular last seen (no status change entries)", off)
	}
	// The first sample (coming online) may include the agent's start (its Consul session
	// waits for the gateway's health check to pass): logged apart.
	first, lat := lat[0], lat[1:]
	slices.Sort(lat)
	t.Logf("UDP frame -> EVENT latency of BYE (gateway -flush-interval 10ms, agent -flush-window 20ms): %v; first online %v", lat[0], first)

	// Member 201 online; once A has seen it, app B subscribes and gets it as initial state.
	m201 := member(201)
	if err := m201.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	seen := a.next(t, 10*time.Second, "201 online", func(ev hl1.Event) bool { return ev.UserID == 201 && ev.State == hl1.StateActive })
	b := newEventApp(t, keys, tcpAddr, 101)
	b.diag = diag
	if err := b.c.Grant(sealGrant(t, keys, 101, 201)); err != nil {
		t.Fatal(err)
	}
	if err := b.c.Subscribe([]uint64{201}); err != nil {
		t.Fatal(err)
	}
	init := b.next(t, 10*time.Second, "initial state of 201", func(ev hl1.Event) bool { return ev.UserID == 201 })
	if init.State != hl1.StateActive || init.Devices != 1 || init.Version < seen.Version {
		t.Fatalf("initial state %+v; A saw %+v", init, seen)
	}

	// Limit: 1001 users on one connection.
	over := dialApp(t, keys, tcpAddr, 102, 0)
	ids := make([]uint64, 1001)
	for i := range ids {
		ids[i] = uint64(5000 + i)
	}
	writeFrame(t, over, mustSubscribe(t, ids))
	if f := readFrame(t, over); !isClose(f, hl1.CloseTooManySubscribed) {
		t.Fatalf("over the limit: got %x, want CLOSE too many subscriptions", f)
	}
	if v := metric(t, adminAddr, `heartline_gateway_tcp_closes_total{reason="too_many_subscriptions"}`); v != 1 {
		t.Fatalf("too_many_subscriptions closes %v", v)
	}

	// A reader that stops reading (small receive buffer; the gateway runs with
	// -tcp-sndbuf 4096): it subscribes to 1000 users including 200, re-subscribes the others
	// to queue more initial states than its window and socket take, and member 200 changes
	// status while it is behind. Its queue coalesces, then it is closed after the grace
	// period; when it reads again it finds the CLOSE frame behind its queued EVENTs.
	slow := dialApp(t, keys, tcpAddr, 103, 4096)
	writeFrame(t, slow, hl1.AppendGrant(nil, sealGrant(t, keys, 103, 200)))
	others := make([]uint64, 999)
	for i := range others {
		others[i] = uint64(10000 + i)
	}
	writeFrame(t, slow, mustSubscribe(t, append([]uint64{200}, others...)))
	for round := 0; round < 3; round++ {
		f, err := hl1.AppendSubscribe(nil, &hl1.Subscription{Unsubscribe: true, UserIDs: others})
		if err != nil {
			t.Fatal(err)
		}
		writeFrame(t, slow, f)
		writeFrame(t, slow, mustSubscribe(t, others))
	}
	if err := m200.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	coalesced := func() float64 { return metric(t, adminAddr, "heartline_gateway_subscription_events_coalesced_total") }
	for i := 0; i < 30 && coalesced() == 0; i++ { // online <-> offline: news for a granted member
		var err error
		if i%2 == 0 {
			err = m200.Bye()
		} else {
			err = m200.Connect(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(60 * time.Millisecond)
	}
	if coalesced() == 0 {
		t.Fatal("no EVENT coalesced for the reader that stopped reading")
	}
	waitCount(t, "slow consumer disconnect", func() bool {
		return metric(t, adminAddr, "heartline_gateway_subscription_slow_consumer_disconnects_total") == 1
	})
	var events int
	for {
		f := readFrame(t, slow)
		if typ, _ := hl1.PeekType(f); typ != hl1.TypeEvent {
			if !isClose(f, hl1.CloseSlowConsumer) {
				t.Fatalf("after %d EVENT entries: %x, want CLOSE slow consumer", events, f)
			}
			break
		}
		evs, err := hl1.ParseEvents(f, nil)
		if err != nil {
			t.Fatal(err)
		}
		events += len(evs)
	}
	t.Logf("slow reader: %d EVENT entries queued before CLOSE slow consumer", events)
	waitCount(t, "the slow consumer's close counted", func() bool {
		return metric(t, adminAddr, `heartline_gateway_tcp_closes_total{reason="slow_consumer"}`) == 1
	})
	// App A, reading all along, was not disconnected and still gets events.
	if err := m200.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	a.next(t, 10*time.Second, "200 online again at A", func(ev hl1.Event) bool { return ev.UserID == 200 && ev.State != hl1.StateOffline })
	if err := m200.Bye(); err != nil {
		t.Fatal(err)
	}
	a.next(t, 10*time.Second, "200 offline again at A", func(ev hl1.Event) bool { return ev.UserID == 200 && ev.State == hl1.StateOffline })
}

// eventApp is the reference client over TCP with its EVENTs on a channel; it fails the
// test if a user's version ever goes down.
type eventApp struct {
	c       *client.Client
	events  chan hl1.Event
	mu      sync.Mutex
	maxVer  map[uint64]uint64
	regress string
	diag    func() string // gateway metrics, logged on a timeout
}

func newEventApp(t *testing.T, keys *token.KeyRing, addr string, user uint64) *eventApp {
	t.Helper()
	tok, sk, err := keys.Issue(token.Claims{UserID: user, DeviceID: 9, Expiry: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	a := &eventApp{events: make(chan hl1.Event, 1<<14), maxVer: map[uint64]uint64{}}
	a.c, err = client.New(client.Credentials{Token: tok.Bytes(), Key: sk}, client.Options{Gateways: []string{addr}, Network: "tcp", Active: true,
		OnEvent: func(ev hl1.Event) {
			a.mu.Lock()
			if ev.Version < a.maxVer[ev.UserID] && a.regress == "" {
				a.regress = "version went down"
			}
			a.maxVer[ev.UserID] = max(a.maxVer[ev.UserID], ev.Version)
			a.mu.Unlock()
			a.events <- ev
		}})
	if err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	if err := a.c.Connect(cctx); err != nil {
		a.c.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; a.c.Close() })
	return a
}

// next returns the first event matching want, within timeout.
func (a *eventApp) next(t *testing.T, timeout time.Duration, what string, want func(hl1.Event) bool) hl1.Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev := <-a.events:
			a.mu.Lock()
			r := a.regress
			a.mu.Unlock()
			if r != "" {
				t.Fatalf("%s: %s", what, r)
			}
			if want(ev) {
				return ev
			}
		case <-deadline:
			t.Fatalf("timed out waiting for %s (gateway:%s)", what, a.diag())
		}
	}
}

// dialApp opens a TCP connection and completes HELLO/WELCOME; rcvbuf > 0 shrinks the
// receive buffer before connecting.
func dialApp(t *testing.T, keys *token.KeyRing, addr string, user uint64, rcvbuf int) net.Conn {
	t.Helper()
	d := net.Dialer{}
	if rcvbuf > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf) })
			if err != nil {
				return err
			}
			return serr
		}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	tok, sk, err := keys.Issue(token.Claims{UserID: user, DeviceID: 1, Expiry: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	key := hl1.NewMACKey(sk)
	nonce := rand.Uint32()
	h := hl1.Hello{ClientTimeMS: uint64(time.Now().UnixMilli()), Nonce: nonce, Token: tok.Bytes(), Flags: hl1.FlagActive}.Seal(key)
	writeFrame(t, c, hl1.AppendHello(nil, h))
	w, err := hl1.ParseWelcome(readFrame(t, c))
	if err != nil || !w.Verify(key, nonce) {
		t.Fatalf("WELCOME over TCP: %v", err)
	}
	return c
}

func writeFrame(t *testing.T, c net.Conn, f []byte) {
	t.Helper()
	b, err := hl1.AppendTCP(nil, f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

func readFrame(t *testing.T, c net.Conn) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	f, err := hl1.ReadTCPFrame(c, nil)
	if err != nil {
		t.Fatalf("read frame: %v", err)
	}
	return f
}

func mustSubscribe(t *testing.T, ids []uint64) []byte {
	t.Helper()
	f, err := hl1.AppendSubscribe(nil, &hl1.Subscription{UserIDs: ids})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func isClose(f []byte, want hl1.CloseReason) bool {
	r, err := hl1.ParseClose(f)
	return err == nil && r == want
}

// sealGrant seals a grant for viewer's app to see subjects as a member, as the site's POST
// /api/grant does (the test holds the cluster key file).
func sealGrant(t *testing.T, keys *token.KeyRing, viewer uint64, subjects ...uint64) []byte {
	t.Helper()
	basis := make([]privacy.Basis, len(subjects))
	for i := range basis {
		basis[i] = privacy.BasisMember
	}
	now := time.Now()
	b, err := privacy.Seal(nil, keys, &privacy.Grant{Viewer: viewer, IssuedMS: now.UnixMilli(), ExpiresMS: now.Add(10 * time.Minute).UnixMilli(), Subjects: subjects, Basis: basis})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
