package driver

import (
	"bufio"
	"context"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"heartline/protocol/token"
	"heartline/scripts/proctest"
)

// TestDriverKeepsSessionsOnlineAndTruthMatchesGateway runs the driver against the real
// gateway binary on loopback: every session must get online (the gateway's own
// sessions_online agrees), BYEs must take sessions offline at once, and the ground truth
// must say exactly which sessions are alive.
func TestDriverKeepsSessionsOnlineAndTruthMatchesGateway(t *testing.T) {
	dir := t.TempDir()
	bin := proctest.Build(t, "heartline/gateway")[0]
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
	udp := proctest.FreeAddr(t, "udp")
	admin := proctest.FreeAddr(t, "tcp")
	cmd := exec.Command(bin, "-udp-addr", udp, "-tcp-addr", "", "-admin-addr", admin, "-feed-socket", filepath.Join(dir, "feed.sock"),
		"-secret-file", keyFile, "-gateway-id", "gwA", "-interval", "1s", "-hello-rate", "1000", "-hello-burst", "1000",
		"-max-sessions", "4096", "-log-level", "error")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	const n = 300
	d, err := New(Options{Sessions: n, Keys: keys, Sources: []string{"127.0.0.1"}, Gateways: []netip.AddrPort{netip.MustParseAddrPort(udp)}, GatewayIDs: []string{"gwA"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx, 200*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()

	online := func() float64 { return gauge(t, admin, "heartline_gateway_sessions_online") }
	proctest.WaitFor(t, 10*time.Second, "all sessions online at the gateway", func() bool {
		total, _ := d.Online()
		return total == n && online() == n
	})

	rng := rand.New(rand.NewPCG(1, 2))
	if got := d.Churn(Bye, 50, 0, rng); got != 50 {
		t.Fatalf("Churn(Bye) took %d sessions, want 50", got)
	}
	proctest.WaitFor(t, 3*time.Second, "BYE'd sessions offline at once", func() bool { return online() == n-50 })
	alive, byed := 0, 0
	for _, tr := range d.Snapshot() {
		if tr.Alive {
			alive++
		} else if tr.Kind == Byed {
			byed++
		}
	}
	if alive != n-50 || byed != 50 {
		t.Fatalf("truth: %d alive, %d BYE'd; want %d and 50", alive, byed, n-50)
	}
	// Heartbeats keep the rest online well past interval x misses + grace (1 s x 3 + 2 s):
	// the expiry needs real time to pass, so the condition is six seconds and six rounds of
	// heartbeats (at 1 s) since now, then count.
	sent, from := d.Stats.HeartbeatsSent[0].Load(), time.Now()
	proctest.WaitFor(t, 30*time.Second, "six seconds and six more heartbeats per session", func() bool {
		return time.Since(from) >= 6*time.Second && d.Stats.HeartbeatsSent[0].Load() >= sent+uint64(n-50)*6
	})
	if got := online(); got != n-50 {
		t.Fatalf("after 6 s of heartbeats the gateway holds %v sessions, want %d", got, n-50)
	}
}

func gauge(t *testing.T, admin, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	return -1
}
