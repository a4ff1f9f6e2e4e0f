package main

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"heartline/protocol/presencekv"
)

// watcher follows <prefix>/changes/ with blocking queries and timestamps every transition
// the moment its change record is seen.
type watcher struct {
	kv     *api.KV
	prefix string

	mu          sync.Mutex
	lastSeq     map[string]uint64 // per change key
	online      map[uint64]time.Time
	offline     map[uint64]time.Time
	onlineAt    map[uint64]int64 // the transition's gateway time (unix ms): when the gateway applied the HELLO
	offlineAt   map[uint64]int64 // for OFFLINE: when the gateway last saw the session
	transitions uint64
	incomplete  uint64
	gaps        uint64
	first, last time.Time
}

func newWatcher(kv *api.KV, prefix string) *watcher {
	return &watcher{kv: kv, prefix: prefix, lastSeq: map[string]uint64{}, online: map[uint64]time.Time{}, offline: map[uint64]time.Time{},
		onlineAt: map[uint64]int64{}, offlineAt: map[uint64]int64{}}
}

func (w *watcher) run(ctx context.Context) {
	var idx uint64
	var codec presencekv.Codec
	var rec presencekv.ChangeRecord
	for ctx.Err() == nil {
		pairs, meta, err := w.kv.List(presencekv.ChangesPrefix(w.prefix), (&api.QueryOptions{WaitIndex: idx, WaitTime: 2 * time.Second}).WithContext(ctx))
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		now := time.Now()
		if meta.LastIndex < idx {
			idx = 0 // index reset
		} else {
			idx = meta.LastIndex
		}
		w.mu.Lock()
		for _, p := range pairs {
			if err := codec.DecodeChangeRecord(&rec, p.Value); err != nil {
				continue
			}
			last := w.lastSeq[p.Key]
			for _, e := range rec.Entries {
				if e.Seq <= last {
					continue
				}
				if last != 0 && e.Seq > last+1 {
					w.gaps += e.Seq - last - 1
				}
				last = e.Seq
				if e.Incomplete {
					w.incomplete++
					continue
				}
				for _, t := range e.Transitions {
					w.transitions++
					if w.first.IsZero() {
						w.first = now
					}
					w.last = now
					if t.Kind == presencekv.KindOnline {
						if _, ok := w.online[t.User]; !ok {
							w.online[t.User] = now
							w.onlineAt[t.User] = t.At
						}
					} else if t.Kind == presencekv.KindOffline {
						if _, ok := w.offline[t.User]; !ok {
							w.offline[t.User] = now
							w.offlineAt[t.User] = t.At
						}
					}
				}
			}
			w.lastSeq[p.Key] = last
		}
		w.mu.Unlock()
	}
}

func (w *watcher) seen(m map[uint64]time.Time, user uint64) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := m[user]
	return t, ok
}

func (w *watcher) at(m map[uint64]int64, user uint64) (int64, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	v, ok := m[user]
	return v, ok
}

func (w *watcher) counts() (transitions, incomplete, gaps uint64, first, last time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.transitions, w.incomplete, w.gaps, w.first, w.last
}

func (w *watcher) resetWindow() {
	w.mu.Lock()
	w.transitions, w.incomplete, w.gaps = 0, 0, 0
	w.first, w.last = time.Time{}, time.Time{}
	w.mu.Unlock()
}
