package feedserver

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"heartline/gateway/internal/table"
	"heartline/protocol/feed"
	"heartline/scripts/proctest"
)

// owner plays the ingest loops: it is the only goroutine touching the shards, ticking them
// every few milliseconds and running test actions in between.
type owner struct {
	tb   *table.Table
	now  uint32
	do   chan func()
	stop chan struct{}
	wg   sync.WaitGroup
}

func startOwner(tb *table.Table) *owner {
	o := &owner{tb: tb, do: make(chan func()), stop: make(chan struct{})}
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-o.stop:
				return
			case f := <-o.do:
				f()
			case <-t.C:
			}
			for i := 0; i < tb.Shards(); i++ {
				tb.Shard(i).Tick(o.now)
			}
		}
	}()
	return o
}

func (o *owner) run(f func()) {
	done := make(chan struct{})
	o.do <- func() { f(); close(done) }
	<-done
}

func (o *owner) close() { close(o.stop); o.wg.Wait() }

type key struct {
	user uint64
	dev  uint32
}

// agentView is what an agent following the feed believes.
type agentView struct {
	c         net.Conn
	r         *feed.Reader
	state     map[key]feed.Status
	lastSeq   uint64
	snapshots int
	hello     feed.Hello
}

func dialAgent(t *testing.T, path string) *agentView {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	return &agentView{c: c, r: feed.NewReader(c), state: map[key]feed.Status{}}
}

// readUntil applies frames until cond holds (or fails the test after a timeout).
func (a *agentView) readUntil(t *testing.T, cond func() bool) {
	t.Helper()
	_ = a.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var snap map[key]feed.Status
	for !cond() {
		f, err := a.r.Next()
		if err != nil {
			t.Fatalf("agent read: %v (state %d sessions)", err, len(a.state))
		}
		switch f.Type {
		case feed.FrameHello:
			a.hello = f.Hello
		case feed.FrameSnapshotBegin:
			snap = map[key]feed.Status{}
		case feed.FrameSnapshotChunk:
			for _, r := range f.Records {
				snap[key{r.User, r.Device}] = r.Status
			}
		case feed.FrameSnapshotEnd:
			a.state, a.lastSeq = snap, f.Seq
			a.snapshots++
		case feed.FrameRecords:
			for _, r := range f.Records {
				if r.Seq != a.lastSeq+1 {
					t.Fatalf("sequence gap: got %d after %d", r.Seq, a.lastSeq)
				}
				a.lastSeq = r.Seq
				switch r.Kind {
				case feed.KindOnline, feed.KindStatus:
					a.state[key{r.User, r.Device}] = r.Status
				case feed.KindOffline:
					delete(a.state, key{r.User, r.Device})
				}
			}
		}
	}
}

func newServer(t *testing.T, tb *table.Table) (*Server, string, context.CancelFunc) {
	return newServerWith(t, tb, nil)
}

func newServerWith(t *testing.T, tb *table.Table, onUpstream func(feed.Upstream)) (*Server, string, context.CancelFunc) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "feed.sock")
	srv, err := Listen(tb, Options{Path: path, GatewayID: "gw-test", Epoch: 7, StartedAt: time.Now(), FlushInterval: 5 * time.Millisecond, OnUpstream: onUpstream})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Run(ctx); close(done) }()
	return srv, path, func() { cancel(); <-done }
}

func TestFeedOnlineOfflineSnapshotAfterAgentAway(t *testing.T) {
	tb, err := table.New(table.Options{Shards: 2, SessionsPerShard: 1024})
	if err != nil {
		t.Fatal(err)
	}
	o := startOwner(tb)
	defer o.close()
	srv, path, stop := newServer(t, tb)
	defer stop()

	want := map[key]feed.Status{}
	slots := map[key]table.Slot{}
	helloN := func(from, to uint64) {
		o.run(func() {
			for u := from; u < to; u++ {
				k := key{u, uint32(u % 2)}
				sh := tb.Shard(int(u % 2))
				slot, _, _, _ := sh.Hello(table.HelloParams{User: k.user, Device: k.dev, Active: u%3 == 0, Stamp: 1}, o.now)
				slots[k] = slot
				confirm(t, sh, slot, u%3 == 0, o.now)
				want[k] = feed.StatusAway
				if u%3 == 0 {
					want[k] = feed.StatusActive
				}
			}
		})
	}
	bye := func(u uint64) {
		k := key{u, uint32(u % 2)}
		o.run(func() {
			sh := tb.Shard(int(u % 2))
			idx, _, r := sh.Lookup(slots[k])
			if r != table.LookupOK {
				t.Errorf("lookup %d: %v", u, r)
				return
			}
			sh.Bye(idx, 2, 1, o.now)
		})
		delete(want, k)
	}

	a := dialAgent(t, path)
	a.readUntil(t, func() bool { return a.snapshots == 1 })
	if a.hello.GatewayID != "gw-test" || a.hello.Epoch != 7 || len(a.state) != 0 {
		t.Fatalf("first connect: hello %+v, %d sessions", a.hello, len(a.state))
	}
	helloN(0, 300)
	a.readUntil(t, func() bool { return len(a.state) == 300 })
	for u := uint64(0); u < 50; u++ {
		bye(u)
	}
	a.readUntil(t, func() bool { return len(a.state) == 250 })
	assertSame(t, a.state, want)

	// Agent goes away; the gateway keeps serving.
	taken := func() uint64 { return srv.Stats.Records.Load() + srv.Stats.Dropped.Load() }
	before := taken()
	_ = a.c.Close()
	for u := uint64(50); u < 120; u++ {
		bye(u)
	}
	helloN(1000, 1500)
	// With nobody connected the writer keeps taking the shards' batches (written into the
	// dead connection until the write fails, then dropped): the table never backs up behind
	// a missing agent. 70 BYEs and 500 sessions online are 570 records.
	proctest.WaitFor(t, 10*time.Second, "the writer to take the 570 records published while no agent was connected", func() bool {
		return taken()-before >= 570
	})

	b := dialAgent(t, path)
	b.readUntil(t, func() bool { return b.snapshots == 1 })
	assertSame(t, b.state, want)

	// SNAPSHOT_REQUEST gets a fresh snapshot, and live records continue after it.
	if _, err := b.c.Write(feed.AppendSnapshotRequest(nil)); err != nil {
		t.Fatal(err)
	}
	b.readUntil(t, func() bool { return b.snapshots == 2 })
	helloN(2000, 2010)
	b.readUntil(t, func() bool { return len(b.state) == len(want) })
	assertSame(t, b.state, want)
}

// confirm accepts the session's first heartbeat (seq 1), which reports it online. Call it
// from the owner goroutine.
func confirm(t *testing.T, sh *table.Shard, slot table.Slot, active bool, now uint32) {
	idx, _, r := sh.Lookup(slot)
	if r != table.LookupOK {
		t.Errorf("first heartbeat on slot %x: lookup %v", slot, r)
		return
	}
	sh.Accept(idx, 1, 0, active, now)
}

func assertSame(t *testing.T, got, want map[key]feed.Status) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("agent sees %d sessions, table has %d", len(got), len(want))
	}
	for k, st := range want {
		if g, ok := got[k]; !ok || g != st {
			t.Fatalf("session %+v: agent has %v (present %v), want %v", k, g, ok, st)
		}
	}
}

func TestSnapshotDuringChurnEndsOnLatestState(t *testing.T) {
	// Sessions change while a large snapshot is assembled over several parts: the replay
	// after SNAPSHOT_END must leave the agent on the table's state.
	tb, err := table.New(table.Options{Shards: 2, SessionsPerShard: 40000})
	if err != nil {
		t.Fatal(err)
	}
	o := startOwner(tb)
	defer o.close()
	_, path, stop := newServer(t, tb)
	defer stop()
	want := map[key]feed.Status{}
	slots := make([]table.Slot, 60000)
	o.run(func() {
		for u := uint64(0); u < 60000; u++ {
			sh := tb.Shard(int(u % 2))
			slots[u], _, _, _ = sh.Hello(table.HelloParams{User: u, Device: 1, Stamp: 1}, 0)
			confirm(t, sh, slots[u], false, 0)
			want[key{u, 1}] = feed.StatusAway
		}
	})
	a := dialAgent(t, path)
	// Churn while the agent is reading its first snapshot.
	for u := uint64(0); u < 60000; u += 997 {
		o.run(func() {
			sh := tb.Shard(int(u % 2))
			idx, _, r := sh.Lookup(slots[u])
			if r == table.LookupOK {
				sh.Accept(idx, 2, 1, true, 0)
			}
		})
		want[key{u, 1}] = feed.StatusActive
	}
	a.readUntil(t, func() bool {
		if a.snapshots == 0 || len(a.state) != len(want) {
			return false
		}
		for k, st := range want {
			if a.state[k] != st {
				return false
			}
		}
		return true
	})
}

// TestUpstreamReachesTheGatewayAndEndsWithTheConnection: the gateway says a version that
// reads UPSTREAM; what the agent says is passed on in order, and when the connection that
// said "cut off" ends the gateway hears "reachable" (no agent is no reason to refuse apps).
func TestUpstreamReachesTheGatewayAndEndsWithTheConnection(t *testing.T) {
	tb, err := table.New(table.Options{Shards: 1, SessionsPerShard: 64})
	if err != nil {
		t.Fatal(err)
	}
	heard := make(chan feed.Upstream, 8)
	_, path, stop := newServerWith(t, tb, func(u feed.Upstream) { heard <- u })
	defer stop()
	next := func() feed.Upstream {
		t.Helper()
		select {
		case u := <-heard:
			return u
		case <-time.After(10 * time.Second):
			t.Fatal("the gateway heard nothing")
		}
		return 0
	}

	a := dialAgent(t, path)
	a.readUntil(t, func() bool { return a.hello.Version != 0 })
	if a.hello.Version < feed.UpstreamVersion {
		t.Fatalf("gateway feed version %d, want >= %d (reads UPSTREAM)", a.hello.Version, feed.UpstreamVersion)
	}
	for _, u := range []feed.Upstream{feed.UpstreamCutOff, feed.UpstreamReachable, feed.UpstreamCutOff} {
		if _, err := a.c.Write(feed.AppendUpstream(nil, u)); err != nil {
			t.Fatal(err)
		}
		if got := next(); got != u {
			t.Fatalf("gateway heard %v, want %v", got, u)
		}
	}
	a.c.Close()
	if got := next(); got != feed.UpstreamReachable {
		t.Fatalf("after the agent left the gateway heard %v, want reachable", got)
	}
}
