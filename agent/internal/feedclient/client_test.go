package feedclient

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"heartline/agent/internal/state"
	"heartline/protocol/feed"
	"heartline/scripts/proctest"
)

// fakeGateway is the gateway side of the feed, written with protocol/feed's encoder.
type fakeGateway struct {
	t  *testing.T
	ln net.Listener
}

func newFakeGateway(t *testing.T) (*fakeGateway, string) {
	path := filepath.Join(t.TempDir(), "feed.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &fakeGateway{t: t, ln: ln}, path
}

func (g *fakeGateway) accept() net.Conn {
	g.t.Helper()
	g.ln.(*net.UnixListener).SetDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck
	c, err := g.ln.Accept()
	if err != nil {
		g.t.Fatal(err)
	}
	g.t.Cleanup(func() { c.Close() })
	return c
}

func send(t *testing.T, c net.Conn, b []byte, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

func hello(id string) []byte {
	return feed.AppendHello(nil, feed.Hello{GatewayID: id, Epoch: 7, StartedAt: 1})
}

func snapshot(t *testing.T, c net.Conn, seq uint64, recs []feed.Record) {
	send(t, c, feed.AppendSnapshotBegin(nil, seq, uint64(len(recs))), nil)
	b, err := feed.AppendSnapshotChunk(nil, recs)
	send(t, c, b, err)
	send(t, c, feed.AppendSnapshotEnd(nil, seq), nil)
}

func on(user uint64, dev uint32) feed.Record {
	return feed.Record{Kind: feed.KindOnline, User: user, Device: dev, Status: feed.StatusActive, At: 1000}
}

func TestFeedSnapshotRecordsGapAndReconnect(t *testing.T) {
	gw, path := newFakeGateway(t)
	table := state.New(64, 1, 0)
	cl := New(Options{Path: path, Table: table, GatewayID: "gw-1", BackoffMin: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond, Log: zaptest.NewLogger(t)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); cl.Run(ctx) }()
	defer func() { cancel(); <-done }()

	c := gw.accept()
	send(t, c, hello("gw-1"), nil)
	snapshot(t, c, 10, []feed.Record{on(1, 1), on(2, 1)})
	recs := []feed.Record{
		{Seq: 11, Kind: feed.KindOnline, User: 3, Device: 1, Status: feed.StatusAway, At: 1100},
		{Seq: 12, Kind: feed.KindOffline, User: 1, Device: 1, Status: feed.StatusActive, At: 1200},
		{Seq: 13, Kind: feed.KindStatus, User: 3, Device: 1, Status: feed.StatusActive, At: 1300},
	}
	b, err := feed.AppendRecords(nil, recs)
	send(t, c, b, err)
	proctest.WaitFor(t, 10*time.Second, "snapshot + 3 records", func() bool {
		return table.Count() == 2 && len(table.Sessions(3)) == 1 && table.Sessions(3)[0].Status == uint8(feed.StatusActive) && len(table.Sessions(1)) == 0
	})

	// A gap: records 14..19 never arrive. The agent must ask for a snapshot.
	b, err = feed.AppendRecords(nil, []feed.Record{{Seq: 20, Kind: feed.KindOnline, User: 9, Device: 1, Status: feed.StatusActive, At: 2000}})
	send(t, c, b, err)
	c.SetReadDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck
	f, err := feed.NewReader(c).Next()
	if err != nil || f.Type != feed.FrameSnapshotRequest {
		t.Fatalf("after a gap the agent sent %v, %v; want SNAPSHOT_REQUEST", f, err)
	}
	// The new snapshot is the truth: user 2 left during the gap, user 5 arrived.
	snapshot(t, c, 25, []feed.Record{on(3, 1), on(5, 2), on(9, 1)})
	proctest.WaitFor(t, 10*time.Second, "the second snapshot to replace the state", func() bool {
		all := table.All()
		return len(all) == 3 && all[0].User == 3 && all[1].User == 5 && all[2].User == 9
	})

	// Records already covered by the snapshot are skipped; the next one applies.
	b, err = feed.AppendRecords(nil, []feed.Record{
		{Seq: 25, Kind: feed.KindOffline, User: 3, Device: 1, Status: feed.StatusActive, At: 2500},
		{Seq: 26, Kind: feed.KindOffline, User: 5, Device: 2, Status: feed.StatusActive, At: 2600},
	})
	send(t, c, b, err)
	proctest.WaitFor(t, 10*time.Second, "record 26", func() bool { return table.Count() == 2 && len(table.Sessions(3)) == 1 })

	// The gateway drops the connection; the agent reconnects and takes a fresh snapshot.
	c.Close()
	c2 := gw.accept()
	send(t, c2, hello("gw-1"), nil)
	snapshot(t, c2, 100, []feed.Record{on(42, 1)})
	proctest.WaitFor(t, 10*time.Second, "the snapshot after reconnect", func() bool { return table.Count() == 1 && len(table.Sessions(42)) == 1 })
	if !cl.Synced() || cl.Hello().Epoch != 7 {
		t.Fatal("client not synced after reconnect")
	}
}

func TestFeedRefusesAnotherGatewaysSocket(t *testing.T) {
	gw, path := newFakeGateway(t)
	table := state.New(64, 1, 0)
	cl := New(Options{Path: path, Table: table, GatewayID: "gw-1", BackoffMin: 5 * time.Millisecond, BackoffMax: 10 * time.Millisecond, Log: zaptest.NewLogger(t)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); cl.Run(ctx) }()
	defer func() { cancel(); <-done }()
	c := gw.accept()
	send(t, c, hello("gw-other"), nil)
	// The agent may hang up as soon as it has read the HELLO, so the snapshot may meet a
	// closed socket (broken pipe): its writes are best effort here.
	chunk, _ := feed.AppendSnapshotChunk(nil, []feed.Record{on(1, 1)})
	for _, b := range [][]byte{feed.AppendSnapshotBegin(nil, 1, 1), chunk, feed.AppendSnapshotEnd(nil, 1)} {
		_, _ = c.Write(b)
	}
	// The agent hangs up and retries instead of adopting the other gateway's state.
	gw.accept()
	if table.Count() != 0 {
		t.Fatalf("agent applied %d sessions from another gateway's feed", table.Count())
	}
}

// TestUpstreamIsToldAndRetoldOnEveryConnection: a gateway that reads UPSTREAM hears the
// agent's cut-off at once, hears it again at the start of the next connection (it assumes
// reachable on a new one), and hears when Consul is back; a gateway of feed version 1 is
// never sent UPSTREAM (it would close the connection on an unknown frame).
func TestUpstreamIsToldAndRetoldOnEveryConnection(t *testing.T) {
	gw, path := newFakeGateway(t)
	table := state.New(64, 1, 0)
	cl := New(Options{Path: path, Table: table, GatewayID: "gw-1", BackoffMin: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond, Log: zaptest.NewLogger(t)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); cl.Run(ctx) }()
	defer func() { cancel(); <-done }()
	next := func(c net.Conn) *feed.Frame {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck
		f, err := feed.NewReader(c).Next()
		if err != nil {
			t.Fatalf("gateway read: %v", err)
		}
		return f
	}
	gap := func(c net.Conn) { // makes the agent send SNAPSHOT_REQUEST
		b, err := feed.AppendRecords(nil, []feed.Record{{Seq: 50, Kind: feed.KindOnline, User: 9, Device: 1, Status: feed.StatusActive, At: 2000}})
		send(t, c, b, err)
	}

	// Version 1: the cut-off is kept, not sent; the agent's next frame is its snapshot request.
	c := gw.accept()
	send(t, c, feed.AppendHello(nil, feed.Hello{Version: 1, GatewayID: "gw-1", Epoch: 7, StartedAt: 1}), nil)
	snapshot(t, c, 10, []feed.Record{on(1, 1)})
	proctest.WaitFor(t, 10*time.Second, "the snapshot", cl.Synced)
	cl.SetUpstream(feed.UpstreamCutOff)
	gap(c)
	if f := next(c); f.Type != feed.FrameSnapshotRequest {
		t.Fatalf("a version-1 gateway was sent %v", f.Type)
	}
	c.Close()

	// A version-2 gateway hears the cut-off first thing on its connection.
	c = gw.accept()
	send(t, c, hello("gw-1"), nil)
	if f := next(c); f.Type != feed.FrameUpstream || f.Upstream != feed.UpstreamCutOff {
		t.Fatalf("new connection while cut off: gateway got %v %v, want UPSTREAM cut-off", f.Type, f.Upstream)
	}
	cl.SetUpstream(feed.UpstreamReachable)
	if f := next(c); f.Type != feed.FrameUpstream || f.Upstream != feed.UpstreamReachable {
		t.Fatalf("gateway got %v %v, want UPSTREAM reachable", f.Type, f.Upstream)
	}
	cl.SetUpstream(feed.UpstreamReachable) // no change: nothing sent
	snapshot(t, c, 10, []feed.Record{on(1, 1)})
	proctest.WaitFor(t, 10*time.Second, "the snapshot", cl.Synced)
	gap(c)
	if f := next(c); f.Type != feed.FrameSnapshotRequest {
		t.Fatalf("after an unchanged state the gateway got %v, want the snapshot request", f.Type)
	}
}
