package client

import (
	"context"
	"testing"
	"time"

	"heartline/scripts/proctest"
)

func (g *testGateway) setDraining(on bool) {
	g.mu.Lock()
	g.draining = on
	g.mu.Unlock()
}

func (g *testGateway) refusedHellos() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.refused
}

// TestClientLeavesADrainingGatewayAndStaysAway: REHELLO 4 on its session moves the client to
// the next gateway in its order without a BYE (the draining gateway keeps the member online
// until the session expires there), and later reconnects (ConfirmEvery) skip the draining
// gateway instead of being refused by it again.
func TestClientLeavesADrainingGatewayAndStaysAway(t *testing.T) {
	keys, _ := testCredentials(t, 1)
	a, b := newTestGateway(t, keys), newTestGateway(t, keys)
	gws := []string{a.addr(), b.addr()}
	c, _ := New(credentialsFor(t, keys, userPreferring(a.addr(), gws)), Options{
		Gateways: gws, HelloTimeout: 100 * time.Millisecond, ConfirmEvery: 100 * time.Millisecond,
	})
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if got := c.Session().Gateway; got != a.addr() {
		t.Fatalf("connected to %s, want the preferred %s", got, a.addr())
	}
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }() //nolint:errcheck

	a.setDraining(true)
	proctest.WaitFor(t, 5*time.Second, "heartbeats on the next gateway", func() bool { _, beats, _ := b.snapshot(); return len(beats) > 0 })
	if got := byes(a); len(got) != 0 {
		t.Fatalf("the client sent BYE to the draining gateway %v: the member would flicker offline", got)
	}
	// Several confirm rounds later the client is still on b and never asked a again.
	helloB, _, _ := b.snapshot()
	proctest.WaitFor(t, 5*time.Second, "three more confirm rounds on b", func() bool { h, _, _ := b.snapshot(); return h >= helloB+3 })
	if n := a.refusedHellos(); n > 0 {
		t.Fatalf("the client said HELLO to the draining gateway %d times after it was told to leave", n)
	}
	cancel()
	<-done
	if got := c.Session().Gateway; got != b.addr() {
		t.Fatalf("session on %s, want %s", got, b.addr())
	}
}

// TestClientSkipsAGatewayThatRefusesHelloWhileDraining: a HELLO answered with REHELLO 4
// (slot 0) moves on to the next gateway at once, not after every attempt timed out.
func TestClientSkipsAGatewayThatRefusesHelloWhileDraining(t *testing.T) {
	keys, _ := testCredentials(t, 1)
	a, b := newTestGateway(t, keys), newTestGateway(t, keys)
	a.setDraining(true)
	gws := []string{a.addr(), b.addr()}
	c, _ := New(credentialsFor(t, keys, userPreferring(a.addr(), gws)), Options{
		Gateways: gws, HelloTimeout: time.Hour, HelloAttempts: 3,
	})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if got := c.Session().Gateway; got != b.addr() {
		t.Fatalf("connected to %s, want %s", got, b.addr())
	}
	if n := a.refusedHellos(); n != 1 {
		t.Fatalf("HELLOs to the draining gateway: %d, want 1 (no retries after REHELLO 4)", n)
	}
	// The next Connect does not even try a.
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if n := a.refusedHellos(); n != 1 {
		t.Fatalf("a second Connect asked the draining gateway again (%d HELLOs)", n)
	}
}

func (g *testGateway) setCutOff(on bool) {
	g.mu.Lock()
	g.cutOff = on
	g.mu.Unlock()
}

// TestClientSkipsACutOffGatewayAndStillTriesItWhenAllAre: a HELLO answered with REHELLO 5
// (the gateway's agent cannot reach Consul) moves on to the next gateway at once, and the
// next connect skips that gateway; when every gateway refuses (a Consul outage) the client
// asks them all again and gets in as soon as one is back.
func TestClientSkipsACutOffGatewayAndStillTriesItWhenAllAre(t *testing.T) {
	keys, _ := testCredentials(t, 1)
	a, b := newTestGateway(t, keys), newTestGateway(t, keys)
	a.setCutOff(true)
	gws := []string{a.addr(), b.addr()}
	c, _ := New(credentialsFor(t, keys, userPreferring(a.addr(), gws)), Options{
		Gateways: gws, HelloTimeout: time.Hour, HelloAttempts: 3,
	})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if got := c.Session().Gateway; got != b.addr() || a.refusedHellos() != 1 {
		t.Fatalf("connected to %s after %d refusals, want %s after 1", got, a.refusedHellos(), b.addr())
	}
	if err := c.Connect(ctx); err != nil || a.refusedHellos() != 1 {
		t.Fatalf("second connect: %v, refusals %d; want the cut-off gateway skipped", err, a.refusedHellos())
	}

	b.setCutOff(true)
	if err := c.Connect(ctx); err == nil {
		t.Fatal("connected while every gateway refuses")
	}
	a.setCutOff(false)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if got := c.Session().Gateway; got != a.addr() {
		t.Fatalf("connected to %s, want %s (back from its cut-off)", got, a.addr())
	}
}
