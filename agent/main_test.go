package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"go.uber.org/zap/zaptest"

	"heartline/agent/internal/consulwriter"
	"heartline/protocol/feed"
	"heartline/protocol/presencekv"
	"heartline/scripts/consultest"
	"heartline/scripts/proctest"
)

// The whole agent in-process: a fake gateway (feed socket written with protocol/feed's
// encoder, and a /healthz), a real Consul, the query API; then a graceful shutdown.
func TestAgentEndToEndWithFakeGateway(t *testing.T) {
	s := consultest.Start(t, nil)
	c := s.Client()
	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })) //nolint:errcheck
	defer admin.Close()
	sock := filepath.Join(t.TempDir(), "feed.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	httpAddr := proctest.FreeAddr(t, "tcp")
	t.Setenv("CONSUL_HTTP_ADDR", s.HTTPAddr) // consul/api's own environment
	t.Setenv("HEARTLINE_GATEWAY_ID", "gw-e2e")
	cfg, err := parseConfig([]string{"-feed-socket", sock, "-gateway-admin", admin.URL, "-http-addr", httpAddr,
		"-buckets", "128", "-flush-window", "20ms", "-check-interval", "200ms", "-prefix", "hle"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, zaptest.NewLogger(t)) }()

	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	write := func(b []byte, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	write(feed.AppendHello(nil, feed.Hello{GatewayID: "gw-e2e", Epoch: 1, StartedAt: time.Now().UnixMilli()}), nil)
	write(feed.AppendSnapshotBegin(nil, 0, 1), nil)
	write(feed.AppendSnapshotChunk(nil, []feed.Record{{Kind: feed.KindOnline, User: 1, Device: 1, Status: feed.StatusActive, At: 1}}))
	write(feed.AppendSnapshotEnd(nil, 0), nil)
	now := time.Now().UnixMilli()
	write(feed.AppendRecords(nil, []feed.Record{
		{Seq: 1, Kind: feed.KindOnline, User: 2, Device: 1, Status: feed.StatusAway, At: now},
		{Seq: 2, Kind: feed.KindOffline, User: 1, Device: 1, Status: feed.StatusActive, At: now},
	}))

	get := func(path string) (int, map[string]any) {
		resp, err := http.Get("http://" + httpAddr + path)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m) //nolint:errcheck
		return resp.StatusCode, m
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, p := get("/v1/presence/2")
		_, p1 := get("/v1/presence/1")
		if code == 200 && p["online"] == true && p1 != nil && p1["online"] == false && p1["last_seen_ms"] == float64(now) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("presence never arrived: user 2 = %d %v, user 1 = %v", code, p, p1)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, body := get("/readyz"); code != 200 {
		t.Fatalf("/readyz = %d %v", code, body)
	}
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{"heartline_agent_txns_total", "heartline_agent_txn_seconds_bucket", "heartline_agent_dirty_buckets",
		"heartline_agent_lastseen_cas_conflicts_total", "heartline_agent_session_renew_failures_total", "heartline_agent_feed_lag_seconds"} {
		if !strings.Contains(string(raw), name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	svcs, _ := c.Agent().Services()
	if svcs["gw-e2e"] == nil || svcs["gw-e2e"].Meta["gateway_id"] != "gw-e2e" {
		t.Fatalf("gateway service not registered: %v", svcs)
	}

	// Graceful shutdown: presence disappears at once (session destroyed), service deregistered.
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("agent did not shut down")
	}
	pairs, _, err := c.KV().List(presencekv.PresencePrefix("hle"), &api.QueryOptions{RequireConsistent: true})
	if err != nil || len(pairs) != 0 {
		t.Fatalf("after shutdown %d presence keys remain (%v)", len(pairs), err)
	}
	if svcs, _ := c.Agent().Services(); svcs["gw-e2e"] != nil {
		t.Fatal("service still registered after shutdown")
	}
}

func TestConfigRefusesBucketMismatch(t *testing.T) {
	s := consultest.Start(t, nil)
	t.Setenv("CONSUL_HTTP_ADDR", s.HTTPAddr)
	for i, buckets := range []string{"128", "256"} {
		cfg, err := parseConfig([]string{"-gateway-id", fmt.Sprint("gw", i), "-buckets", buckets, "-prefix", "hlm", "-register=false",
			"-http-addr", proctest.FreeAddr(t, "tcp")})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errc := make(chan error, 1)
		go func() { errc <- run(ctx, cfg, zaptest.NewLogger(t)) }()
		if i == 0 {
			proctest.WaitFor(t, 10*time.Second, "the first agent to create the cluster config", func() bool {
				p, _, err := s.Client().KV().Get(presencekv.ConfigKey("hlm"), nil)
				return err == nil && p != nil
			})
			cancel()
			<-errc
			continue
		}
		err = <-errc
		cancel()
		if !errors.Is(err, consulwriter.ErrBucketMismatch) || !strings.Contains(err.Error(), "says 128 buckets") || !strings.Contains(err.Error(), "-buckets=128") {
			t.Fatalf("second agent with another bucket count: %v; want a refusal naming both counts", err)
		}
	}
}

func TestFlagsValidateAndEnv(t *testing.T) {
	if _, err := parseConfig([]string{"-gateway-id", "a/b"}); err == nil || !strings.Contains(err.Error(), "gateway-id") {
		t.Fatalf("bad id accepted: %v", err)
	}
	if _, err := parseConfig([]string{"-gateway-id", "g", "-check-timeout", "20s"}); err == nil || !strings.Contains(err.Error(), "below -session-ttl") {
		t.Fatalf("check timeout >= TTL accepted: %v", err)
	}
	t.Setenv("HEARTLINE_LANES", "7")
	cfg, err := parseConfig([]string{"-gateway-id", "g"})
	if err != nil || cfg.Lanes != 7 {
		t.Fatalf("HEARTLINE_LANES ignored: %v %v", cfg, err)
	}
	cfg, _ = parseConfig([]string{"-gateway-id", "g", "-lanes", "3"})
	if cfg.Lanes != 3 {
		t.Fatal("command line does not win over the environment")
	}
}

// A -log-level the logger cannot use is an error, as in the gateway and the site (the agent
// used to fall back to info silently).
func TestBadLogLevelIsAnError(t *testing.T) {
	if _, err := parseConfig([]string{"-gateway-id", "g", "-log-level", "loud"}); err == nil || !strings.Contains(err.Error(), "-log-level") {
		t.Fatalf("-log-level loud: %v; want an error naming the flag", err)
	}
	t.Setenv("HEARTLINE_LOG_LEVEL", "loud")
	if _, err := parseConfig([]string{"-gateway-id", "g"}); err == nil {
		t.Fatal("HEARTLINE_LOG_LEVEL=loud accepted")
	}
}

// -consul-addr unix:///path reaches Consul over the socket: the address goes to consul/api
// unparsed (the agent used to split the scheme off itself, and asked for "unix://…" over
// HTTP). A real Consul, listening on a socket beside its TCP port.
func TestConsulAddrFlagTakesAUnixSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "hl") // short: a socket path must fit in 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "consul.sock")
	consultest.Start(t, &consultest.Options{HTTPSocket: sock})
	t.Setenv("CONSUL_HTTP_ADDR", "127.0.0.1:1") // nothing there: the flag must win
	cfg, err := parseConfig([]string{"-gateway-id", "g", "-consul-addr", "unix://" + sock})
	if err != nil {
		t.Fatal(err)
	}
	c, err := consulClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if leader, err := c.Status().Leader(); err != nil || leader == "" {
		t.Fatalf("Consul over %s: leader %q, %v", sock, leader, err)
	}
}

// A start-up step that fails with a bucket mismatch is not retried, however the error is
// wrapped or worded (the agent used to match the message text).
func TestRetryStopsAtABucketMismatch(t *testing.T) {
	calls := 0
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := retry(ctx, zaptest.NewLogger(t), "reading the cluster config", func() error {
		calls++
		return fmt.Errorf("prefix hl: %w", consulwriter.ErrBucketMismatch)
	})
	if !errors.Is(err, consulwriter.ErrBucketMismatch) || calls != 1 {
		t.Fatalf("%d calls, error %v; want one call and the mismatch back", calls, err)
	}
}

// Issue 14: an agent whose gateway id a live agent on another Consul node already holds
// refuses to start, with an error that says what to do, before registering anything; the
// other agent's session is left alone.
func TestAgentRefusesAGatewayIDHeldOnAnotherNode(t *testing.T) {
	s := consultest.Start(t, nil)
	host2 := consultest.StartClient(t, s, nil)
	c := s.Client()
	other, _, err := c.Session().Create(&api.SessionEntry{Name: "heartline-agent/gw-taken", Node: s.NodeName, TTL: "30s",
		Behavior: api.SessionBehaviorDelete}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("CONSUL_HTTP_ADDR", host2.HTTPAddr)
	cfg, err := parseConfig([]string{"-gateway-id", "gw-taken", "-feed-socket", filepath.Join(t.TempDir(), "feed.sock"),
		"-http-addr", proctest.FreeAddr(t, "tcp"), "-buckets", "16", "-prefix", "hlo", "-consul-rejoin-every", "0", "-consul-probe-every", "0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = run(ctx, cfg, zaptest.NewLogger(t))
	if !errors.Is(err, consulwriter.ErrGatewayIDHeld) || ctx.Err() != nil {
		t.Fatalf("run = %v; want ErrGatewayIDHeld at once", err)
	}
	for _, want := range []string{other, s.NodeName, "-gateway-id"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not name %q", err, want)
		}
	}
	if svcs, _ := host2.Client().Agent().Services(); svcs["gw-taken"] != nil {
		t.Error("the refused agent registered the gateway service")
	}
	if se, _, err := c.Session().Info(other, &api.QueryOptions{RequireConsistent: true}); err != nil || se == nil {
		t.Fatalf("the other agent's session was destroyed (%v)", err)
	}
}
