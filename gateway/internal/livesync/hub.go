package livesync

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"heartline/agent/shared/clock"
	"heartline/gateway/internal/tcp"
	"heartline/protocol/hl1"
)

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
	Resyncs      atomic.Uint64 // full re-lookups (source ready, source dropped events)
}

// connState is one subscribed connection.
type connState struct {
	c   tcp.Conn
	ids map[uint64]struct{} // guarded by Hub.mu

	mu     sync.Mutex // guards q and closed
	q      *queue
	closed bool
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
		cs = &connState{c: c, ids: map[uint64]struct{}{}, q: newQueue()}
		h.conns[c.ID()] = cs
		h.Stats.Conns.Add(1)
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
	v := h.o.Source.Version() // before the lookups: see doc.go
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closed {
		return
	}
	for _, u := range users {
		ev := h.o.Source.Lookup(u)
		ev.UserID, ev.Version = u, v
		h.offer(cs, ev)
	}
	h.flush(cs)
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
	h.mu.RLock()
	for _, ev := range evs {
		for _, cs := range h.users[ev.UserID] {
			cs.mu.Lock()
			h.offer(cs, ev)
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
