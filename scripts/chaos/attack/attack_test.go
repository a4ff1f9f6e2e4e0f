package attack

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"heartline/protocol/client"
	"heartline/protocol/hl1"
	"heartline/protocol/token"
	"heartline/scripts/proctest"
)

// These tests run the real gateway binary on loopback (no namespaces, no Consul: without an
// agent the gateway drains its feed and counts it) and attack it. They are the short,
// CI-sized part of the chaos work; the namespace bed is `make chaos`.

var (
	buildOnce sync.Once
	gwBin     string
	buildErr  error
)

func gatewayBinary(t *testing.T) string {
	t.Helper()
	proctest.SkipShort(t)
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "heartline-attack-")
		if err != nil {
			buildErr = err
			return
		}
		gwBin = filepath.Join(dir, "gateway")
		out, err := exec.Command("go", "build", "-o", gwBin, "heartline/gateway").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build heartline/gateway: %v: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return gwBin
}

type gateway struct {
	udp   netip.AddrPort
	tcp   string
	admin string
	keys  *token.KeyRing
	cmd   *exec.Cmd
}

func startGateway(t *testing.T, extra ...string) *gateway {
	t.Helper()
	bin := gatewayBinary(t)
	dir := t.TempDir()
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(rand.Uint32())
	}
	keyFile := filepath.Join(dir, "keys.txt")
	if err := os.WriteFile(keyFile, []byte("1 "+hex.EncodeToString(secret)+" current\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := token.LoadKeyRing(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{keys: keys,
		udp:   netip.MustParseAddrPort(proctest.FreeAddr(t, "udp")),
		tcp:   proctest.FreeAddr(t, "tcp"),
		admin: proctest.FreeAddr(t, "tcp")}
	args := append([]string{"-udp-addr", g.udp.String(), "-tcp-addr", g.tcp, "-admin-addr", g.admin,
		"-feed-socket", filepath.Join(dir, "feed.sock"), "-secret-file", keyFile, "-gateway-id", "attacked",
		"-loops", "1", "-max-sessions", "4096", "-log-level", "error"}, extra...)
	g.cmd = exec.Command(bin, args...)
	g.cmd.Stderr = os.Stderr
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.cmd.Process.Kill(); _ = g.cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + g.admin + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return g
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("gateway did not become healthy")
	return nil
}

// metric reads one series (or the sum over all series of a name when series has no labels
// and sum is true).
func (g *gateway) metrics(t *testing.T) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + g.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			m[line[:i]] = v
		}
	}
	return m
}

const dropPrefix = `heartline_gateway_frames_dropped_total{reason="`

func drops(m map[string]float64) (map[string]float64, float64) {
	out := map[string]float64{}
	var total float64
	for k, v := range m {
		if strings.HasPrefix(k, dropPrefix) {
			out[strings.TrimSuffix(strings.TrimPrefix(k, dropPrefix), `"}`)] = v
			total += v
		}
	}
	return out, total
}

// legit opens a session by hand (HELLO/WELCOME) and returns the socket, the session and a
// function that sends its next heartbeat, returning the frame it sent.
func legit(t *testing.T, g *gateway, user uint64) (beat func() []byte) {
	t.Helper()
	tok, sk, err := g.keys.Issue(token.Claims{UserID: user, DeviceID: 1, Expiry: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	key := hl1.NewMACKey(sk)
	conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(g.udp))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	h := hl1.Hello{Flags: hl1.FlagActive, ClientTimeMS: uint64(time.Now().UnixMilli()), Nonce: 99, Token: tok.Bytes()}.Seal(key)
	if _, err := conn.Write(hl1.AppendHello(nil, h)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 256)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no WELCOME: %v", err)
	}
	w, err := hl1.ParseWelcome(buf[:n])
	if err != nil || !w.Verify(key, 99) {
		t.Fatalf("bad WELCOME: %v", err)
	}
	start := time.Now()
	var seq uint64
	return func() []byte {
		seq++
		b := hl1.Beat{Slot: w.Slot, Epoch: w.Epoch, Seq: seq, TS: uint64(time.Since(start) / (10 * time.Millisecond)), Active: true}
		f := hl1.AppendHeartbeat(nil, b.Seal(key))
		if _, err := conn.Write(f); err != nil {
			t.Fatal(err)
		}
		return f
	}
}

func loopbackSources(n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, fmt.Sprintf("127.0.%d.%d", 1+i/250, 1+i%250))
	}
	return out
}

// TestEveryHostileDatagramIsCountedByReason sends each kind of hostile datagram alone and
// checks the gateway counted every one of them, under the reason that kind must produce.
func TestEveryHostileDatagramIsCountedByReason(t *testing.T) {
	g := startGateway(t)
	beat := legit(t, g, 1001)
	var caps [][hl1.HeartbeatSize]byte
	for i := 0; i < 4; i++ {
		var c [hl1.HeartbeatSize]byte
		copy(c[:], beat())
		caps = append(caps, c)
	}
	// The captured beats must have been accepted before they are replayed.
	proctest.WaitFor(t, 10*time.Second, "the 4 captured heartbeats accepted", func() bool {
		return g.metrics(t)["heartline_gateway_heartbeats_total"] >= 4
	})
	mat, err := NewMaterial(g.keys, caps)
	if err != nil {
		t.Fatal(err)
	}
	// The reason each kind must be counted under. HELLO kinds from many sources may also be
	// rate-limited (that is counted too); Garbage may land under several decode reasons.
	want := map[Kind][]string{
		ForgedMAC: {"bad_mac"}, Replay: {"replay"}, RandomSlot: {"unknown_slot"},
		Truncated: {"short", "bad_length"}, Oversize: {"too_large"}, Garbage: nil,
		HelloBadToken: {"token_malformed", "token_unknown_key", "token_bad_mac", "version", "rate_limited"},
		HelloExpired:  {"token_expired", "rate_limited"}, HelloWrongKey: {"token_bad_mac", "rate_limited"},
		HelloBadTag: {"hello_bad_tag", "rate_limited"},
	}
	for _, k := range Kinds {
		t.Run(k.String(), func(t *testing.T) {
			before, _ := drops(g.metrics(t))
			const n = 300
			res, err := Flood(context.Background(), FloodOptions{Target: g.udp, Sources: loopbackSources(20), Rate: 3000,
				Duration: time.Duration(n) * time.Second / 3000, Kinds: []Kind{k}, Material: &mat})
			if err != nil {
				t.Fatal(err)
			}
			var after map[string]float64
			var got float64
			deadline := time.Now().Add(3 * time.Second)
			for {
				after, _ = drops(g.metrics(t))
				got = 0
				for r, v := range after {
					got += v - before[r]
				}
				if got >= float64(res.Total) || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if res.Total == 0 || got != float64(res.Total) {
				t.Fatalf("sent %d %s datagrams, gateway counted %v drops (by reason after: %v)", res.Total, k, got, after)
			}
			var inWanted float64
			for _, r := range want[k] {
				inWanted += after[r] - before[r]
			}
			if want[k] != nil && inWanted != got {
				delta := map[string]float64{}
				for r, v := range after {
					if d := v - before[r]; d != 0 {
						delta[r] = d
					}
				}
				t.Fatalf("%s: drops by reason %v, want all under %v", k, delta, want[k])
			}
		})
	}
	// The legit session survived all of it.
	m0 := g.metrics(t)["heartline_gateway_heartbeats_total"]
	beat()
	deadline := time.Now().Add(2 * time.Second)
	for g.metrics(t)["heartline_gateway_heartbeats_total"] <= m0 {
		if time.Now().After(deadline) {
			t.Fatal("legit heartbeat not accepted after the attack")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLegitTrafficFlowsUnderFlood keeps a legit session heartbeating while a mixed flood
// runs from many loopback source addresses, and checks every legit heartbeat is accepted
// and the gateway's memory stays bounded.
func TestLegitTrafficFlowsUnderFlood(t *testing.T) {
	g := startGateway(t)
	beat := legit(t, g, 2002)
	var c [hl1.HeartbeatSize]byte
	copy(c[:], beat())
	mat, err := NewMaterial(g.keys, [][hl1.HeartbeatSize]byte{c})
	if err != nil {
		t.Fatal(err)
	}
	rss0 := rss(g.cmd.Process.Pid)
	m0 := g.metrics(t)
	ctx, cancel := context.WithCancel(context.Background())
	var sent int
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			beat()
			sent++
			time.Sleep(5 * time.Millisecond)
		}
	}()
	k0 := kernelUDPDrops()
	res, err := Flood(context.Background(), FloodOptions{Target: g.udp, Sources: loopbackSources(100), Rate: 10000, Duration: 2 * time.Second, Material: &mat})
	cancel()
	<-done
	if err != nil {
		t.Fatal(err)
	}
	// The gateway drains what is still in its socket: wait until the counts add up (or 10 s
	// pass), then judge them.
	_, d0 := drops(m0)
	var m1 map[string]float64
	var accepted, d1 float64
	proctest.Eventually(10*time.Second, func() bool {
		m1 = g.metrics(t)
		accepted = m1["heartline_gateway_heartbeats_total"] - m0["heartline_gateway_heartbeats_total"]
		_, d1 = drops(m1)
		return accepted >= float64(sent)*0.95 && d1-d0+float64(kernelUDPDrops()-k0) >= float64(res.Total)*0.99
	})
	t.Logf("flood sent %d datagrams, gateway dropped %.0f; legit sent %d, accepted %.0f; RSS %d -> %d KiB",
		res.Total, d1-d0, sent, accepted, rss0>>10, rss(g.cmd.Process.Pid)>>10)
	// Loopback can drop in the kernel only when the socket buffer fills; the gateway's
	// 16 MiB buffer makes that unlikely at this rate, and a lost legit datagram would show.
	kernel := kernelUDPDrops() - k0
	if accepted < float64(sent)*0.95 {
		t.Fatalf("legit goodput under flood: %.0f of %d heartbeats accepted (kernel dropped %d datagrams)", accepted, sent, kernel)
	}
	// Every hostile datagram is counted: by the gateway, or by the kernel when the socket
	// buffer overflowed (a busy CI machine).
	if d1-d0+float64(kernel) < float64(res.Total)*0.99 {
		t.Fatalf("gateway counted %.0f drops (kernel %d) for %d hostile datagrams", d1-d0, kernel, res.Total)
	}
	if grow := int64(rss(g.cmd.Process.Pid)) - int64(rss0); grow > 32<<20 {
		t.Fatalf("gateway RSS grew %d MiB under a 2 s flood", grow>>20)
	}
}

// TestTCPAbuseIsCutAndLegitTCPClientConnects opens slowloris, garbage and oversize-length
// connections; the gateway must close them all (auth timeout or protocol error) while a
// legit reference client connects over TCP.
func TestTCPAbuseIsCutAndLegitTCPClientConnects(t *testing.T) {
	g := startGateway(t, "-tcp-auth-timeout", "1s")
	var res TCPResult
	done := make(chan struct{})
	go func() {
		defer close(done)
		res = TCPAbuse(context.Background(), TCPOptions{Target: g.tcp, Slowloris: 30, Drip: 300 * time.Millisecond, Garbage: 5, Oversize: 5, Duration: 4 * time.Second})
	}()
	// The legit client connects once the abuse is under way (it lasts 4 s).
	proctest.WaitFor(t, 10*time.Second, "abusive connections open", func() bool {
		return g.metrics(t)["heartline_gateway_tcp_connections"] >= 1
	})
	tok, sk, err := g.keys.Issue(token.Claims{UserID: 3003, DeviceID: 1, Expiry: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Credentials{Token: tok.Bytes(), Key: sk}, client.Options{Gateways: []string{g.tcp}, Network: "tcp"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("legit TCP client could not connect during the abuse: %v", err)
	}
	<-done
	t.Logf("TCP abuse: %+v", res)
	if res.Opened != 40 {
		t.Fatalf("opened %d of 40 abusive connections", res.Opened)
	}
	// Garbage and oversize are protocol errors (closed at once); slowloris drips a byte every
	// 300 ms and never completes a frame: it is never authenticated, so it is closed at the
	// auth timeout, which its bytes do not extend.
	if res.ClosedByPeer != res.Opened {
		t.Fatalf("gateway closed %d of %d abusive connections within 4 s", res.ClosedByPeer, res.Opened)
	}
}

func rss(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// kernelUDPDrops reads the namespace's UDP RcvbufErrors (datagrams the kernel dropped because
// a socket buffer was full).
func kernelUDPDrops() uint64 {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "Udp: ") {
			continue
		}
		f := strings.Fields(line)[1:]
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "RcvbufErrors" && i < len(f) {
				v, _ := strconv.ParseUint(f[i], 10, 64)
				return v
			}
		}
	}
	return 0
}
