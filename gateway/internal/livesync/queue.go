package livesync

import (
	"time"

	"heartline/protocol/hl1"
)

// sender is what a queue writes to (tcp.Conn).
type sender interface {
	SendFrame(frame []byte)
	Backlog() int
}

// queue is one connection's pending EVENT entries: at most one per user, in arrival order,
// plus the highest version queued per subscribed user. It is a pure data structure (the
// Hub locks it; time comes in as a parameter), so its policy is unit-tested with a fake
// connection and no clock.
type queue struct {
	versions map[uint64]uint64 // user -> highest version queued (pending or written)
	pending  map[uint64]int    // user -> index in order
	order    []hl1.Event
	behind   time.Time // when entries first could not be written; zero when caught up
	frame    []byte    // encode buffer, reused
}

func newQueue() *queue {
	return &queue{versions: map[uint64]uint64{}, pending: map[uint64]int{}}
}

// offerResult says what offer did.
type offerResult uint8

const (
	queued    offerResult = iota // a new pending entry
	coalesced                    // replaced the user's pending entry
	stale                        // older than a version already queued: dropped
)

// offer queues ev unless a newer version for the user was already queued. Equal versions
// are queued (two changes of one Consul transaction: the later is the newer state).
func (q *queue) offer(ev hl1.Event) offerResult {
	if v, ok := q.versions[ev.UserID]; ok && ev.Version < v {
		return stale
	}
	q.versions[ev.UserID] = ev.Version
	if i, ok := q.pending[ev.UserID]; ok {
		q.order[i] = ev
		return coalesced
	}
	q.pending[ev.UserID] = len(q.order)
	q.order = append(q.order, ev)
	return queued
}

// forget drops a user's pending entry and version (UNSUBSCRIBE).
func (q *queue) forget(user uint64) {
	delete(q.versions, user)
	i, ok := q.pending[user]
	if !ok {
		return
	}
	delete(q.pending, user)
	q.order = append(q.order[:i], q.order[i+1:]...)
	for j := i; j < len(q.order); j++ {
		q.pending[q.order[j].UserID] = j
	}
}

// Len is the number of pending entries.
func (q *queue) Len() int { return len(q.order) }

// flush writes pending entries, up to hl1.MaxEvents per EVENT frame, while the
// connection's backlog is below window. It returns the entries and frames written and whether the
// connection is too slow: entries were still pending at now and have been since longer
// than grace.
func (q *queue) flush(c sender, now time.Time, window int, grace time.Duration) (sent, frames int, slow bool) {
	for len(q.order) > sent && c.Backlog() < window {
		n := min(hl1.MaxEvents, len(q.order)-sent)
		f, err := hl1.AppendEvents(q.frame[:0], q.order[sent:sent+n])
		if err != nil {
			// Unreachable: the Hub only builds states 0..2. Drop the batch rather than loop.
			sent += n
			continue
		}
		q.frame = f
		c.SendFrame(f)
		sent += n
		frames++
	}
	if sent > 0 {
		for _, ev := range q.order[:sent] {
			delete(q.pending, ev.UserID)
		}
		rest := copy(q.order, q.order[sent:])
		q.order = q.order[:rest]
		for i, ev := range q.order {
			q.pending[ev.UserID] = i
		}
	}
	if len(q.order) == 0 {
		q.behind = time.Time{}
		return sent, frames, false
	}
	if q.behind.IsZero() {
		q.behind = now
	}
	return sent, frames, now.Sub(q.behind) > grace
}
