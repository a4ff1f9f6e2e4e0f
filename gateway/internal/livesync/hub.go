package livesync

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"heartline/agent/privacywatch"
	"heartline/agent/shared/clock"
	"heartline/gateway/internal/tcp"
	"heartline/protocol/hl1"
	"heartline/protocol/privacy"
)

// Privacy is the presence privacy view (*privacywatch.View, followed from Consul).
type Privacy interface {
	Subject(subject uint64) privacywatch.Subject
	Index() uint64
	Ready() bool // first read done (before it, Subject hides everyone: Pump waits for it)
}

// Source is where presence comes from (WatcherSource in production, a fake in tests).
type Source interface {
	// Ready reports whether the source has read its initial state; before that, initial
	// states are held back and sent when the Hub learns it is ready (Hub.SetReady).
	Ready() bool
	// Version returns a version no newer than the state a later Lookup returns (for the
	// watcher: its Consul index).
	Version() uint64
	// Lookup returns the user's current state; the Hub sets the version.
	Lookup(user uint64) hl1.Event
}

// Options configure a Hub.
type Options struct {
	Source Source
	// Privacy and Keys enforce presence privacy (doc.go): an app sees another member only
	// as its GRANT (sealed by the site, opened with Keys) and the member's current mode and
	// revocations (Privacy) allow, coarsely. The gateway always sets both; nil Privacy turns
	// enforcement off, for tests of the delivery mechanics and the benchmark's baseline only.
	Privacy Privacy
	Keys    privacy.Keys
	// MaxPerConn is the most users one connection may subscribe to (default 1000); a
	// SUBSCRIBE that would exceed it closes the connection with CLOSE too many subscriptions.
	MaxPerConn int
	// SendWindow: pending entries are written while the connection's backlog (bytes the
	// socket has not taken) is below this; default 16 KiB.
	SendWindow int
	// Grace: a connection whose queue has entries it cannot write for longer than this is
	// closed with CLOSE slow consumer; default 5s.
	Grace time.Duration
	// Tick is how often connections that are behind are retried (default 50ms).
	Tick  time.Duration
	Clock clock.Clock
	Log   *zap.Logger
}

// Stats are the Hub's counters.
type Stats struct {
	Active       atomic.Int64  // subscriptions (connection, user) in force
	Conns        atomic.Int64  // connections with at least one subscription call
	Events       atomic.Uint64 // EVENT entries written to connections
	Frames       atomic.Uint64 // EVENT frames written
	Coalesced    atomic.Uint64 // entries replaced by a newer state before being written
	Stale        atomic.Uint64 // entries dropped because a newer version was already queued
	SlowConsumer atomic.Uint64 // connections closed because they stayed behind
	TooMany      atomic.Uint64 // connections closed for exceeding MaxPerConn
	Grants       atomic.Uint64 // GRANT frames accepted
	GrantRefused atomic.Uint64 // GRANT frames refused (forged, expired, another member's): CLOSE 7
	Hidden       atomic.Uint64 // entries sent as "offline" because the viewer lost permission
	Resyncs      atomic.Uint64 // full re-lookups (source ready, source dropped events)
}

// connState is one subscribed connection.
type connState struct {
	c      tcp.Conn
	viewer uint64
	ids    map[uint64]struct{} // guarded by Hub.mu

	mu     sync.Mutex // guards q, closed, grant and shown
	q      *queue
	closed bool
	grant  *privacy.Grant
	shown  map[uint64]bool // per subscribed user: whether the viewer may see it, as last queued
	online map[uint64]bool // per user seen coarsely: whether the last coarse entry was online
}

// Hub routes presence changes to subscribed connections. It implements tcp.Subscriptions.
type Hub struct {
	o     Options
	Stats Stats
	ready atomic.Bool

	mu    sync.RWMutex
	conns map[uint64]*connState
	users map[uint64][]*connState

	behindMu sync.Mutex
	behind   map[*connState]struct{}

	// Publish scratch (one publisher goroutine at a time: pubMu).
	pubMu   sync.Mutex
	touched map[*connState]struct{}
}

var _ tcp.Subscriptions = (*Hub)(nil)

// NewHub returns a Hub; start its retry loop with Run.
func NewHub(o Options) *Hub {
	if o.MaxPerConn <= 0 {
		o.MaxPerConn = 1000
	}
	if o.SendWindow <= 0 {
		o.SendWindow = 16 << 10
	}
	if o.Grace <= 0 {
		o.Grace = 5 * time.Second
	}
	if o.Tick <= 0 {
		o.Tick = 50 * time.Millisecond
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	return &Hub{o: o, conns: map[uint64]*connState{}, users: map[uint64][]*connState{},
		behind: map[*connState]struct{}{}, touched: map[*connState]struct{}{}}
}

// Interested reports whether some connection subscribed to user (the watcher's filter).
func (h *Hub) Interested(user uint64) bool {
	h.mu.RLock()
	_, ok := h.users[user]
	h.mu.RUnlock()
	return ok
}

// Subscribe implements tcp.Subscriptions (called on a gnet event loop; never blocks).
func (h *Hub) Subscribe(c tcp.Conn, frame []byte) hl1.CloseReason {
	var sub hl1.Subscription
	if err := hl1.ParseSubscribe(frame, &sub); err != nil || sub.Unsubscribe {
		return hl1.CloseProtocolError
	}
	h.mu.Lock()
	cs := h.conns[c.ID()]
	if cs == nil {
		cs = h.newConn(c)
	}
	fresh := sub.UserIDs[:0]
	for _, u := range sub.UserIDs {
		if _, ok := cs.ids[u]; !ok {
			fresh = append(fresh, u)
		}
	}
	if len(cs.ids)+len(fresh) > h.o.MaxPerConn {
		h.mu.Unlock()
		h.Stats.TooMany.Add(1)
		return hl1.CloseTooManySubscribed // Closed follows and removes the connection
	}
	for _, u := range fresh {
		cs.ids[u] = struct{}{}
		h.users[u] = append(h.users[u], cs)
	}
	h.Stats.Active.Add(int64(len(fresh)))
	h.mu.Unlock()
	if h.ready.Load() {
		h.sendCurrent(cs, fresh)
	}
	return 0
}

// newConn registers c (h.mu held).
func (h *Hub) newConn(c tcp.Conn) *connState {
	cs := &connState{c: c, viewer: c.User(), ids: map[uint64]struct{}{}, q: newQueue(), shown: map[uint64]bool{}, online: map[uint64]bool{}}
	h.conns[c.ID()] = cs
	h.Stats.Conns.Add(1)
	return cs
}

// Grant implements tcp.Subscriptions: the connection's grant becomes the one in frame, if
// the site sealed it for this connection's member and it has not expired; the users it
// subscribed to are re-evaluated under it at once.
func (h *Hub) Grant(c tcp.Conn, frame []byte) hl1.CloseReason {
	sealed, err := hl1.ParseGrant(frame)
	if err != nil {
		return hl1.CloseProtocolError
	}
	if h.o.Keys == nil {
		h.Stats.GrantRefused.Add(1)
		return hl1.CloseGrantRefused
	}
	g, err := privacy.Open(h.o.Keys, sealed, h.o.Clock.Now().UnixMilli())
	if err != nil || g.Viewer == 0 || g.Viewer != c.User() {
		h.Stats.GrantRefused.Add(1)
		return hl1.CloseGrantRefused
	}
	h.Stats.Grants.Add(1)
	h.mu.Lock()
	cs := h.conns[c.ID()]
	if cs == nil {
		cs = h.newConn(c)
	}
	ids := make([]uint64, 0, len(cs.ids))
	for u := range cs.ids {
		ids = append(ids, u)
	}
	h.mu.Unlock()
	cs.mu.Lock()
	cs.grant = g
	cs.mu.Unlock()
	if h.ready.Load() {
		h.reevaluate(cs, ids, h.version())
	}
	return 0
}

// version is a version no older than anything queued so far: the source's and the privacy
// view's Consul indexes.
func (h *Hub) version() uint64 {
	v := h.o.Source.Version()
	if h.o.Privacy != nil {
		v = max(v, h.o.Privacy.Index())
	}
	return v
}

// allowed reports whether cs's viewer may see subj's user now (cs.mu held).
func (h *Hub) allowed(cs *connState, user uint64, subj privacywatch.Subject, nowMS int64) bool {
	if h.o.Privacy == nil || cs.viewer == user && user != 0 {
		return true
	}
	g := cs.grant
	if g == nil || nowMS >= g.ExpiresMS {
		return false
	}
	return subj.Allowed(cs.viewer, user, g.BasisOf(user), g.IssuedMS)
}

// viewOf is ev as cs's viewer may see it: the member themself in full, others coarse
// (online or not; a day-granular last seen within the week), a member they may not see as
// offline with no last seen.
func (h *Hub) viewOf(cs *connState, ev hl1.Event, allowed bool, now time.Time) hl1.Event {
	switch {
	case h.o.Privacy == nil || allowed && cs.viewer == ev.UserID:
		return ev
	case !allowed:
		return hl1.Event{UserID: ev.UserID, Version: ev.Version}
	case ev.State != hl1.StateOffline:
		return hl1.Event{UserID: ev.UserID, State: hl1.StateActive, Devices: 1, Version: ev.Version}
	}
	return hl1.Event{UserID: ev.UserID, LastSeenMS: privacy.CoarseLastSeenMS(int64(ev.LastSeenMS), now), Version: ev.Version}
}

// reevaluate queues, for each of users whose permission for cs changed, the user as cs may
// now see them (offline when permission was lost), at version v.
func (h *Hub) reevaluate(cs *connState, users []uint64, v uint64) {
	h.queueStates(cs, users, v, true)
}

// queueStates queues users' current states for cs at version v, as cs may see them; with
// onlyChanged, only those whose permission changed since the last entry.
func (h *Hub) queueStates(cs *connState, users []uint64, v uint64, onlyChanged bool) {
	now := h.o.Clock.Now()
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closed {
		return
	}
	for _, u := range users {
		var subj privacywatch.Subject
		if h.o.Privacy != nil {
			subj = h.o.Privacy.Subject(u)
		}
		ok := h.allowed(cs, u, subj, now.UnixMilli())
		if onlyChanged && ok == cs.shown[u] {
			continue
		}
		if onlyChanged && !ok {
			h.Stats.Hidden.Add(1)
		}
		cs.shown[u] = ok
		ev := hl1.Event{UserID: u}
		if ok {
			ev = h.o.Source.Lookup(u)
		}
		ev.UserID, ev.Version = u, v
		cs.online[u] = ok && ev.State != hl1.StateOffline
		h.offer(cs, h.viewOf(cs, ev, ok, now))
	}
	h.flush(cs)
}

// PrivacyChanged re-evaluates the connections subscribed to subjects whose mode or
// revocations changed (the privacy view's subscription), at Consul index index.
func (h *Hub) PrivacyChanged(subjects []uint64, index uint64) {
	if !h.ready.Load() {
		return // SetReady sends every current state, under the view as it is then
	}
	v := max(h.version(), index)
	type job struct {
		cs *connState
		u  uint64
	}
	var jobs []job
	h.mu.RLock()
	for _, u := range subjects {
		for _, cs := range h.users[u] {
			jobs = append(jobs, job{cs, u})
		}
	}
	h.mu.RUnlock()
	for _, j := range jobs {
		h.reevaluate(j.cs, []uint64{j.u}, v)
	}
}

// Unsubscribe implements tcp.Subscriptions.
func (h *Hub) Unsubscribe(c tcp.Conn, frame []byte) hl1.CloseReason {
	var sub hl1.Subscription
	if err := hl1.ParseSubscribe(frame, &sub); err != nil || !sub.Unsubscribe {
		return hl1.CloseProtocolError
	}
	h.mu.Lock()
	cs := h.conns[c.ID()]
	if cs == nil {
		h.mu.Unlock()
		return 0
	}
	gone := sub.UserIDs[:0]
	for _, u := range sub.UserIDs {
		if _, ok := cs.ids[u]; ok {
			delete(cs.ids, u)
			h.unindex(u, cs)
			gone = append(gone, u)
		}
	}
	h.Stats.Active.Add(-int64(len(gone)))
	h.mu.Unlock()
	cs.mu.Lock()
	for _, u := range gone {
		cs.q.forget(u)
		delete(cs.shown, u)
		delete(cs.online, u)
	}
	cs.mu.Unlock()
	return 0
}

// Closed implements tcp.Subscriptions: forget the connection.
func (h *Hub) Closed(c tcp.Conn) {
	h.mu.Lock()
	cs := h.conns[c.ID()]
	if cs == nil {
		h.mu.Unlock()
		return
	}
	delete(h.conns, c.ID())
	for u := range cs.ids {
		h.unindex(u, cs)
	}
	h.Stats.Active.Add(-int64(len(cs.ids)))
	h.Stats.Conns.Add(-1)
	h.mu.Unlock()
	cs.mu.Lock()
	cs.closed = true
	cs.mu.Unlock()
	h.behindMu.Lock()
	delete(h.behind, cs)
	h.behindMu.Unlock()
}

// unindex removes cs from user's subscribers (h.mu held).
func (h *Hub) unindex(u uint64, cs *connState) {
	list := h.users[u]
	for i, x := range list {
		if x == cs {
			list[i] = list[len(list)-1]
			list = list[:len(list)-1]
			break
		}
	}
	if len(list) == 0 {
		delete(h.users, u)
	} else {
		h.users[u] = list
	}
}

// sendCurrent queues the current state of users for cs (initial states, resyncs).
func (h *Hub) sendCurrent(cs *connState, users []uint64) {
	if len(users) == 0 {
		return
	}
	h.queueStates(cs, users, h.version(), false) // the version is read before the lookups: see doc.go
}

// offer queues ev on cs (cs.mu held).
func (h *Hub) offer(cs *connState, ev hl1.Event) {
	switch cs.q.offer(ev) {
	case coalesced:
		h.Stats.Coalesced.Add(1)
	case stale:
		h.Stats.Stale.Add(1)
	}
}

// flush writes what cs's window admits; a connection behind too long is closed (cs.mu held).
func (h *Hub) flush(cs *connState) {
	if cs.closed {
		return
	}
	sent, frames, slow := cs.q.flush(cs.c, h.o.Clock.Now(), h.o.SendWindow, h.o.Grace)
	if sent > 0 {
		h.Stats.Events.Add(uint64(sent))
		h.Stats.Frames.Add(uint64(frames))
	}
	if slow {
		cs.closed = true
		h.Stats.SlowConsumer.Add(1)
		cs.c.Close(hl1.CloseSlowConsumer)
	}
	pending := cs.q.Len() > 0 && !cs.closed
	h.behindMu.Lock()
	if pending {
		h.behind[cs] = struct{}{}
	} else {
		delete(h.behind, cs)
	}
	h.behindMu.Unlock()
}

// Publish routes presence changes to the connections subscribed to their users. It is
// called by one goroutine at a time (Pump); it does not block on clients.
func (h *Hub) Publish(evs []hl1.Event) {
	h.pubMu.Lock()
	defer h.pubMu.Unlock()
	now := h.o.Clock.Now()
	nowMS := now.UnixMilli()
	h.mu.RLock()
	for _, ev := range evs {
		list := h.users[ev.UserID]
		if len(list) == 0 {
			continue
		}
		var subj privacywatch.Subject
		if h.o.Privacy != nil {
			subj = h.o.Privacy.Subject(ev.UserID)
		}
		for _, cs := range list {
			cs.mu.Lock()
			ok := h.allowed(cs, ev.UserID, subj, nowMS)
			if !ok && !cs.shown[ev.UserID] {
				cs.mu.Unlock() // a viewer who may not see the user learns nothing of the change
				continue
			}
			if !ok {
				h.Stats.Hidden.Add(1)
			}
			coarse := h.o.Privacy != nil && cs.viewer != ev.UserID
			if coarse && ok && cs.shown[ev.UserID] && ev.State != hl1.StateOffline && cs.online[ev.UserID] {
				// Online -> online (a status change): others see no change, so get no entry.
				cs.mu.Unlock()
				continue
			}
			cs.shown[ev.UserID] = ok
			if coarse {
				cs.online[ev.UserID] = ok && ev.State != hl1.StateOffline
			}
			h.offer(cs, h.viewOf(cs, ev, ok, now))
			cs.mu.Unlock()
			h.touched[cs] = struct{}{}
		}
	}
	h.mu.RUnlock()
	for cs := range h.touched {
		cs.mu.Lock()
		h.flush(cs)
		cs.mu.Unlock()
		delete(h.touched, cs)
	}
}

// SetReady marks the source ready and sends every subscribed user's current state (the
// initial states held back until now).
func (h *Hub) SetReady() {
	if h.ready.CompareAndSwap(false, true) {
		h.Resync()
	}
}

// Resync queues the current state of every subscription (after the source dropped events).
func (h *Hub) Resync() {
	h.Stats.Resyncs.Add(1)
	type job struct {
		cs  *connState
		ids []uint64
	}
	h.mu.RLock()
	jobs := make([]job, 0, len(h.conns))
	for _, cs := range h.conns {
		ids := make([]uint64, 0, len(cs.ids))
		for u := range cs.ids {
			ids = append(ids, u)
		}
		jobs = append(jobs, job{cs, ids})
	}
	h.mu.RUnlock()
	for _, j := range jobs {
		h.sendCurrent(j.cs, j.ids)
	}
}

// Retry flushes every connection that is behind (and closes those behind too long). Run
// calls it every Options.Tick; tests call it directly.
func (h *Hub) Retry() {
	h.behindMu.Lock()
	list := make([]*connState, 0, len(h.behind))
	for cs := range h.behind {
		list = append(list, cs)
	}
	h.behindMu.Unlock()
	for _, cs := range list {
		cs.mu.Lock()
		h.flush(cs)
		cs.mu.Unlock()
	}
}

// Run retries connections that are behind until ctx ends.
func (h *Hub) Run(ctx context.Context) {
	t := time.NewTicker(h.o.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.Retry()
		}
	}
}
