package activity

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"heartline/agent/watcher"
	"heartline/site/internal/store"
)

// Follower batches activity times from presence events.
type Follower struct {
	st  *store.Store
	log *zap.Logger
	// Hidden, when set, names members whose presence others may not generally see (match-only
	// or invisible): their activity never moves them in the list's order, which would
	// otherwise tell everyone when they were last active.
	Hidden func(user uint64) bool

	mu      sync.Mutex
	pending map[uint64]int64
}

// New returns a Follower writing to st.
func New(st *store.Store, log *zap.Logger) *Follower {
	if log == nil {
		log = zap.NewNop()
	}
	return &Follower{st: st, log: log, pending: map[uint64]int64{}}
}

// Note records one event: the member was active at ev.At (the time they came online, or
// were last seen).
func (f *Follower) Note(ev watcher.Event) {
	if ev.At <= 0 || ev.User == 0 || (f.Hidden != nil && f.Hidden(ev.User)) {
		return
	}
	f.mu.Lock()
	if ev.At > f.pending[ev.User] {
		f.pending[ev.User] = ev.At
	}
	f.mu.Unlock()
}

// Pending is how many members wait for the next Flush.
func (f *Follower) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pending)
}

// Flush writes what was noted since the last Flush in one transaction. On failure the
// times are kept for the next Flush.
func (f *Follower) Flush(ctx context.Context) error {
	f.mu.Lock()
	batch := f.pending
	f.pending = map[uint64]int64{}
	f.mu.Unlock()
	if err := f.st.TouchActive(ctx, batch); err != nil {
		f.mu.Lock()
		for u, at := range batch {
			if at > f.pending[u] {
				f.pending[u] = at
			}
		}
		f.mu.Unlock()
		return err
	}
	return nil
}

// Run notes events from c and flushes every interval until ctx ends or c closes.
func (f *Follower) Run(ctx context.Context, c <-chan watcher.Event, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	flush := func() {
		if err := f.Flush(context.WithoutCancel(ctx)); err != nil {
			f.log.Warn("activity: writing last-active times; will retry", zap.Int("members", f.Pending()), zap.Error(err))
		}
	}
	for {
		select {
		case <-ctx.Done():
			flush()
			return
		case ev, ok := <-c:
			if !ok {
				flush()
				return
			}
			f.Note(ev)
		case <-t.C:
			flush()
		}
	}
}
