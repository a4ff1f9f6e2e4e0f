package watcher

import "sync/atomic"

// Subscription receives the watcher's events on C until Unsubscribe.
type Subscription struct {
	C       <-chan Event
	c       chan Event
	dropped atomic.Uint64
	filter  func(user uint64) bool
}

// Dropped is how many events were dropped because C was full. When it grows, the
// consumer has missed events and should re-read the users it cares about with Lookup.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

func (s *Subscription) send(ev Event) {
	if s.filter != nil && !s.filter(ev.User) {
		return
	}
	select {
	case s.c <- ev:
	default:
		s.dropped.Add(1)
	}
}

// Subscribe returns a subscription with a channel of buf events (default 1024). filter,
// when not nil, selects the users whose events are delivered.
func (w *Watcher) Subscribe(buf int, filter func(user uint64) bool) *Subscription {
	if buf <= 0 {
		buf = 1024
	}
	c := make(chan Event, buf)
	s := &Subscription{C: c, c: c, filter: filter}
	w.subMu.Lock()
	w.subs[s] = struct{}{}
	w.subMu.Unlock()
	return s
}

// Unsubscribe stops deliveries to s and closes its channel.
func (w *Watcher) Unsubscribe(s *Subscription) {
	w.subMu.Lock()
	if _, ok := w.subs[s]; ok {
		delete(w.subs, s)
		close(s.c)
	}
	w.subMu.Unlock()
}

func (w *Watcher) publish(evs []Event) {
	if len(evs) == 0 {
		return
	}
	w.subMu.Lock()
	defer w.subMu.Unlock()
	for s := range w.subs {
		for _, ev := range evs {
			s.send(ev)
		}
	}
}
