package live

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"heartline/agent/privacywatch"
	"heartline/agent/watcher"
	"heartline/protocol/privacy"
	"heartline/scripts/proctest"
)

// asMember identifies every request as signed-in member id, allowed (basis member) to
// see every id it asks for.
func asMember(id uint64) Identify {
	return func(_ *http.Request, ids []uint64) (Viewer, error) {
		v := Viewer{ID: id, Basis: map[uint64]privacy.Basis{}}
		for _, u := range ids {
			v.Basis[u] = privacy.BasisMember
		}
		return v, nil
	}
}

// fakeSource is a presence cache the test sets directly.
type fakeSource struct {
	mu sync.Mutex
	p  map[uint64]watcher.Presence
}

func newFake() *fakeSource { return &fakeSource{p: map[uint64]watcher.Presence{}} }

func (f *fakeSource) Lookup(u uint64) watcher.Presence {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.p[u]
	if !ok {
		p.User = u
	}
	return p
}

func (f *fakeSource) OnlineUsers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, p := range f.p {
		if p.Online {
			n++
		}
	}
	return n
}

// set updates the cache and returns the event the watcher would emit.
func (f *fakeSource) set(u uint64, online bool, at int64, version uint64) watcher.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	ev := watcher.Event{User: u, At: at, Version: version, ID: "gw/0/1/1"}
	if online {
		f.p[u] = watcher.Presence{User: u, Online: true, Status: watcher.StatusActive,
			Devices: []watcher.Device{{Device: 1, Gateway: "gw", Status: watcher.StatusActive, Since: at, Version: version}}}
		ev.Type, ev.Status, ev.Devices = watcher.EventOnline, watcher.StatusActive, 1
	} else {
		f.p[u] = watcher.Presence{User: u, LastSeen: at}
		ev.Type = watcher.EventOffline
	}
	return ev
}

type frame struct{ id, event, data string }

type stream struct {
	t      *testing.T
	resp   *http.Response
	frames chan frame
	errc   chan error
	pings  atomic.Int64
}

func open(t *testing.T, url, lastID string) *stream {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content type %q", ct)
	}
	s := &stream{t: t, resp: resp, frames: make(chan frame, 256), errc: make(chan error, 1)}
	go s.read(bufio.NewReader(resp.Body))
	return s
}

// read parses frames (skipping retry lines; counting ping comments) until the body ends.
func (s *stream) read(r *bufio.Reader) {
	var f frame
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			s.errc <- err
			return
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if f.event != "" {
				s.frames <- f
			}
			f = frame{}
		case strings.HasPrefix(line, ":"):
			s.pings.Add(1)
		case strings.HasPrefix(line, "id: "):
			f.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			f.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			f.data = line[6:]
		}
	}
}

// next returns the next frame with an event.
func (s *stream) next() frame {
	s.t.Helper()
	select {
	case f := <-s.frames:
		return f
	case err := <-s.errc:
		s.t.Fatalf("reading SSE: %v", err)
	case <-time.After(5 * time.Second):
		s.t.Fatal("no SSE frame within 5s")
	}
	return frame{}
}

type snapshotData struct {
	Online  int `json:"online"`
	Members []struct {
		ID       uint64 `json:"id"`
		Online   bool   `json:"online"`
		LastSeen int64  `json:"last_seen_ms"`
	} `json:"members"`
}

func TestEventArrivesAndReconnectGetsCurrentState(t *testing.T) {
	src := newFake()
	src.set(7, true, 1000, 10)
	hub := NewHub(Options{Privacy: privacywatch.NewStatic(), Identify: asMember(1000), Source: src})
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close)

	s := open(t, srv.URL+"?ids=7,8", "")
	snap := s.next()
	if snap.event != "snapshot" || snap.id == "" {
		t.Fatalf("first frame %+v, want a snapshot with an id", snap)
	}
	var sd snapshotData
	json.Unmarshal([]byte(snap.data), &sd) //nolint:errcheck
	if sd.Online != 1 || len(sd.Members) != 2 || !sd.Members[0].Online || sd.Members[1].Online {
		t.Fatalf("snapshot %s", snap.data)
	}

	hub.Publish(src.set(8, true, 2000, 11))
	hub.Publish(src.set(9, true, 2000, 12)) // not watched: must not arrive
	ev := s.next()
	if ev.event != "presence" || !strings.Contains(ev.data, `"id":8`) || !strings.Contains(ev.data, `"online":true`) {
		t.Fatalf("event %+v", ev)
	}
	if ev.id == snap.id {
		t.Fatal("event reuses the snapshot's id")
	}
	s.resp.Body.Close()

	// While disconnected: 7 goes offline, 8 goes offline then online again, several times.
	for i := range 5 {
		hub.Publish(src.set(8, i%2 == 1, int64(3000+i), uint64(20+i)))
	}
	hub.Publish(src.set(7, false, 5000, 30))

	r := open(t, srv.URL+"?ids=7,8", ev.id)
	got := r.next()
	if got.event != "snapshot" {
		t.Fatalf("after reconnect: %+v, want one snapshot (current state), not a replay", got)
	}
	json.Unmarshal([]byte(got.data), &sd) //nolint:errcheck
	// Another member never gets a timestamp (coarse view), only online or how recent.
	if sd.Members[0].ID != 7 || sd.Members[0].Online || sd.Members[0].LastSeen != 0 || sd.Members[1].Online {
		t.Fatalf("reconnect snapshot %s", got.data)
	}
	// Live again after the snapshot.
	hub.Publish(src.set(7, true, 6000, 31))
	if f := r.next(); f.event != "presence" || !strings.Contains(f.data, `"id":7`) {
		t.Fatalf("after snapshot: %+v", f)
	}
}

func TestReconnectUpToDateSkipsSnapshot(t *testing.T) {
	src := newFake()
	hub := NewHub(Options{Privacy: privacywatch.NewStatic(), Identify: asMember(1000), Source: src, Ping: 20 * time.Millisecond})
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close)
	hub.Publish(src.set(1, true, 1, 1))
	s := open(t, srv.URL+"?ids=1", hub.Cursor())
	hub.Publish(src.set(1, false, 2, 2))
	if f := s.next(); f.event != "presence" {
		t.Fatalf("first frame %+v: an up-to-date client must get no snapshot", f)
	}
	if n := s.pings.Load(); n != 0 {
		t.Log("pings before the first event:", n)
	}
	// A stale id from an earlier hub epoch (site restart) gets a snapshot.
	s2 := open(t, srv.URL+"?ids=1", "deadbeef.5")
	if f := s2.next(); f.event != "snapshot" {
		t.Fatalf("stale epoch: %+v", f)
	}
}

func TestPingComments(t *testing.T) {
	hub := NewHub(Options{Privacy: privacywatch.NewStatic(), Identify: asMember(1000), Source: newFake(), Ping: 10 * time.Millisecond})
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close)
	s := open(t, srv.URL, hub.Cursor())
	deadline := time.Now().Add(5 * time.Second)
	for s.pings.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s.pings.Load() < 2 {
		t.Fatal("no keep-alive comments")
	}
}

func TestSlowClientIsResyncedNotBlocking(t *testing.T) {
	src := newFake()
	hub := NewHub(Options{Privacy: privacywatch.NewStatic(), Identify: asMember(1000), Source: src, QueueLen: 4})
	c := &client{viewer: 1000, ids: []uint64{1}, basis: []privacy.Basis{privacy.BasisMember}, shown: []bool{false}, q: make(chan []byte, 4), kick: make(chan struct{}, 1)}
	if hub.add(c) != nil {
		t.Fatal("add")
	}
	done := make(chan struct{})
	go func() {
		for i := range 1000 { // nobody reads c.q: Publish must never block
			hub.Publish(src.set(1, i%2 == 0, int64(i), uint64(i+1)))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked on a full client queue")
	}
	if !c.resync.Load() || len(c.kick) != 1 {
		t.Fatal("overflowing client not marked for resync")
	}
	f := string(hub.snapshot(c))
	if !strings.Contains(f, "event: snapshot") || !strings.Contains(f, `"id":1,"online":false`) || len(c.q) != 0 || c.resync.Load() {
		t.Fatalf("resync snapshot %q (queue %d)", f, len(c.q))
	}
}

func TestOverflowOverHTTPDeliversSnapshot(t *testing.T) {
	src := newFake()
	hub := NewHub(Options{Privacy: privacywatch.NewStatic(), Identify: asMember(1), Source: src, QueueLen: 1}) // the member themself: full detail
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close)
	s := open(t, srv.URL+"?ids=1", hub.Cursor())
	// Publish a burst before the client reads: with a queue of 1 some frames overflow.
	hub.mu.Lock()
	var cl *client
	for c := range hub.clients {
		cl = c
	}
	hub.mu.Unlock()
	for i := range 50 {
		ev := src.set(1, i%2 == 0, int64(i), uint64(i+1))
		cl.send([]byte("id: x\nevent: presence\ndata: {}\n\n")) // fill the queue
		hub.Publish(ev)
	}
	// The writer may resync mid-burst; whatever it sends, the stream must contain a resync
	// snapshot and end in the final state (offline, last seen 49).
	sawSnapshot, final := false, false
	for !(sawSnapshot && final) {
		f := s.next()
		switch f.event {
		case "snapshot":
			sawSnapshot = true
			final = strings.Contains(f.data, `"id":1,"online":false,"last_seen_ms":49`)
		case "presence":
			if strings.Contains(f.data, `"id":1,`) {
				final = strings.Contains(f.data, `"online":false`) && strings.Contains(f.data, `"last_seen_ms":49`)
			}
		}
	}
	if hub.Stats().Resyncs == 0 {
		t.Fatal("resync not counted")
	}
}

type chanSub struct {
	c       chan watcher.Event
	mu      sync.Mutex
	dropped uint64
}

func (s *chanSub) Events() <-chan watcher.Event { return s.c }
func (s *chanSub) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

func TestRunPublishesEventsCountsAndResyncsOnDrops(t *testing.T) {
	src := newFake()
	hub := NewHub(Options{Privacy: privacywatch.NewStatic(), Identify: asMember(1000), Source: src, CountEvery: 10 * time.Millisecond})
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close)
	sub := &chanSub{c: make(chan watcher.Event, 8)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go hub.Run(ctx, sub)
	s := open(t, srv.URL+"?ids=5", hub.Cursor())
	sub.c <- src.set(5, true, 1, 1)
	var sawPresence, sawCount bool
	for !(sawPresence && sawCount) {
		f := s.next()
		switch f.event {
		case "presence":
			sawPresence = true
		case "snapshot": // a snapshot taken after the event covers it (its queued frame is dropped)
			sawPresence = sawPresence || strings.Contains(f.data, `"id":5,"online":true`)
		case "count":
			sawCount = strings.Contains(f.data, `"online":1`) || sawCount
		}
	}
	sub.mu.Lock()
	sub.dropped = 3
	sub.mu.Unlock()
	for {
		if f := s.next(); f.event == "snapshot" {
			break
		}
	}
}

func TestBadRequestsAndClientLimit(t *testing.T) {
	hub := NewHub(Options{Privacy: privacywatch.NewStatic(), Identify: asMember(1000), Source: newFake(), MaxIDs: 3, MaxClients: 1})
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close)
	for _, q := range []string{"?ids=1,2,3,4", "?ids=a", "?ids=0", "?ids=1,,2"} {
		resp, err := http.Get(srv.URL + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("%s: %s, want 400", q, resp.Status)
		}
	}
	_ = open(t, srv.URL+"?ids=1", "")
	resp, err := http.Get(srv.URL + "?ids=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("client over the limit: %s", resp.Status)
	}
}

// A stream outlives the server's ReadTimeout: main.go sets one (30 s), and SSE streams are
// long requests (net/http clears the deadline when the request body is done).
func TestStreamOutlivesReadTimeout(t *testing.T) {
	src := newFake()
	hub := NewHub(Options{Privacy: privacywatch.NewStatic(), Identify: asMember(1000), Source: src, Ping: 50 * time.Millisecond})
	srv := httptest.NewUnstartedServer(hub)
	srv.Config.ReadTimeout = 200 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	s := open(t, srv.URL+"?ids=1", hub.Cursor())
	opened := time.Now()
	// The timeout needs real time to pass: wait until the stream has lived 3.5 read timeouts
	// and kept receiving pings all along (a 50 ms ping, so at least 10 of them).
	proctest.WaitFor(t, 10*time.Second, "the stream alive past the read timeout", func() bool {
		return time.Since(opened) >= 700*time.Millisecond && s.pings.Load() >= 10
	})
	hub.Publish(src.set(1, true, 1, 1))
	if f := s.next(); f.event != "presence" {
		t.Fatalf("after the read timeout: %+v", f)
	}
}
