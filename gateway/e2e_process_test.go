package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"heartline/protocol/client"
	"heartline/protocol/feed"
	"heartline/protocol/token"
	"heartline/scripts/proctest"
)

// TestProcess builds the gateway binary, runs it, and drives it like production: an agent on
// the feed socket, clients over UDP and TCP (the reference client among them), a metrics
// scrape, then SIGTERM.
func TestProcess(t *testing.T) {
	dir := t.TempDir()
	bin := proctest.Build(t, "heartline/gateway")[0]
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(3*i + 1)
	}
	keyFile := filepath.Join(dir, "keys")
	if err := os.WriteFile(keyFile, []byte("7 "+hex.EncodeToString(secret)+" current\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := testKeyRing(t) // the same secret under id 7
	udp, tcpAddr, adminAddr := proctest.FreeAddr(t, "udp"), proctest.FreeAddr(t, "tcp"), proctest.FreeAddr(t, "tcp")
	sock := filepath.Join(dir, "feed.sock")
	cmd := exec.Command(bin, "-udp-addr", udp, "-tcp-addr", tcpAddr, "-admin-addr", adminAddr, "-drain-timeout", "0",
		"-secret-file", keyFile, "-loops", "2", "-max-sessions", "10000", "-gateway-id", "gw-proc", "-flush-interval", "10ms")
	cmd.Env = append(os.Environ(), "HEARTLINE_FEED_SOCKET="+sock) // the environment form of -feed-socket
	logs, err := os.Create(filepath.Join(dir, "gateway.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(logs.Name())
			t.Logf("gateway log:\n%s", b)
		}
	}()

	a := dialAgent(t, sock)
	a.until(t, 10*time.Second, "snapshot", func() bool { return a.snapshots == 1 })

	now := time.Now()
	c := newClient(t, keys, udp, 42, 1, now)
	c.connect(t, time.Now())
	a.until(t, 5*time.Second, "ONLINE over UDP", func() bool { return len(a.state) == 1 })
	for i := 0; i < 3; i++ {
		c.beat(t, time.Now(), true, false)
	}

	// A second device over TCP, with the reference client.
	tok, sk, _ := keys.Issue(token.Claims{UserID: 42, DeviceID: 2, Expiry: now.Add(time.Hour)})
	ref, err := client.New(client.Credentials{Token: tok.Bytes(), Key: sk}, client.Options{Gateways: []string{tcpAddr}, Network: "tcp", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ref.Connect(ctx); err != nil {
		t.Fatalf("reference client over TCP: %v", err)
	}
	a.until(t, 5*time.Second, "second device ONLINE", func() bool { return len(a.state) == 2 })
	if err := ref.SetActive(false); err != nil {
		t.Fatal(err)
	}
	a.until(t, 5*time.Second, "STATUS away over TCP", func() bool { return a.state[sessKey{42, 2}].Status == feed.StatusAway })

	// Another member over UDP with the reference client.
	tok3, sk3, _ := keys.Issue(token.Claims{UserID: 43, DeviceID: 1, Expiry: now.Add(time.Hour)})
	ref3, err := client.New(client.Credentials{Token: tok3.Bytes(), Key: sk3}, client.Options{Gateways: []string{udp}, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ref3.Close()
	if err := ref3.Connect(ctx); err != nil {
		t.Fatalf("reference client over UDP: %v", err)
	}
	for i := 0; i < 2; i++ {
		if err := ref3.Beat(); err != nil {
			t.Fatal(err)
		}
	}
	a.until(t, 5*time.Second, "third session ONLINE", func() bool { return len(a.state) == 3 })
	if err := ref3.Bye(); err != nil {
		t.Fatal(err)
	}
	a.until(t, 5*time.Second, "reference client BYE", func() bool { return len(a.state) == 2 })

	// Metrics.
	waitCount(t, "heartbeats in /metrics", func() bool { return metric(t, adminAddr, "heartline_gateway_heartbeats_total") >= 5 })
	if v := metric(t, adminAddr, "heartline_gateway_sessions_online"); v != 2 {
		t.Fatalf("sessions_online %v", v)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + adminAddr + path)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", path, err, resp)
		}
		resp.Body.Close()
	}

	// BYE from the UDP device.
	c.beat(t, time.Now(), true, true)
	a.until(t, 5*time.Second, "OFFLINE after BYE", func() bool { return len(a.state) == 1 })
	if _, ok := a.state[sessKey{42, 2}]; !ok {
		t.Fatalf("the TCP device should be the one left: %+v", a.state)
	}
	if r := a.log[len(a.log)-1]; r.Kind != feed.KindOffline || r.Device != 1 {
		t.Fatalf("last record %+v", r)
	}

	// SIGTERM: clean exit, the TCP client gets CLOSE, the feed ends.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("gateway exited with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("gateway did not exit within 15s of SIGTERM")
	}
	_ = a.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := a.r.Next(); err != io.EOF && err != io.ErrUnexpectedEOF {
		// Any remaining frame is fine; the connection must end.
		for err == nil {
			_, err = a.r.Next()
		}
	}
}

func metric(t *testing.T, addr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("metric %s not found", name)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(fmt.Errorf("metric %s: %w", name, err))
	}
	return v
}
