package main

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"heartline/protocol/hl1"
	"heartline/protocol/token"
	"heartline/scripts/consultest"
	"heartline/scripts/proctest"
)

// helloReply sends one HELLO for (user, device) to the gateway's UDP address and returns the
// type of the answer and, for a REHELLO, its reason.
func helloReply(t *testing.T, keys *token.KeyRing, udp string, user uint64) (hl1.Type, hl1.RehelloReason) {
	t.Helper()
	tok, sk, err := keys.Issue(token.Claims{UserID: user, DeviceID: 1, Expiry: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	h := hl1.Hello{Flags: hl1.FlagActive, ClientTimeMS: uint64(time.Now().UnixMilli()), Nonce: 7}
	copy(h.Token[:], tok.Append(nil))
	conn, err := net.Dial("udp", udp)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(hl1.AppendHello(nil, h.Seal(hl1.NewMACKey(sk)))); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(2 * time.Second)) //nolint:errcheck
	buf := make([]byte, hl1.MaxFrame)
	n, err := conn.Read(buf)
	if err != nil {
		return 0, 0 // no answer (yet): the caller's wait asks again
	}
	typ, _ := hl1.PeekType(buf[:n])
	if typ == hl1.TypeRehello {
		r, err := hl1.ParseRehello(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		return typ, r.Reason
	}
	return typ, 0
}

// TestGatewayRefusesHellosWhileItsAgentCannotReachConsul: the real gateway binary with this
// agent and a real Consul. When Consul goes away the agent's probes fail, it tells the
// gateway over the feed, and HELLOs are answered with REHELLO 5 (apps log in where they can
// be shown); when Consul is back, HELLOs are welcome again.
func TestGatewayRefusesHellosWhileItsAgentCannotReachConsul(t *testing.T) {
	s := consultest.Start(t, nil)
	g := startRealGateway(t, "gw-cut")
	t.Setenv("CONSUL_HTTP_ADDR", s.HTTPAddr)
	httpAddr := proctest.FreeAddr(t, "tcp")
	cfg, err := parseConfig([]string{"-gateway-id", "gw-cut", "-feed-socket", g.sock, "-gateway-admin", "http://" + g.admin,
		"-http-addr", httpAddr, "-buckets", "64", "-flush-window", "20ms", "-check-interval", "250ms", "-check-timeout", "1s",
		"-prefix", "hlc", "-consul-probe-every", "100ms", "-cut-off-after", "3"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, zaptest.NewLogger(t)) }()
	defer func() { cancel(); <-done }()

	wait := func(what string, cond func() bool) { t.Helper(); proctest.WaitFor(t, time.Minute, what, cond) }
	user := uint64(100)
	answer := func() (hl1.Type, hl1.RehelloReason) { user++; return helloReply(t, g.keys, g.udp, user) }
	wait("the agent ready (feed synced, Consul session)", func() bool {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	wait("a WELCOME while Consul is up", func() bool { typ, _ := answer(); return typ == hl1.TypeWelcome })

	s.Kill()
	wait("REHELLO 5 while the agent cannot reach Consul", func() bool {
		typ, reason := answer()
		return typ == hl1.TypeRehello && reason == hl1.RehelloUnavailable
	})
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	wait("a WELCOME once Consul is back", func() bool { typ, _ := answer(); return typ == hl1.TypeWelcome })
}
