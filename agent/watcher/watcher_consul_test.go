package watcher_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"go.uber.org/zap/zaptest"

	"heartline/agent/internal/consulwriter"
	"heartline/agent/internal/state"
	"heartline/agent/watcher"
	"heartline/protocol/presencekv"
	"heartline/scripts/consultest"
	"heartline/scripts/proctest"
)

const prefix = "hlw"

type gateway struct {
	table  *state.Table
	sess   *consulwriter.Session
	writer *consulwriter.Writer
	stop   func()
}

func startGateway(t *testing.T, c *api.Client, id string, buckets uint32) *gateway {
	t.Helper()
	return startGatewayWith(t, c, id, buckets, nil)
}

func startGatewayWith(t *testing.T, c *api.Client, id string, buckets uint32, tune func(*consulwriter.Options)) *gateway {
	t.Helper()
	if _, err := consulwriter.EnsureConfig(c, prefix, buckets); err != nil {
		t.Fatal(err)
	}
	g := &gateway{table: state.New(buckets, 2, 0)}
	log := zaptest.NewLogger(t).Named(id)
	g.sess = consulwriter.NewSession(c, consulwriter.SessionOptions{Name: "heartline-agent/" + id, TTL: 10 * time.Second,
		Log: log, OnNew: func(uint64) { g.table.MarkAllDirty() }})
	var err error
	o := consulwriter.Options{Client: c, Prefix: prefix, GatewayID: id, Table: g.table,
		Session: g.sess, FlushWindow: 20 * time.Millisecond, BackoffMin: 20 * time.Millisecond, BackoffMax: 300 * time.Millisecond, Log: log}
	if tune != nil {
		tune(&o)
	}
	g.writer, err = consulwriter.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := g.sess.Create(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); g.sess.Run(ctx) }()
	go func() { defer wg.Done(); g.writer.Run(ctx) }() //nolint:errcheck
	g.stop = func() { cancel(); wg.Wait() }
	t.Cleanup(g.stop)
	return g
}

func startWatcher(t *testing.T, c *api.Client, interest []uint32) *watcher.Watcher {
	t.Helper()
	w, err := watcher.New(watcher.Options{Client: c, Prefix: prefix, Interest: interest, WaitTime: 5 * time.Second, Log: zaptest.NewLogger(t).Named("watcher")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }() //nolint:errcheck
	t.Cleanup(func() { cancel(); <-done })
	proctest.WaitFor(t, 20*time.Second, "watcher ready", w.Ready)
	return w
}

func tr(kind uint8, user uint64, device uint32, at int64) presencekv.Transition {
	return presencekv.Transition{Kind: kind, User: user, Device: device, Status: watcher.StatusActive, At: at}
}

// matches says whether the watcher's view of users 1..n equals the gateway tables'.
func matches(w *watcher.Watcher, n uint64, tables ...*state.Table) bool {
	for u := uint64(1); u <= n; u++ {
		want := 0
		for _, t := range tables {
			want += len(t.Sessions(u))
		}
		if got := len(w.Lookup(u).Devices); got != want {
			return false
		}
	}
	return true
}

func TestWatcherFollowsWritersAndGatewayLoss(t *testing.T) {
	s := consultest.Start(t, nil)
	c := s.Client()
	g1 := startGateway(t, c, "gw-1", 256)
	g2 := startGateway(t, c, "gw-2", 256)
	for u := uint64(1); u <= 100; u++ { // present before the watcher starts: read from buckets
		g1.table.Apply(tr(presencekv.KindOnline, u, 1, 1000))
	}
	flush(t, g1)
	w := startWatcher(t, c, nil)
	sub := w.Subscribe(10000, nil)
	if !matches(w, 100, g1.table) {
		t.Fatal("initial bucket read does not match the gateway")
	}
	for u := uint64(101); u <= 600; u++ {
		g2.table.Apply(tr(presencekv.KindOnline, u, 2, 2000))
	}
	for u := uint64(1); u <= 50; u++ {
		g1.table.Apply(tr(presencekv.KindOffline, u, 1, 3000+int64(u)))
	}
	flush(t, g1)
	flush(t, g2)
	proctest.WaitFor(t, 20*time.Second, "watcher to apply 550 transitions", func() bool { return matches(w, 600, g1.table, g2.table) })
	st := w.Stats()
	t.Logf("watcher received %d change-record bytes for %d transitions: %.1f bytes/transition (2 gateways x 2 lanes, window 4)",
		st.ChangeBytes, st.Transitions, float64(st.ChangeBytes)/float64(max(st.Transitions, 1)))
	if st.OnlineUsers != 550 {
		t.Fatalf("online users %d, want 550", st.OnlineUsers)
	}
	if p := w.Lookup(7); p.Online || p.LastSeen != 3007 {
		t.Fatalf("user 7 = %+v, want offline, last seen 3007", p)
	}
	counts := map[watcher.EventType]int{}
	for len(sub.C) > 0 {
		counts[(<-sub.C).Type]++
	}
	if counts[watcher.EventOnline] != 500 || counts[watcher.EventOffline] != 50 {
		t.Fatalf("events %v, want 500 online and 50 offline", counts)
	}

	// gw-2 loses its session: Consul deletes its keys, the watcher takes its users offline.
	id, _, _ := g2.sess.Current()
	if _, err := c.Session().Destroy(id, nil); err != nil {
		t.Fatal(err)
	}
	proctest.WaitFor(t, 20*time.Second, "gw-2's users to go offline", func() bool { return w.Stats().OnlineUsers == 50 })
	// Its agent notices on the next write, makes a new session and rewrites everything.
	g2.table.Apply(tr(presencekv.KindOnline, 601, 1, 4000))
	proctest.WaitFor(t, 30*time.Second, "gw-2's state to come back", func() bool {
		return matches(w, 601, g1.table, g2.table) && w.Stats().OnlineUsers == 551
	})

}

func TestWatcherInterestSetSeesOnlyItsBuckets(t *testing.T) {
	s := consultest.Start(t, nil)
	c := s.Client()
	g := startGateway(t, c, "gw-i", 64)
	w := startWatcher(t, c, []uint32{3})
	var inB3 []uint64
	for u := uint64(1); u <= 300; u++ {
		g.table.Apply(tr(presencekv.KindOnline, u, 1, 1000))
		if presencekv.Bucket(u, 64) == 3 {
			inB3 = append(inB3, u)
		}
	}
	flush(t, g)
	proctest.WaitFor(t, 20*time.Second, "bucket 3's users", func() bool { return w.Stats().OnlineUsers == len(inB3) })
	for _, u := range inB3 {
		if !w.Lookup(u).Online {
			t.Fatalf("user %d of bucket 3 not online", u)
		}
	}
}

func TestWatcherResumesAfterConsulRestart(t *testing.T) {
	s := consultest.Start(t, nil)
	c := s.Client()
	g := startGateway(t, c, "gw-r", 64)
	w := startWatcher(t, c, nil)
	g.table.Apply(tr(presencekv.KindOnline, 1, 1, 1000))
	flush(t, g)
	proctest.WaitFor(t, 20*time.Second, "user 1", func() bool { return w.Lookup(1).Online })
	s.Stop()
	g.table.Apply(tr(presencekv.KindOnline, 2, 1, 2000))
	g.table.Apply(tr(presencekv.KindOffline, 1, 1, 2001))
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitForLeader(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	flush(t, g)
	proctest.WaitFor(t, 30*time.Second, "changes made across the restart", func() bool {
		return w.Lookup(2).Online && !w.Lookup(1).Online
	})

}

func flush(t *testing.T, g *gateway) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := g.writer.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// A flush larger than a change record may carry is published Incomplete: the watcher
// re-reads the buckets and still converges.
func TestWatcherResyncsOnIncompleteChangeRecord(t *testing.T) {
	s := consultest.Start(t, nil)
	c := s.Client()
	if _, err := consulwriter.EnsureConfig(c, prefix, 64); err != nil {
		t.Fatal(err)
	}
	g := startGatewayWith(t, c, "gw-big", 64, func(o *consulwriter.Options) { o.MaxChangeTransitions = 10 })
	w := startWatcher(t, c, nil)
	before := w.Stats().Resyncs
	var batch []presencekv.Transition
	for u := uint64(1); u <= 200; u++ {
		batch = append(batch, tr(presencekv.KindOnline, u, 1, 1000))
	}
	g.table.ApplyAll(batch)
	flush(t, g)
	proctest.WaitFor(t, 20*time.Second, "the watcher to converge", func() bool { return matches(w, 200, g.table) })
	if w.Stats().Resyncs == before {
		t.Fatal("watcher converged without re-reading buckets although the record was Incomplete")
	}
}
