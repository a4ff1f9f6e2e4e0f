package live

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"heartline/agent/watcher"
)

// Source is what the hub reads current state from: the watcher's cache.
type Source interface {
	Lookup(user uint64) watcher.Presence
	OnlineUsers() int
}

// Options configure a Hub.
type Options struct {
	Source Source
	// QueueLen bounds each client's pending frames (default 64).
	QueueLen int
	// MaxIDs bounds how many members one client may watch (default 200).
	MaxIDs int
	// MaxClients bounds concurrent SSE connections (default 10000); beyond it: 503.
	MaxClients int
	// Ping is the interval of keep-alive comments (default 15s).
	Ping time.Duration
	// CountEvery is how often the online count is re-read and pushed when it changed (default 1s).
	CountEvery time.Duration
	// WriteTimeout bounds one write to a client (default 10s); a stuck client is dropped.
	WriteTimeout time.Duration
	// Retry is the reconnect delay suggested to browsers (default 2s).
	Retry time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	Log *zap.Logger
}

// Hub fans watcher events out to SSE clients. Create with NewHub; feed with Run (from a
// watcher subscription) or Publish.
type Hub struct {
	o     Options
	epoch string
	seq   atomic.Uint64

	mu       sync.Mutex
	watching map[uint64]map[*client]struct{}
	clients  map[*client]struct{}

	closed    chan struct{}
	closeOnce sync.Once

	count   atomic.Int64
	resyncs atomic.Uint64
	sent    atomic.Uint64
}

// client is one SSE connection.
type client struct {
	ids    []uint64
	q      chan []byte
	kick   chan struct{} // cap 1: wake the writer for a resync
	resync atomic.Bool
}

// NewHub returns a hub.
func NewHub(o Options) *Hub {
	if o.QueueLen <= 0 {
		o.QueueLen = 64
	}
	if o.MaxIDs <= 0 {
		o.MaxIDs = 200
	}
	if o.MaxClients <= 0 {
		o.MaxClients = 10000
	}
	if o.Ping <= 0 {
		o.Ping = 15 * time.Second
	}
	if o.CountEvery <= 0 {
		o.CountEvery = time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.Retry <= 0 {
		o.Retry = 2 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	var e [4]byte
	rand.Read(e[:]) //nolint:errcheck // never fails
	h := &Hub{o: o, epoch: hex.EncodeToString(e[:]), watching: map[uint64]map[*client]struct{}{}, clients: map[*client]struct{}{}, closed: make(chan struct{})}
	h.count.Store(-1)
	return h
}

// Close ends every SSE stream (their handlers return) and refuses new ones: call it when
// the HTTP server shuts down, since Shutdown waits for handlers and SSE handlers never end
// on their own.
func (h *Hub) Close() { h.closeOnce.Do(func() { close(h.closed) }) }

// Cursor is the id of the latest frame: a page rendered now embeds it so its first SSE
// connection can skip the snapshot when nothing changed in between.
func (h *Hub) Cursor() string { return h.epoch + "." + strconv.FormatUint(h.seq.Load(), 10) }

// upToDate reports whether id is the hub's latest frame id.
func (h *Hub) upToDate(id string) bool {
	ep, seq, ok := strings.Cut(id, ".")
	if !ok || ep != h.epoch {
		return false
	}
	n, err := strconv.ParseUint(seq, 10, 64)
	return err == nil && n == h.seq.Load()
}

// Stats are the hub's counters.
type Stats struct {
	Clients int
	Resyncs uint64 // snapshots sent because a queue overflowed or the watcher dropped events
	Frames  uint64 // frames written to clients
}

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	n := len(h.clients)
	h.mu.Unlock()
	return Stats{Clients: n, Resyncs: h.resyncs.Load(), Frames: h.sent.Load()}
}

// presenceJSON is one member's state in frames and in GET /api/presence.
type presenceJSON struct {
	ID       uint64 `json:"id"`
	Online   bool   `json:"online"`
	Status   uint8  `json:"status,omitempty"`
	Devices  int    `json:"devices"`
	Since    int64  `json:"since_ms,omitempty"`
	LastSeen int64  `json:"last_seen_ms,omitempty"`
	Version  uint64 `json:"version,omitempty"`
}

// PresenceOf converts the watcher's view of a user to the site's JSON shape.
func PresenceOf(p watcher.Presence) presenceJSON {
	out := presenceJSON{ID: p.User, Online: p.Online, Status: p.Status, Devices: len(p.Devices), LastSeen: p.LastSeen}
	for _, d := range p.Devices {
		if out.Since == 0 || d.Since < out.Since {
			out.Since = d.Since
		}
		out.Version = max(out.Version, d.Version)
	}
	if p.Online {
		out.LastSeen = 0
	}
	return out
}

func (h *Hub) frame(event string, data any) []byte {
	id := h.epoch + "." + strconv.FormatUint(h.seq.Add(1), 10)
	return formatFrame(id, event, data)
}

func formatFrame(id, event string, data any) []byte {
	b, err := json.Marshal(data)
	if err != nil {
		panic(err) // only our own structs are marshalled
	}
	out := make([]byte, 0, len(b)+len(id)+len(event)+24)
	out = append(out, "id: "...)
	out = append(out, id...)
	out = append(out, "\nevent: "...)
	out = append(out, event...)
	out = append(out, "\ndata: "...)
	out = append(out, b...)
	return append(out, "\n\n"...)
}

// Publish sends one watcher event to the clients watching its user.
func (h *Hub) Publish(ev watcher.Event) {
	p := presenceJSON{ID: ev.User, Online: ev.Type != watcher.EventOffline, Status: ev.Status, Devices: ev.Devices, Version: ev.Version}
	if p.Online {
		p.Since = ev.At
	} else {
		p.LastSeen = ev.At
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	f := h.frame("presence", struct {
		presenceJSON
		ServerMS int64 `json:"server_ms"`
	}{p, h.o.Now().UnixMilli()})
	for c := range h.watching[ev.User] {
		c.send(f)
	}
}

// publishCount pushes the online count to every client when it changed.
func (h *Hub) publishCount() {
	n := int64(h.o.Source.OnlineUsers())
	if h.count.Swap(n) == n {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	f := h.frame("count", map[string]int64{"online": n})
	for c := range h.clients {
		c.send(f)
	}
}

// ResyncAll makes every client receive a fresh snapshot (e.g. the watcher dropped events).
func (h *Hub) ResyncAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		c.markResync()
	}
}

func (c *client) send(f []byte) {
	if c.resync.Load() {
		return // a snapshot is coming anyway
	}
	select {
	case c.q <- f:
	default:
		c.markResync()
	}
}

func (c *client) markResync() {
	c.resync.Store(true)
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Subscription is the part of a watcher subscription the hub reads.
type Subscription interface {
	Events() <-chan watcher.Event
	Dropped() uint64
}

// WatcherSubscription adapts *watcher.Subscription to Subscription.
type WatcherSubscription struct{ S *watcher.Subscription }

func (w WatcherSubscription) Events() <-chan watcher.Event { return w.S.C }
func (w WatcherSubscription) Dropped() uint64              { return w.S.Dropped() }

// Run publishes the subscription's events and the online count until ctx ends or the
// subscription's channel closes. When the subscription reports drops, every client resyncs.
func (h *Hub) Run(ctx context.Context, sub Subscription) {
	t := time.NewTicker(h.o.CountEvery)
	defer t.Stop()
	var dropped uint64
	h.publishCount()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-sub.Events():
			if !ok {
				return
			}
			h.Publish(ev)
		case <-t.C:
			if d := sub.Dropped(); d != dropped {
				h.o.Log.Warn("live: watcher dropped events; resyncing every SSE client", zap.Uint64("dropped", d-dropped))
				dropped = d
				h.ResyncAll()
			}
			h.publishCount()
		}
	}
}
