// Package invariant compares what Heartline shows with the driver's ground truth:
//
//   - lost-online: a session alive for longer than Bounds.Birth is not shown online;
//   - ghost-online: a session dead for longer than its death bound is still shown online;
//   - version regressions: a watcher's version for a (user, device, gateway) went down, or a
//     user's event versions went down.
//
// Two views are checked: Consul KV itself (the presence buckets, decoded with
// protocol/presencekv) and a watcher cache (agent/watcher, the library the site uses).
// The package only reads; it never writes to Consul.
package invariant

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"

	"heartline/agent/watcher"
	"heartline/protocol/presencekv"
	"heartline/scripts/chaos/driver"
)

// Bounds are the natural delays of presence: a check only counts a mismatch older than them.
type Bounds struct {
	Birth  time.Duration // alive session must be online this long after it became alive
	Silent time.Duration // silently dead session must be offline this long after it died
	Bye    time.Duration // BYE'd session must be offline this long after the BYE
}

// Mismatch counts one view's disagreements with the truth.
type Mismatch struct {
	Lost, Ghost int
	Samples     []string // a few examples, for the report
}

// Zero reports no mismatch.
func (m Mismatch) Zero() bool { return m.Lost == 0 && m.Ghost == 0 }

func (m Mismatch) String() string { return fmt.Sprintf("lost=%d ghost=%d", m.Lost, m.Ghost) }

// Result is one check.
type Result struct {
	At       time.Time
	KV       Mismatch
	KVErr    error // KV not readable (Consul down): KV not checked
	Watcher  Mismatch
	Expected int            // sessions that must be online
	ShownKV  int            // sessions online in KV
	ShownW   int            // sessions online in the watcher
	InFlux   int            // sessions whose truth changed while the views were read (not judged)
	KeysByGW map[string]int // presence keys per gateway id (when KV was readable)
	// WatcherOnly lists a few sessions the watcher got wrong while KV was right (evidence).
	WatcherOnly []Wrong
	KVTook      time.Duration // how long the KV read took
	Took        time.Duration // how long the whole check took
}

// Clean reports that both views agree with the truth (KV must have been readable).
func (r Result) Clean() bool { return r.KVErr == nil && r.KV.Zero() && r.Watcher.Zero() }

// Wrong is one session a view showed wrongly.
type Wrong struct {
	User     uint64
	Device   uint32
	Ghost    bool // shown online while dead (else lost: shown offline while alive)
	Presence watcher.Presence
}

// Checker holds the watcher and the version history.
type Checker struct {
	client      func() *api.Client
	watchClient func() *api.Client
	prefix      string
	w           *watcher.Watcher
	stop        context.CancelFunc

	mu       sync.Mutex
	versions map[devKey]uint64
	regress  atomic.Int64 // cache version regressions
	evRegr   atomic.Int64 // event version regressions per user
	events   atomic.Int64
	samples  []string
}

type devKey struct {
	user   uint64
	device uint32
	gw     string
}

// New starts a watcher on client() (re-evaluated for KV reads, so a dead server is skipped).
func New(ctx context.Context, client func() *api.Client, prefix string) (*Checker, error) {
	c := &Checker{client: client, watchClient: client, prefix: prefix}
	return c, c.ResetWatcher(ctx)
}

// ResetWatcher replaces the watcher with a fresh one (a new site process, say) and waits
// until it has loaded, so that a watcher fault found in one scenario does not spill into the
// next. Version histories restart with it; regression counts are kept.
func (c *Checker) ResetWatcher(ctx context.Context) error {
	w, err := watcher.New(watcher.Options{Client: c.watchClient(), Prefix: c.prefix, WaitTime: 10 * time.Second})
	if err != nil {
		return err
	}
	wctx, cancel := context.WithCancel(ctx)
	c.mu.Lock()
	if c.stop != nil {
		c.stop()
	}
	c.stop = cancel
	c.w, c.versions = w, map[devKey]uint64{}
	c.mu.Unlock()
	go func() { _ = w.Run(wctx) }()
	sub := w.Subscribe(1<<16, nil)
	ctx = wctx
	go func() {
		last := map[uint64]uint64{}
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-sub.C:
				c.events.Add(1)
				if ev.Version < last[ev.User] {
					c.evRegr.Add(1)
					c.mu.Lock()
					if len(c.samples) < 10 {
						c.samples = append(c.samples, fmt.Sprintf("user %d event %v version %d after %d (%s)", ev.User, ev.Type, ev.Version, last[ev.User], ev.ID))
					}
					c.mu.Unlock()
				} else {
					last[ev.User] = ev.Version
				}
			}
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !w.Ready() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
	}
	if !w.Ready() {
		return fmt.Errorf("invariant: watcher not ready within 30 s")
	}
	return nil
}

// Watcher exposes the watcher (for its counters).
func (c *Checker) Watcher() *watcher.Watcher {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.w
}

// Regressions returns cache and event version regressions seen so far, events seen, and samples.
func (c *Checker) Regressions() (cache, events, seen int64, samples []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.regress.Load(), c.evRegr.Load(), c.events.Load(), append([]string(nil), c.samples...)
}

func sessKey(user uint64, device uint32) uint64 { return user<<8 | uint64(device&0xff) }

// readKV returns the (user, device) pairs online in Consul KV.
func (c *Checker) readKV(keysByGW map[string]int) (map[uint64]string, error) {
	// A server that has not learnt of a new leader yet fails the read ("failed to get conn"
	// to the old one): ask again, through whichever server answers then, before counting
	// the check as unreadable.
	var pairs api.KVPairs
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			time.Sleep(200 * time.Millisecond)
		}
		if pairs, _, err = c.client().KV().List(presencekv.PresencePrefix(c.prefix), nil); err == nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	var codec presencekv.Codec
	var buf []presencekv.Session
	out := make(map[uint64]string, 1<<16)
	for _, p := range pairs {
		buf, err = codec.DecodeSessions(buf[:0], p.Value)
		if err != nil {
			return nil, fmt.Errorf("invariant: decode %s: %w", p.Key, err)
		}
		_, gw, ok := presencekv.ParsePresenceKey(c.prefix, p.Key)
		if ok {
			keysByGW[gw]++
		}
		for _, s := range buf {
			out[sessKey(s.User, s.Device)] += gw + " "
		}
	}
	return out, nil
}

// Check compares both views with truth at now.
//
// snapshot is called before and after the views are read; a session whose truth changed in
// between (it died or came back while Consul and the watcher were being read) is not judged
// in this check, since either answer would be right for it.
func (c *Checker) Check(snapshot func() []driver.Truth, b Bounds) (r Result) {
	truth := snapshot()
	now := time.Now()
	nowMS := now.UnixMilli()
	r = Result{At: now, KeysByGW: map[string]int{}}
	kv, err := c.readKV(r.KeysByGW)
	r.KVErr = err
	r.KVTook = time.Since(now)
	defer func() { r.Took = time.Since(now) }()
	// Watcher view, and the version history.
	wOnline := make(map[uint64]string, len(truth))
	seenUser := map[uint64]bool{}
	c.mu.Lock()
	w := c.w
	for _, t := range truth {
		if seenUser[t.User] {
			continue
		}
		seenUser[t.User] = true
		p := w.Lookup(t.User)
		for _, dv := range p.Devices {
			wOnline[sessKey(t.User, dv.Device)] += fmt.Sprintf("%s@%d ", dv.Gateway, dv.Version)
			k := devKey{t.User, dv.Device, dv.Gateway}
			if old := c.versions[k]; dv.Version < old {
				c.regress.Add(1)
				if len(c.samples) < 10 {
					c.samples = append(c.samples, fmt.Sprintf("cache %d/%d@%s version %d after %d", t.User, dv.Device, dv.Gateway, dv.Version, old))
				}
			} else {
				c.versions[k] = dv.Version
			}
		}
	}
	c.mu.Unlock()
	after := snapshot()
	r.ShownKV, r.ShownW = len(kv), len(wOnline)
	judge := func(m *Mismatch, shown map[uint64]string, t driver.Truth) {
		where, on := shown[sessKey(t.User, t.Device)]
		if t.Alive && !t.BadClock {
			if !on && nowMS-t.Since > b.Birth.Milliseconds() {
				m.Lost++
				if len(m.Samples) < 5 {
					m.Samples = append(m.Samples, fmt.Sprintf("lost %d/%d alive %.1fs gw=%d welcomed %.1fs ago after %d HELLOs, %d beats since, %d moves",
						t.User, t.Device, float64(nowMS-t.Since)/1000, t.Gateway, float64(t.WelcomedAgoMS)/1000, t.HelloAttempts, t.Seq, t.Moves))
				}
			}
			return
		}
		bound := b.Silent
		if t.Kind == driver.Byed {
			bound = b.Bye
		}
		if t.CrashedAt != 0 && nowMS-t.CrashedAt <= b.Silent.Milliseconds() {
			return // a session it crashed on earlier may still be shown, until the silent bound
		}
		if on && nowMS-t.DiedAt > bound.Milliseconds() {
			m.Ghost++
			if len(m.Samples) < 5 {
				m.Samples = append(m.Samples, fmt.Sprintf("ghost %d/%d dead %.1fs kind=%d badclock=%v on %s", t.User, t.Device, float64(nowMS-t.DiedAt)/1000, t.Kind, t.BadClock, where))
			}
		}
	}
	for i, t := range truth {
		if a := after[i]; a.Alive != t.Alive || a.Since != t.Since || a.DiedAt != t.DiedAt || a.BadClock != t.BadClock {
			r.InFlux++
			continue
		}
		if t.Alive && !t.BadClock && nowMS-t.Since > b.Birth.Milliseconds() {
			r.Expected++
		}
		var kvm Mismatch
		if err == nil {
			judge(&kvm, kv, t)
			r.KV.Lost, r.KV.Ghost = r.KV.Lost+kvm.Lost, r.KV.Ghost+kvm.Ghost
			r.KV.Samples = append(r.KV.Samples, kvm.Samples...)
			if len(r.KV.Samples) > 5 {
				r.KV.Samples = r.KV.Samples[:5]
			}
		}
		var wm Mismatch
		judge(&wm, wOnline, t)
		r.Watcher.Lost, r.Watcher.Ghost = r.Watcher.Lost+wm.Lost, r.Watcher.Ghost+wm.Ghost
		r.Watcher.Samples = append(r.Watcher.Samples, wm.Samples...)
		if len(r.Watcher.Samples) > 5 {
			r.Watcher.Samples = r.Watcher.Samples[:5]
		}
		if err == nil && kvm.Zero() && !wm.Zero() && len(r.WatcherOnly) < 3 {
			r.WatcherOnly = append(r.WatcherOnly, Wrong{User: t.User, Device: t.Device, Ghost: wm.Ghost > 0, Presence: w.Lookup(t.User)})
		}
	}
	return r
}

// WithKVClient makes KV reads use f() (e.g. whichever Consul server answers) instead of the
// watcher's client.
func (c *Checker) WithKVClient(f func() *api.Client) *Checker {
	c.client = f
	return c
}
