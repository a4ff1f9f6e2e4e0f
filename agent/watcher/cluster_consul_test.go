package watcher_test

import (
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"heartline/protocol/presencekv"
	"heartline/scripts/consultest"
	"heartline/scripts/proctest"
)

// A 3-server cluster loses its leader while the agent streams transitions: after the
// re-election every transition is in Consul and in the watcher's cache.
func TestLeaderLossMidStreamLosesNoTransitions(t *testing.T) {
	cl := consultest.StartCluster(t, 3, nil)
	leader, err := cl.Leader()
	if err != nil {
		t.Fatal(err)
	}
	var follower *consultest.Server
	for _, s := range cl.Servers {
		if s != leader {
			follower = s
			break
		}
	}
	c := follower.Client()
	g := startGateway(t, c, "gw-ha", 256)
	w := startWatcher(t, c, nil)

	const users = 3000
	killed := false
	for u := uint64(1); u <= users; u++ {
		g.table.Apply(tr(presencekv.KindOnline, u, 1, int64(u)))
		if u%3 == 0 {
			g.table.Apply(tr(presencekv.KindOffline, u-1, 1, int64(u)))
		}
		if u%100 == 0 {
			time.Sleep(10 * time.Millisecond) // a stream, not one burst
		}
		if u == users/2 {
			leader.Kill()
			killed = true
		}
	}
	if !killed {
		t.Fatal("leader not killed")
	}
	proctest.WaitFor(t, 30*time.Second, "a new leader", func() bool {
		l, err := cl.Leader()
		return err == nil && l != leader
	})

	flush(t, g)
	proctest.WaitFor(t, 60*time.Second, "the watcher to hold every transition", func() bool { return matches(w, users, g.table) })
	// And Consul itself holds the truth.
	pairs, _, err := c.KV().List(presencekv.PresencePrefix(prefix), &api.QueryOptions{RequireConsistent: true})
	if err != nil {
		t.Fatal(err)
	}
	var codec presencekv.Codec
	n := 0
	for _, p := range pairs {
		ss, err := codec.DecodeSessions(nil, p.Value)
		if err != nil {
			t.Fatal(err)
		}
		n += len(ss)
	}
	if n != g.table.Count() {
		t.Fatalf("Consul holds %d sessions, the gateway %d", n, g.table.Count())
	}
	t.Logf("after leader loss: %d sessions online, watcher resyncs %d", n, w.Stats().Resyncs)
}
