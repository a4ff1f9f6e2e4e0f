package livesync

import (
	"sync"
	"testing"

	"heartline/protocol/hl1"
)

// fakeConn is a tcp.Conn whose socket never drains by itself: Backlog grows with every
// frame until the test calls drain.
type fakeConn struct {
	id      uint64
	user    uint64 // the member of the connection's HELLO
	mu      sync.Mutex
	frames  [][]byte
	backlog int
	closed  hl1.CloseReason
	keep    bool // keep copies of frames (off for the allocation test)
}

func (c *fakeConn) ID() uint64   { return c.id }
func (c *fakeConn) User() uint64 { return c.user }
func (c *fakeConn) SendFrame(f []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.backlog += len(f) + hl1.TCPHeaderSize
	if c.keep {
		c.frames = append(c.frames, append([]byte(nil), f...))
	}
}
func (c *fakeConn) Backlog() int { c.mu.Lock(); defer c.mu.Unlock(); return c.backlog }
func (c *fakeConn) Close(r hl1.CloseReason) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = r
}
func (c *fakeConn) drain() { c.mu.Lock(); c.backlog = 0; c.mu.Unlock() }

// events decodes every frame sent so far, in order, and forgets them.
func (c *fakeConn) events(t *testing.T) []hl1.Event {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []hl1.Event
	for _, f := range c.frames {
		var err error
		if out, err = hl1.ParseEvents(f, out); err != nil {
			t.Fatalf("frame %x: %v", f, err)
		}
	}
	c.frames = nil
	return out
}

// fakeSource is a Source backed by a map.
type fakeSource struct {
	mu      sync.Mutex
	ready   bool
	version uint64
	state   map[uint64]hl1.Event
}

func (s *fakeSource) Ready() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.ready }
func (s *fakeSource) Version() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}
func (s *fakeSource) Lookup(u uint64) hl1.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state[u]
}

func subscribeFrame(t testing.TB, unsub bool, ids ...uint64) []byte {
	t.Helper()
	f, err := hl1.AppendSubscribe(nil, &hl1.Subscription{Unsubscribe: unsub, UserIDs: ids})
	if err != nil {
		t.Fatal(err)
	}
	return f
}
