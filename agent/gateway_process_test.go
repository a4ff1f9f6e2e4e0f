package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"go.uber.org/zap/zaptest"

	"heartline/protocol/client"
	"heartline/protocol/presencekv"
	"heartline/protocol/token"
	"heartline/scripts/consultest"
	"heartline/scripts/proctest"
)

// The real gateway binary, this agent (in-process), a real Consul and the reference client:
// HELLO -> presence in Consul and in the query API; BYE -> offline with last seen; the
// gateway killed -> its health check fails, the session is invalidated, presence vanishes.
func TestWithRealGatewayProcess(t *testing.T) {
	s := consultest.Start(t, nil)
	c := s.Client()
	g := startRealGateway(t, "gw-real")
	keys, udp, sock, adminAddr, httpAddr := g.keys, g.udp, g.sock, g.admin, proctest.FreeAddr(t, "tcp")
	gw := g.cmd
	t.Setenv("CONSUL_HTTP_ADDR", s.HTTPAddr)
	cfg, err := parseConfig([]string{"-gateway-id", "gw-real", "-feed-socket", sock, "-gateway-admin", "http://" + adminAddr,
		"-http-addr", httpAddr, "-buckets", "64", "-flush-window", "20ms", "-check-interval", "250ms", "-check-timeout", "1s",
		"-prefix", "hlg"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, zaptest.NewLogger(t)) }()
	defer func() { cancel(); <-done }()

	tok, key, err := keys.Issue(token.Claims{UserID: 4242, DeviceID: 1, Expiry: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var cred client.Credentials
	copy(cred.Token[:], tok.Append(nil))
	cred.Key = key
	app, err := client.New(cred, client.Options{Gateways: []string{udp}, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	cctx, ccancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer ccancel()
	if err := app.Connect(cctx); err != nil {
		t.Fatal(err)
	}

	presence := func() map[string]any {
		resp, err := http.Get("http://" + httpAddr + "/v1/presence/4242")
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m) //nolint:errcheck
		return m
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	wait("user 4242 online through gateway -> agent -> Consul -> watcher", func() bool {
		p := presence()
		return p != nil && p["online"] == true
	})
	if err := app.Bye(); err != nil {
		t.Fatal(err)
	}
	wait("user 4242 offline with a last-seen time after BYE", func() bool {
		p := presence()
		return p != nil && p["online"] == false && p["last_seen_ms"] != nil
	})

	// Back online, then the gateway dies: Consul's check fails and the session's keys go.
	if err := app.Connect(cctx); err != nil {
		t.Fatal(err)
	}
	wait("user 4242 online again", func() bool { p := presence(); return p != nil && p["online"] == true })
	gw.Process.Kill() //nolint:errcheck
	wait("presence deleted after the gateway died", func() bool {
		pairs, _, err := c.KV().List(presencekv.PresencePrefix("hlg"), &api.QueryOptions{RequireConsistent: true})
		return err == nil && len(pairs) == 0
	})
	wait("the watcher to take the dead gateway's user offline", func() bool { p := presence(); return p != nil && p["online"] == false })
}

// realGateway is the gateway binary running beside an in-process agent.
type realGateway struct {
	keys                  *token.KeyRing
	udp, tcp, admin, sock string
	cmd                   *exec.Cmd
}

// startRealGateway builds and starts the gateway binary with a fresh key file; it is stopped
// (and its log shown if the test failed) when the test ends. Skipped under -short.
func startRealGateway(t *testing.T, id string) *realGateway {
	t.Helper()
	dir := t.TempDir()
	bin := proctest.Build(t, "heartline/gateway")[0]
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(5*i + 3)
	}
	keyFile := filepath.Join(dir, "keys")
	if err := os.WriteFile(keyFile, []byte("3 "+hex.EncodeToString(secret)+" current\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := token.NewKeyRing()
	if err := keys.Add(3, secret); err != nil {
		t.Fatal(err)
	}
	if err := keys.SetCurrent(3); err != nil {
		t.Fatal(err)
	}
	g := &realGateway{keys: keys, udp: proctest.FreeAddr(t, "udp"), tcp: proctest.FreeAddr(t, "tcp"),
		admin: proctest.FreeAddr(t, "tcp"), sock: filepath.Join(dir, "feed.sock")}
	p := proctest.Start(t, dir, "gateway", bin, nil, "-udp-addr", g.udp, "-tcp-addr", g.tcp, "-admin-addr", g.admin,
		"-secret-file", keyFile, "-loops", "1", "-max-sessions", "1000", "-gateway-id", id, "-flush-interval", "10ms",
		"-feed-socket", g.sock)
	g.cmd = p.Cmd
	return g
}
