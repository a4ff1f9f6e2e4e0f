package main

import (
	"sync"

	"heartline/protocol/hl1"
)

// Event kinds (HL_EVENT_* in api.go).
const (
	kindPresence = 1 // a subscribed member's presence (an EVENT entry)
	kindState    = 2 // this handle's own state changed (state holds HL_STATE_*)
)

// event is what hl_poll_event and the callback hand the app.
type event struct {
	kind       int32
	state      int32 // presence: hl1 state (0 offline, 2 online); kindState: the handle's state
	userID     uint64
	devices    uint32
	lastSeenMS uint64
	version    uint64
}

func presenceEvent(e hl1.Event) event {
	return event{kind: kindPresence, state: int32(e.State), userID: e.UserID, devices: uint32(e.Devices),
		lastSeenMS: e.LastSeenMS, version: e.Version}
}

// eventQueueCap bounds a handle's undelivered events: an app that neither polls nor sets a
// callback costs at most this many events of memory; older ones are dropped and counted.
const eventQueueCap = 1024

// eventQueue is a bounded FIFO ring. Push never blocks (it runs on protocol/client's
// goroutine, which must keep heartbeating); when full it drops the oldest event.
type eventQueue struct {
	mu      sync.Mutex
	ring    [eventQueueCap]event
	head    int // index of the oldest
	n       int
	dropped uint64
}

func (q *eventQueue) push(e event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == eventQueueCap {
		q.head = (q.head + 1) % eventQueueCap
		q.n--
		q.dropped++
	}
	q.ring[(q.head+q.n)%eventQueueCap] = e
	q.n++
}

func (q *eventQueue) pop() (event, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return event{}, false
	}
	e := q.ring[q.head]
	q.head = (q.head + 1) % eventQueueCap
	q.n--
	return e, true
}

// counts returns the queued and the dropped events.
func (q *eventQueue) counts() (queued int, dropped uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n, q.dropped
}
