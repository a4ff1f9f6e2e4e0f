package consulwriter

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"go.uber.org/zap/zaptest"

	"heartline/protocol/presencekv"
	"heartline/scripts/consultest"
)

// Two agents started with the same -gateway-id on different Consul nodes (issue 14): the
// second refuses to start with an error that names the holder and says what to do, and
// neither destroys the other's session nor wipes its presence.
func TestSecondAgentWithTheSameGatewayIDOnAnotherNodeRefusesToStart(t *testing.T) {
	s := consultest.Start(t, nil)
	host2 := consultest.StartClient(t, s, nil)
	c1, c2 := s.Client(), host2.Client()
	a := startAgent(t, c1, "gw-dup", harnessOpts{})
	for u := uint64(1); u <= 50; u++ {
		a.table.Apply(online(u, 1, 1000))
	}
	a.flush(t)
	first, _, _ := a.sess.Current()

	b := NewSession(c2, SessionOptions{Name: "heartline-agent/gw-dup", TTL: 10 * time.Second, Log: zaptest.NewLogger(t).Named("intruder")})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.CheckNotHeldElsewhere(ctx); !errors.Is(err, ErrGatewayIDHeld) {
		t.Fatalf("start-up check on another node: %v, want ErrGatewayIDHeld", err)
	}
	err := b.Create(ctx)
	if !errors.Is(err, ErrGatewayIDHeld) {
		t.Fatalf("Create on another node: %v, want ErrGatewayIDHeld at once", err)
	}
	for _, want := range []string{first, s.NodeName, "-gateway-id", "consul session destroy"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not mention %q", err, want)
		}
	}
	select {
	case <-b.Failed():
	default:
		t.Error("the refused session manager did not report Failed")
	}
	if id, _, _ := b.Current(); id != "" {
		t.Errorf("the refused agent holds session %s", id)
	}
	assertSessionAlive(t, c1, first)
	sameAsTable(t, c1, a)
}

// The race the start-up check cannot see (both agents found the id free): the younger
// agent's lock fails on a key the older one holds; releasing it must not destroy the older
// agent's session, and the younger one stops. The older one, meeting a key the younger one
// holds, must not destroy that session either.
func TestLockHeldByAnAgentOnAnotherNodeIsNeverReleased(t *testing.T) {
	s := consultest.Start(t, nil)
	host2 := consultest.StartClient(t, s, nil)
	c1, c2 := s.Client(), host2.Client()
	a := startAgent(t, c1, "gw-race", harnessOpts{})
	a.table.Apply(online(1, 1, 1000))
	a.flush(t)
	older, _, _ := a.sess.Current()
	heldByOlder := presencekv.PresenceKey(testPrefix, presencekv.Bucket(1, 1024), "gw-race")

	// The younger agent's session, created behind the start-up check's back.
	node2, err := c2.Agent().NodeName()
	if err != nil {
		t.Fatal(err)
	}
	younger, _, err := c2.Session().Create(&api.SessionEntry{Name: "heartline-agent/gw-race", Node: node2, TTL: "10s",
		Behavior: api.SessionBehaviorDelete, LockDelay: time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := NewSession(c2, SessionOptions{Name: "heartline-agent/gw-race", TTL: 10 * time.Second, Log: zaptest.NewLogger(t).Named("younger")})
	b.id, b.gen, b.node = younger, 1, node2

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ok, err := b.ReleaseHeld(ctx, heldByOlder)
	if ok || !errors.Is(err, ErrGatewayIDHeld) {
		t.Fatalf("younger ReleaseHeld of the older agent's key = %v, %v; want false, ErrGatewayIDHeld", ok, err)
	}
	assertSessionAlive(t, c1, older)
	select {
	case <-b.Failed():
	default:
		t.Error("the younger agent did not stop (Failed not closed)")
	}

	var user uint64 = 2
	for presencekv.Bucket(user, 1024) == presencekv.Bucket(1, 1024) {
		user++
	}
	heldByYounger := presencekv.PresenceKey(testPrefix, presencekv.Bucket(user, 1024), "gw-race")
	if got, _, err := c2.KV().Acquire(&api.KVPair{Key: heldByYounger, Value: []byte("younger"), Session: younger}, nil); !got || err != nil {
		t.Fatalf("younger session could not take %s: %v", heldByYounger, err)
	}
	ok, err = a.sess.ReleaseHeld(ctx, heldByYounger)
	if ok || !errors.Is(err, ErrGatewayIDHeld) {
		t.Fatalf("older ReleaseHeld of the younger agent's key = %v, %v; want false, ErrGatewayIDHeld", ok, err)
	}
	assertSessionAlive(t, c2, younger)
	select {
	case <-a.sess.Failed():
		t.Error("the older agent stopped although it was there first")
	default:
	}
	sameAsTableFor(t, c1, a, heldByOlder)
}

func assertSessionAlive(t *testing.T, c *api.Client, id string) {
	t.Helper()
	se, _, err := c.Session().Info(id, &api.QueryOptions{RequireConsistent: true})
	if err != nil || se == nil {
		t.Fatalf("session %s was destroyed (err %v)", id, err)
	}
}

// sameAsTableFor checks that key still holds the agent's sessions under its session.
func sameAsTableFor(t *testing.T, c *api.Client, a *agentUnderTest, key string) {
	t.Helper()
	p, _, err := c.KV().Get(key, &api.QueryOptions{RequireConsistent: true})
	id, _, _ := a.sess.Current()
	if err != nil || p == nil || p.Session != id {
		t.Fatalf("%s: %+v (err %v), want it held by the agent's session %s", key, p, err, id)
	}
}

// The restart case the ownership rule must keep (chaos agent-kill9, fast-restart): an agent
// that crashed (its session never destroyed) and starts again on the same node takes over
// at once: its previous session is destroyed at start, not waited out or refused.
func TestRestartOnTheSameNodeTakesOverItsOldSessionAtOnce(t *testing.T) {
	s := consultest.Start(t, nil)
	c := s.Client()
	crashed := startAgent(t, c, "gw-again", harnessOpts{})
	crashed.table.Apply(online(1, 1, 1000))
	crashed.flush(t)
	old, _, _ := crashed.sess.Current()
	crashed.stop() // like kill -9: the session is left behind, still alive

	start := time.Now()
	again := startAgent(t, c, "gw-again", harnessOpts{})
	again.table.Apply(online(2, 1, 2000))
	again.flush(t)
	t.Logf("the restarted agent wrote under its new session %v after starting", time.Since(start).Round(time.Millisecond))
	if se, _, err := c.Session().Info(old, &api.QueryOptions{RequireConsistent: true}); err != nil || se != nil {
		t.Fatalf("the crashed run's session %s is still alive (%v)", old, err)
	}
	select {
	case <-again.sess.Failed():
		t.Fatalf("the restarted agent gave up: %v", again.sess.Err())
	default:
	}
	sameAsTable(t, c, again)
}
