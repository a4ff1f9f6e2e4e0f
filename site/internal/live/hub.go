package live

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"heartline/agent/privacywatch"
	"heartline/agent/watcher"
	"heartline/protocol/privacy"
)

// Source is what the hub reads current state from: the watcher's cache.
type Source interface {
	Lookup(user uint64) watcher.Presence
	OnlineUsers() int
}

// Privacy is what the hub asks before showing anyone's presence: the site's privacy view
// (*privacywatch.View: members' modes and recent revocations, followed from Consul).
type Privacy interface {
	Subject(subject uint64) privacywatch.Subject
}

// Viewer is who opened a stream, and what the site's database said about each watched
// member when the stream opened (privacy.Basis: none for a member who blocks the viewer,
// member, or match). ID 0 is an anonymous visitor, who sees no presence.
type Viewer struct {
	ID       uint64
	IssuedMS int64
	Basis    map[uint64]privacy.Basis
	// Addr is the client's address range (IPv4 address, IPv6 /64) for the per-address cap.
	Addr string
}

// Identify tells the hub who a request's viewer is, for the ids it asks to watch. An error
// is answered with its message and status (IdentifyError), or 500.
type Identify func(r *http.Request, ids []uint64) (Viewer, error)

// IdentifyError is an error Identify returns to refuse a stream with a status.
type IdentifyError struct {
	Status  int
	Message string
}

func (e *IdentifyError) Error() string { return e.Message }

// Options configure a Hub.
type Options struct {
	Source Source
	// Privacy decides who sees whom (required: privacywatch.NewStatic() in tests).
	Privacy Privacy
	// Identify resolves a request's viewer (default: everyone anonymous).
	Identify Identify
	// MaxPerAddr bounds concurrent streams from one address range (default 20); MaxPerMember
	// bounds those of one signed-in member (default 10). Beyond either: 429.
	MaxPerAddr   int
	MaxPerMember int
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
	watching map[uint64]map[*client]int // member -> client -> index in client.ids
	clients  map[*client]struct{}
	perAddr  map[string]int
	perUser  map[uint64]int
	// enforce is false only in the benchmark that measures what the checks cost.
	enforce bool

	closed    chan struct{}
	closeOnce sync.Once

	count   atomic.Int64
	resyncs atomic.Uint64
	sent    atomic.Uint64
}

// client is one SSE connection.
type client struct {
	viewer uint64
	issued int64
	addr   string
	ids    []uint64
	basis  []privacy.Basis // per ids[i]
	shown  []bool          // per ids[i]: whether the viewer may see it, as last sent (hub.mu)
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
	if o.MaxPerAddr <= 0 {
		o.MaxPerAddr = 20
	}
	if o.MaxPerMember <= 0 {
		o.MaxPerMember = 10
	}
	if o.Identify == nil {
		o.Identify = func(*http.Request, []uint64) (Viewer, error) { return Viewer{}, nil }
	}
	if o.Privacy == nil {
		panic("live: Options.Privacy is required (privacywatch.NewStatic() in tests)")
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
	h := &Hub{o: o, epoch: hex.EncodeToString(e[:]), watching: map[uint64]map[*client]int{}, clients: map[*client]struct{}{},
		perAddr: map[string]int{}, perUser: map[uint64]int{}, enforce: true, closed: make(chan struct{})}
	h.count.Store(-1)
	return h
}

// SetIdentify installs the function that resolves viewers (site/web sets it; call before
// serving).
func (h *Hub) SetIdentify(f Identify) { h.o.Identify = f }

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

// presenceJSON is one member's state in frames and in GET /api/presence. Others see only
// Online and Recent; the member themself also gets the detail (status, devices, times,
// version). A member the viewer may not see looks exactly like an offline member not seen
// for a week: {"id":…,"online":false}.
type presenceJSON struct {
	ID       uint64 `json:"id"`
	Online   bool   `json:"online"`
	Recent   string `json:"recent,omitempty"` // offline: "today", "week" or absent
	Status   uint8  `json:"status,omitempty"`
	Devices  int    `json:"devices,omitempty"`
	Since    int64  `json:"since_ms,omitempty"`
	LastSeen int64  `json:"last_seen_ms,omitempty"`
	Version  uint64 `json:"version,omitempty"`
}

// Hidden is what a viewer gets for a member they may not see.
func Hidden(id uint64) presenceJSON { return presenceJSON{ID: id} }

// SelfView is a member's own full presence.
func SelfView(p watcher.Presence) presenceJSON {
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

// CoarseView is what other members allowed to see p get: online, or how recently active.
func CoarseView(p watcher.Presence, now time.Time) presenceJSON {
	if p.Online {
		return presenceJSON{ID: p.User, Online: true}
	}
	return presenceJSON{ID: p.User, Recent: privacy.RecencyOf(p.LastSeen, now).String()}
}

// ViewOf is p as viewer may see it (allowed: privacy.Allowed's answer).
func ViewOf(p watcher.Presence, viewer uint64, allowed bool, now time.Time) presenceJSON {
	switch {
	case !allowed:
		return Hidden(p.User)
	case viewer == p.User:
		return SelfView(p)
	}
	return CoarseView(p, now)
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

type presenceFrame struct {
	presenceJSON
	ServerMS int64 `json:"server_ms"`
}

// Publish sends one watcher event to the clients watching its user who may see it: the
// member themself gets the detail, others the coarse view, and a viewer who may not see the
// member gets nothing at all (not even the timing of a change).
func (h *Hub) Publish(ev watcher.Event) {
	now := h.o.Now()
	self := presenceJSON{ID: ev.User, Online: ev.Type != watcher.EventOffline, Status: ev.Status, Devices: ev.Devices, Version: ev.Version}
	coarse := presenceJSON{ID: ev.User, Online: self.Online}
	if self.Online {
		self.Since = ev.At
	} else {
		self.LastSeen = ev.At
		coarse.Recent = privacy.RecencyOf(ev.At, now).String()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	watchers := h.watching[ev.User]
	if len(watchers) == 0 {
		return
	}
	subj := h.o.Privacy.Subject(ev.User)
	var fSelf, fCoarse, fHidden []byte
	for c, i := range watchers {
		allowed := !h.enforce || subj.Allowed(c.viewer, ev.User, c.basis[i], c.issued)
		var f []byte
		switch {
		case allowed && c.viewer == ev.User:
			if fSelf == nil {
				fSelf = h.frame("presence", presenceFrame{self, now.UnixMilli()})
			}
			f = fSelf
		case allowed && ev.Type == watcher.EventStatus && c.shown[i]:
			continue // foreground/background is the member's own business: others see no change
		case allowed:
			if fCoarse == nil {
				fCoarse = h.frame("presence", presenceFrame{coarse, now.UnixMilli()})
			}
			f = fCoarse
		case c.shown[i]:
			// Lost permission and not told yet (the privacy change is on its way): hide now.
			if fHidden == nil {
				fHidden = h.frame("presence", presenceFrame{Hidden(ev.User), now.UnixMilli()})
			}
			f = fHidden
		default:
			continue
		}
		c.shown[i] = allowed
		c.send(f)
	}
}

// PrivacyChanged re-evaluates the watchers of subjects whose mode or revocations changed
// (privacywatch.View's subscription): a watcher that lost permission gets the member as
// offline with no last seen; one that gained it gets the current (coarse) state. Watchers
// whose permission did not change get nothing, so a viewer who may not see a member learns
// nothing from that member's privacy changes either.
func (h *Hub) PrivacyChanged(subjects []uint64) {
	now := h.o.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, u := range subjects {
		watchers := h.watching[u]
		if len(watchers) == 0 {
			continue
		}
		subj := h.o.Privacy.Subject(u)
		var fHidden, fCoarse []byte
		for c, i := range watchers {
			allowed := subj.Allowed(c.viewer, u, c.basis[i], c.issued)
			if allowed == c.shown[i] || c.viewer == u {
				continue
			}
			c.shown[i] = allowed
			if !allowed {
				if fHidden == nil {
					fHidden = h.frame("presence", presenceFrame{Hidden(u), now.UnixMilli()})
				}
				c.send(fHidden)
				continue
			}
			if fCoarse == nil {
				fCoarse = h.frame("presence", presenceFrame{CoarseView(h.o.Source.Lookup(u), now), now.UnixMilli()})
			}
			c.send(fCoarse)
		}
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
