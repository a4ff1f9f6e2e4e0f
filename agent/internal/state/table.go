package state

import (
	"slices"
	"sync"

	"heartline/protocol/presencekv"
)

type sessKey struct {
	user   uint64
	device uint32
}

type bucket struct {
	sessions map[sessKey]presencekv.Session
	pending  map[sessKey]presencekv.Transition // coalesced: latest per session
	offline  map[uint64]int64                  // user -> last seen, users with no session left
	dirty    bool
}

// Work is one dirty bucket handed to the writer: its current sessions (sorted, ready to
// encode), the transitions since the last successful write, and the new last-seen entries.
type Work struct {
	Bucket      uint32
	Sessions    []presencekv.Session
	Transitions []presencekv.Transition
	Offline     []presencekv.LastSeen // sorted by user
}

// Table is one gateway's presence state. It is safe for concurrent use.
type Table struct {
	n        uint32
	lanes    int
	notifyAt int

	mu       sync.Mutex
	buckets  []bucket
	dirty    [][]uint32 // per lane
	ndirty   int
	sessions int
	notify   chan struct{}
}

// New returns an empty table of n buckets whose dirty buckets are split over lanes
// (bucket % lanes). Notify fires when notifyAt buckets are dirty (0: never).
func New(n uint32, lanes, notifyAt int) *Table {
	if lanes < 1 {
		lanes = 1
	}
	return &Table{
		n: n, lanes: lanes, notifyAt: notifyAt,
		buckets: make([]bucket, n),
		dirty:   make([][]uint32, lanes),
		notify:  make(chan struct{}, 1),
	}
}

// Buckets is the bucket count.
func (t *Table) Buckets() uint32 { return t.n }

// Lanes is the number of writer lanes.
func (t *Table) Lanes() int { return t.lanes }

// Notify is signalled when enough buckets are dirty to flush before the window ends.
func (t *Table) Notify() <-chan struct{} { return t.notify }

func (t *Table) markDirty(b uint32) {
	bk := &t.buckets[b]
	if bk.dirty {
		return
	}
	bk.dirty = true
	lane := int(b) % t.lanes
	t.dirty[lane] = append(t.dirty[lane], b)
	t.ndirty++
	if t.notifyAt > 0 && t.ndirty >= t.notifyAt {
		select {
		case t.notify <- struct{}{}:
		default:
		}
	}
}

// Apply records one transition of a session.
func (t *Table) Apply(tr presencekv.Transition) {
	t.mu.Lock()
	t.apply(tr)
	t.mu.Unlock()
}

// ApplyAll records transitions in order under one lock.
func (t *Table) ApplyAll(trs []presencekv.Transition) {
	t.mu.Lock()
	for _, tr := range trs {
		t.apply(tr)
	}
	t.mu.Unlock()
}

func (t *Table) apply(tr presencekv.Transition) {
	b := presencekv.Bucket(tr.User, t.n)
	bk := &t.buckets[b]
	k := sessKey{tr.User, tr.Device}
	switch tr.Kind {
	case presencekv.KindOnline, presencekv.KindStatus:
		if bk.sessions == nil {
			bk.sessions = make(map[sessKey]presencekv.Session)
		}
		old, ok := bk.sessions[k]
		if ok && old.Status == tr.Status {
			return
		}
		s := presencekv.Session{User: tr.User, Device: tr.Device, Status: tr.Status, Since: tr.At}
		if ok {
			s.Since = old.Since
			tr.Kind = presencekv.KindStatus
		} else {
			tr.Kind = presencekv.KindOnline
			t.sessions++
			delete(bk.offline, tr.User)
		}
		bk.sessions[k] = s
	case presencekv.KindOffline:
		if _, ok := bk.sessions[k]; !ok {
			return
		}
		delete(bk.sessions, k)
		t.sessions--
		if !userPresent(bk, tr.User) {
			if bk.offline == nil {
				bk.offline = make(map[uint64]int64)
			}
			if tr.At > bk.offline[tr.User] {
				bk.offline[tr.User] = tr.At
			}
		}
	default:
		return
	}
	if bk.pending == nil {
		bk.pending = make(map[sessKey]presencekv.Transition)
	}
	bk.pending[k] = tr
	t.markDirty(b)
}

func userPresent(bk *bucket, user uint64) bool {
	for k := range bk.sessions {
		if k.user == user {
			return true
		}
	}
	return false
}

// Replace makes sessions (a gateway snapshot) the whole state, recording the difference
// as transitions: sessions that vanished go offline at now (unix ms).
func (t *Table) Replace(sessions []presencekv.Session, now int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	next := make([]map[sessKey]presencekv.Session, t.n)
	for _, s := range sessions {
		b := presencekv.Bucket(s.User, t.n)
		if next[b] == nil {
			next[b] = make(map[sessKey]presencekv.Session)
		}
		next[b][sessKey{s.User, s.Device}] = s
	}
	for b := range t.buckets {
		bk := &t.buckets[b]
		for k, s := range bk.sessions {
			if _, ok := next[b][k]; !ok {
				t.apply(presencekv.Transition{Kind: presencekv.KindOffline, User: k.user, Device: k.device, Status: s.Status, At: now})
			}
		}
		for _, s := range next[b] {
			t.apply(presencekv.Transition{Kind: presencekv.KindOnline, User: s.User, Device: s.Device, Status: s.Status, At: s.Since})
		}
	}
}

// MarkAllDirty marks every bucket that has sessions dirty, for a full rewrite (after a new
// Consul session: the old one's keys were deleted with it).
func (t *Table) MarkAllDirty() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for b := range t.buckets {
		if len(t.buckets[b].sessions) > 0 || len(t.buckets[b].offline) > 0 {
			t.markDirty(uint32(b))
		}
	}
}

// Dirty is the number of dirty buckets.
func (t *Table) Dirty() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ndirty
}

// Take removes up to max dirty buckets of lane and returns their work, appended to dst.
func (t *Table) Take(lane, max int, dst []Work) []Work {
	t.mu.Lock()
	defer t.mu.Unlock()
	list := t.dirty[lane]
	n := min(max, len(list))
	for _, b := range list[:n] {
		bk := &t.buckets[b]
		bk.dirty = false
		w := Work{Bucket: b}
		for _, s := range bk.sessions {
			w.Sessions = append(w.Sessions, s)
		}
		slices.SortFunc(w.Sessions, cmpSession)
		for _, tr := range bk.pending {
			w.Transitions = append(w.Transitions, tr)
		}
		clear(bk.pending)
		for u, at := range bk.offline {
			w.Offline = append(w.Offline, presencekv.LastSeen{User: u, At: at})
		}
		clear(bk.offline)
		slices.SortFunc(w.Offline, func(a, b presencekv.LastSeen) int { return cmpU64(a.User, b.User) })
		dst = append(dst, w)
	}
	t.dirty[lane] = append(list[:0], list[n:]...)
	t.ndirty -= n
	return dst
}

// Requeue puts back work the writer could not commit: the buckets become dirty again
// (their state is re-read at the next Take, so nothing stale is written), and transitions
// and last-seen entries are kept unless something newer for the same session arrived.
func (t *Table) Requeue(work []Work) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, w := range work {
		bk := &t.buckets[w.Bucket]
		for _, tr := range w.Transitions {
			k := sessKey{tr.User, tr.Device}
			if _, newer := bk.pending[k]; newer {
				continue
			}
			if bk.pending == nil {
				bk.pending = make(map[sessKey]presencekv.Transition)
			}
			bk.pending[k] = tr
		}
		for _, e := range w.Offline {
			if userPresent(bk, e.User) {
				continue
			}
			if bk.offline == nil {
				bk.offline = make(map[uint64]int64)
			}
			if e.At > bk.offline[e.User] {
				bk.offline[e.User] = e.At
			}
		}
		t.markDirty(w.Bucket)
	}
}

// Sessions returns the present sessions of user, for the agent's own diagnostics.
func (t *Table) Sessions(user uint64) []presencekv.Session {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []presencekv.Session
	for k, s := range t.buckets[presencekv.Bucket(user, t.n)].sessions {
		if k.user == user {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, cmpSession)
	return out
}

// All returns every present session (sorted), for tests and consistency checks.
func (t *Table) All() []presencekv.Session {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]presencekv.Session, 0, t.sessions)
	for b := range t.buckets {
		for _, s := range t.buckets[b].sessions {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, cmpSession)
	return out
}

// Count is the number of present sessions.
func (t *Table) Count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sessions
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpSession(a, b presencekv.Session) int {
	if c := cmpU64(a.User, b.User); c != 0 {
		return c
	}
	return cmpU64(uint64(a.Device), uint64(b.Device))
}
