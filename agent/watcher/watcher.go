package watcher

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"
	"go.uber.org/zap"

	"heartline/agent/shared/clock"
	"heartline/protocol/presencekv"
)

// Options configure a Watcher.
type Options struct {
	Client *api.Client
	Prefix string
	// Interest, when not empty, limits the watcher to these buckets (e.g. the buckets of the
	// users a gateway's apps subscribed to). Empty: every bucket.
	Interest []uint32
	// WaitTime bounds one blocking query (default 60s).
	WaitTime time.Duration
	// Consistent makes bucket re-reads use consistent mode (default: stale reads are not
	// used either way; this only adds a leader round-trip check).
	Consistent bool
	Log        *zap.Logger
}

// Stats are the watcher's counters.
type Stats struct {
	Events        uint64 // events produced
	Transitions   uint64 // transitions applied from change records
	ChangeBytes   uint64 // key+value bytes received from blocking queries on <prefix>/changes/
	Resyncs       uint64 // bucket re-reads (full, or of one gateway's changed keys)
	ResyncCalls   uint64 // Consul requests made by re-reads (listings, read-only transactions)
	ResyncBytes   uint64 // key+value bytes re-reads received (and the error texts of change checks)
	DecodeErrors  uint64 // undecodable values skipped
	Index         uint64 // the Consul index the cache reflects
	OnlineUsers   int
	OnlineDevices int
}

type laneKey struct {
	gw   string
	lane int
}

type laneState struct {
	epoch uint64
	seq   uint64
}

// Watcher keeps a Cache in sync with Consul. Create with New, start with Run.
type Watcher struct {
	o        Options
	buckets  uint32
	interest map[uint32]bool

	mu    sync.RWMutex
	cache *Cache
	// target is the cache updates go to: cache, except while rebuilding after a Consul
	// index reset, when a fresh cache is filled and swapped in at the end.
	target *Cache
	reset  bool
	ready  atomic.Bool

	lanes map[laneKey]*laneState
	index uint64
	// versionBase is added to every Consul index the watcher turns into a version. Consul's
	// index can go backwards (tombstones reaped, a cluster restored or restarted: the
	// blocking-query docs tell clients to reset); each time it does, the base grows by the
	// index the watcher had reached, so this watcher's versions never go backwards and a
	// subscriber keeping the highest version per user never ignores the truth after a reset.
	versionBase uint64
	// reRead: the gateways whose change entries follow skipped for a re-read that has not
	// succeeded yet (only the Run goroutine touches it; a full sync also covers it).
	reRead map[string]bool
	// known is the ModifyIndex of each presence key in scope that the cache reflects
	// (reread.go); guarded by mu.
	known   map[presenceRef]uint64
	codec   presencekv.Codec
	rec     presencekv.ChangeRecord
	pending []Event

	pruneAt    time.Time
	pruneIndex uint64

	// backoff paces retries after failed Consul reads; every successful read resets it, so
	// one failure after hours of success waits as little as the first failure did.
	backoff clock.Backoff

	subMu sync.Mutex
	subs  map[*Subscription]struct{}

	events, transitions, changeBytes, resyncs, decodeErrors atomic.Uint64
	resyncCalls, resyncBytes                                atomic.Uint64
}

// New reads the cluster config (bucket count) and returns a watcher.
func New(o Options) (*Watcher, error) {
	if o.Client == nil {
		return nil, errors.New("watcher: Options.Client is required")
	}
	if err := presencekv.ValidatePrefix(o.Prefix); err != nil {
		return nil, err
	}
	if o.WaitTime == 0 {
		o.WaitTime = 60 * time.Second
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	c := NewCache()
	w := &Watcher{o: o, cache: c, target: c, lanes: map[laneKey]*laneState{}, subs: map[*Subscription]struct{}{},
		reRead: map[string]bool{}, known: map[presenceRef]uint64{}}
	if len(o.Interest) > 0 {
		w.interest = map[uint32]bool{}
		for _, b := range o.Interest {
			w.interest[b] = true
		}
	}
	return w, nil
}

// Ready reports whether the first full read finished.
func (w *Watcher) Ready() bool { return w.ready.Load() }

// Buckets is the cluster's bucket count (0 before Run read the config).
func (w *Watcher) Buckets() uint32 {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.buckets
}

// Lookup returns a user's presence from the cache.
func (w *Watcher) Lookup(user uint64) Presence {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.cache.Lookup(user)
}

// Stats returns the watcher's counters.
func (w *Watcher) Stats() Stats {
	w.mu.RLock()
	users, devices := w.cache.Counts()
	index := w.index
	w.mu.RUnlock()
	return Stats{Events: w.events.Load(), Transitions: w.transitions.Load(), ChangeBytes: w.changeBytes.Load(),
		Resyncs: w.resyncs.Load(), ResyncCalls: w.resyncCalls.Load(), ResyncBytes: w.resyncBytes.Load(), DecodeErrors: w.decodeErrors.Load(), Index: index, OnlineUsers: users, OnlineDevices: devices}
}

func (w *Watcher) inScope(user uint64) bool {
	return w.interest == nil || w.interest[presencekv.Bucket(user, w.buckets)]
}

var errResync = errors.New("resync needed")

// Retries after a failed Consul read wait a random time below retryMin·2^n (n failures in a
// row), at most retryMax.
const (
	retryMin = 50 * time.Millisecond
	retryMax = 5 * time.Second
)

// Run follows Consul until ctx ends: a full read, then blocking queries on the change
// records. Errors (Consul down, leader lost) are logged and retried with backoff; an index
// that goes backwards (Consul state restored or rebuilt) triggers a full re-read.
func (w *Watcher) Run(ctx context.Context) error {
	w.backoff = clock.Backoff{Min: retryMin, Max: retryMax}
	synced := false
	for ctx.Err() == nil {
		var err error
		if !synced {
			err = w.sync(ctx)
			synced = err == nil
			if synced {
				w.backoff.Reset()
				w.ready.Store(true)
			}
		}
		if synced {
			// A failed blocking query (Consul restarting, leader lost) resumes from the
			// same index; only an index reset or a gap needs the buckets re-read.
			err = w.follow(ctx)
			if err == nil || errors.Is(err, errResync) {
				synced = false
				continue
			}
		}
		if ctx.Err() != nil {
			break
		}
		wait := w.backoff.Next()
		w.o.Log.Warn("watcher: Consul read failed; retrying", zap.Error(err), zap.Duration("in", wait))
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		continue
	}
	return nil
}

// version is the version of an update committed at Consul index idx (see versionBase).
func (w *Watcher) version(idx uint64) uint64 { return idx + w.versionBase }

func (w *Watcher) q(ctx context.Context) *api.QueryOptions {
	return (&api.QueryOptions{RequireConsistent: w.o.Consistent}).WithContext(ctx)
}

// sync reads the config, the change records (to learn each lane's position), then the
// buckets and last-seen keys in scope.
func (w *Watcher) sync(ctx context.Context) error {
	if w.buckets == 0 {
		p, _, err := w.o.Client.KV().Get(presencekv.ConfigKey(w.o.Prefix), w.q(ctx))
		if err != nil {
			return fmt.Errorf("reading cluster config: %w", err)
		}
		if p == nil {
			return fmt.Errorf("no cluster config at %s yet (no agent has started)", presencekv.ConfigKey(w.o.Prefix))
		}
		cfg, err := presencekv.DecodeConfig(p.Value)
		if err != nil {
			return err
		}
		w.mu.Lock()
		w.buckets = cfg.Buckets
		w.mu.Unlock()
	}
	pairs, meta, err := w.o.Client.KV().List(presencekv.ChangesPrefix(w.o.Prefix), w.q(ctx))
	if err != nil {
		return fmt.Errorf("listing change records: %w", err)
	}
	lanes := map[laneKey]*laneState{}
	for _, p := range pairs {
		gw, lane, ok := presencekv.ParseChangesKey(w.o.Prefix, p.Key)
		if !ok || w.codec.DecodeChangeRecord(&w.rec, p.Value) != nil || len(w.rec.Entries) == 0 {
			w.decodeErrors.Add(1)
			continue
		}
		lanes[laneKey{gw, lane}] = &laneState{epoch: w.rec.Epoch, seq: w.rec.Entries[len(w.rec.Entries)-1].Seq}
	}
	w.mu.Lock()
	if w.reset {
		w.target = NewCache()
	}
	w.mu.Unlock()
	if err := w.readBuckets(ctx, meta.LastIndex); err != nil {
		w.mu.Lock()
		w.target = w.cache
		w.mu.Unlock()
		return err
	}
	w.mu.Lock()
	var evs []Event
	if w.target != w.cache {
		evs = Diff(w.cache, w.target, w.version(meta.LastIndex), "reset/"+strconv.FormatUint(meta.LastIndex, 10))
		w.events.Add(uint64(len(evs)))
		w.cache = w.target
		w.reset = false
	}
	w.lanes = lanes
	w.index = meta.LastIndex
	clear(w.reRead)
	w.mu.Unlock()
	w.publish(evs)
	return nil
}

// readBuckets re-reads the presence (and last-seen) keys in scope and applies them. seen is
// the highest index the watcher has observed before the read: the read reflects at least
// that state, so it applies at max(seen, the listing's index). (A listing's index is the
// highest index of its keys, which can be below what the watcher already saw.)
func (w *Watcher) readBuckets(ctx context.Context, seen uint64) error {
	w.resyncs.Add(1)
	w.mu.Lock()
	clear(w.known) // the listings below say what the cache reflects
	w.mu.Unlock()
	// Each listing carries the scope it covers: every user, or the users of one bucket.
	type listing struct {
		prefix string
		scope  func(user uint64, gateway string) bool
	}
	var listings []listing
	if w.interest == nil {
		listings = []listing{{presencekv.PresencePrefix(w.o.Prefix), func(uint64, string) bool { return true }}}
	} else {
		for b := range w.interest {
			listings = append(listings, listing{presencekv.PresenceBucketPrefix(w.o.Prefix, b),
				func(u uint64, _ string) bool { return presencekv.Bucket(u, w.buckets) == b }})
		}
	}
	for _, l := range listings {
		pairs, meta, err := w.o.Client.KV().List(l.prefix, w.q(ctx))
		w.resyncCalls.Add(1)
		if err != nil {
			return fmt.Errorf("listing %s: %w", l.prefix, err)
		}
		w.countRead(pairs)
		w.applyRead(pairs, max(meta.LastIndex, seen), l.scope)
	}
	return w.readLastSeen(ctx)
}

// applyRead applies one listing of presence keys read at index (the scope says which
// cached sessions the listing covers). The listing is the truth as of index: every listed
// session is applied at version index (not at its key's ModifyIndex, which may be below a
// sweep or another update the watcher applied before the read), and every cached online
// session in scope that the listing lacks goes offline at index.
func (w *Watcher) applyRead(pairs api.KVPairs, index uint64, scope func(user uint64, gateway string) bool) {
	present := map[SessionID]struct{}{}
	id := "resync/" + strconv.FormatUint(index, 10)
	w.mu.Lock()
	for _, p := range pairs {
		b, gw, sessions, ok, err := decodePresencePair(&w.codec, w.o.Prefix, p)
		if !ok || (w.interest != nil && !w.interest[b]) {
			continue
		}
		if err != nil {
			w.decodeErrors.Add(1)
			continue
		}
		w.known[presenceRef{b, gw}] = p.ModifyIndex
		for _, s := range sessions {
			present[SessionID{User: s.User, Device: s.Device, Gateway: gw}] = struct{}{}
			w.apply(Update{Gateway: gw, User: s.User, Device: s.Device, Online: true, Status: s.Status, At: s.Since, Version: w.version(index), ID: id})
		}
	}
	w.target.Sweep(scope, present, w.version(index), id, time.Now().UnixMilli(), w.emit)
	evs := w.takePending()
	w.mu.Unlock()
	w.publish(evs)
}

func (w *Watcher) readLastSeen(ctx context.Context) error {
	var keys []string
	if w.interest != nil {
		for b := range w.interest {
			keys = append(keys, presencekv.LastSeenKey(w.o.Prefix, b))
		}
	}
	var pairs api.KVPairs
	if w.interest == nil {
		ps, _, err := w.o.Client.KV().List(presencekv.LastSeenPrefix(w.o.Prefix), w.q(ctx))
		w.resyncCalls.Add(1)
		if err != nil {
			return fmt.Errorf("listing last seen: %w", err)
		}
		pairs = ps
	} else {
		for _, k := range keys {
			p, _, err := w.o.Client.KV().Get(k, w.q(ctx))
			w.resyncCalls.Add(1)
			if err != nil {
				return fmt.Errorf("reading %s: %w", k, err)
			}
			if p != nil {
				pairs = append(pairs, p)
			}
		}
	}
	w.countRead(pairs)
	w.applyLastSeen(pairs)
	return nil
}

// countRead adds a listing's key and value bytes to the re-read statistics.
func (w *Watcher) countRead(pairs api.KVPairs) {
	for _, p := range pairs {
		w.resyncBytes.Add(uint64(len(p.Key) + len(p.Value)))
	}
}

// applyLastSeen applies last-seen values read from Consul.
func (w *Watcher) applyLastSeen(pairs api.KVPairs) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range pairs {
		entries, err := w.codec.DecodeLastSeen(nil, p.Value)
		if err != nil {
			w.decodeErrors.Add(1)
			continue
		}
		for _, e := range entries {
			w.target.SetLastSeen(e.User, e.At)
		}
	}
}

func (w *Watcher) emit(ev Event) {
	if w.target == w.cache { // while rebuilding, events come from the diff at the end
		w.pending = append(w.pending, ev)
	}
}

func (w *Watcher) takePending() []Event {
	evs := w.pending
	w.pending = nil
	w.events.Add(uint64(len(evs)))
	return evs
}

// apply runs under w.mu.
func (w *Watcher) apply(u Update) {
	if ev, ok := w.target.Apply(u); ok {
		w.emit(ev)
	}
}

// follow runs blocking queries on the change records until an error or a needed resync.
func (w *Watcher) follow(ctx context.Context) error {
	prefix := presencekv.ChangesPrefix(w.o.Prefix)
	for {
		if len(w.reRead) > 0 {
			// Change entries were skipped for this re-read (a gap, a writer's new epoch): it
			// must succeed before anything else, however often it fails.
			if err := w.reReadGateways(ctx, w.index, w.reRead); err != nil {
				return err
			}
			clear(w.reRead)
		}
		q := w.q(ctx)
		q.WaitIndex = w.index
		q.WaitTime = w.o.WaitTime
		pairs, meta, err := w.o.Client.KV().List(prefix, q)
		if err != nil {
			return fmt.Errorf("blocking query on %s: %w", prefix, err)
		}
		w.backoff.Reset()
		if meta.LastIndex < w.index {
			w.o.Log.Warn("watcher: Consul index went backwards; re-reading everything",
				zap.Uint64("had", w.index), zap.Uint64("now", meta.LastIndex))
			w.mu.Lock()
			w.versionBase += w.index // versions continue above every one given so far
			w.index = 0
			w.pruneAt = time.Time{}
			w.reset = true // the cache is rebuilt from the new indexes
			w.mu.Unlock()
			return errResync
		}
		if meta.LastIndex == w.index {
			continue
		}
		w.maybePrune()
		w.applyChanges(pairs, meta.LastIndex) // fills w.reRead
	}
}

// PruneAfter is how long offline tombstones are kept: an update older than the index
// seen this long ago cannot arrive any more (each lane's updates arrive in order, and bucket
// re-reads reflect the newest state), so tombstones below it only cost memory.
const PruneAfter = time.Minute

func (w *Watcher) maybePrune() {
	now := time.Now()
	if w.pruneAt.IsZero() {
		w.pruneAt, w.pruneIndex = now, w.index
		return
	}
	if now.Sub(w.pruneAt) < PruneAfter {
		return
	}
	w.mu.Lock()
	w.cache.Prune(w.version(w.pruneIndex))
	w.mu.Unlock()
	w.pruneAt, w.pruneIndex = now, w.index
}

// applyChanges applies the new entries of every lane's change record and reports whether
// some gateway needs its buckets re-read (those gateways are added to w.reRead).
func (w *Watcher) applyChanges(pairs api.KVPairs, index uint64) (resync bool) {
	w.mu.Lock()
	seen := map[laneKey]bool{}
	for _, p := range pairs {
		w.changeBytes.Add(uint64(len(p.Key) + len(p.Value)))
		gw, lane, ok := presencekv.ParseChangesKey(w.o.Prefix, p.Key)
		if !ok {
			continue
		}
		k := laneKey{gw, lane}
		seen[k] = true
		if w.applyLaneRecord(k, p) {
			resync = true
			w.reRead[gw] = true
		}
	}
	if w.dropVanishedLanes(seen, index) {
		resync = true
	}
	w.index = index
	evs := w.takePending()
	w.mu.Unlock()
	w.publish(evs)
	return resync
}

// applyLaneRecord applies the new entries of one lane's change record, in sequence. It
// reports a resync when the record cannot be followed: a new epoch (the writer restarted or
// got a new session between two reads), a gap in the sequence, or an Incomplete entry.
// Called with w.mu held.
func (w *Watcher) applyLaneRecord(k laneKey, p *api.KVPair) (resync bool) {
	if err := w.codec.DecodeChangeRecord(&w.rec, p.Value); err != nil || len(w.rec.Entries) == 0 {
		w.decodeErrors.Add(1)
		return false
	}
	last := w.rec.Entries[len(w.rec.Entries)-1].Seq
	st := w.lanes[k]
	if st != nil && st.epoch != w.rec.Epoch {
		// The writer restarted or got a new session between two of our reads: its
		// records do not say what changed in between.
		st.epoch, st.seq = w.rec.Epoch, last
		return true
	}
	if st == nil {
		// A lane we have not followed: a new gateway, or one whose keys we saw vanish
		// (its sessions are already offline here). If the record still holds its first
		// flush (seq 1), it has everything since the writer started from empty.
		st = &laneState{epoch: w.rec.Epoch}
		w.lanes[k] = st
	}
	for _, e := range w.rec.Entries {
		if e.Seq <= st.seq {
			continue
		}
		if e.Seq != st.seq+1 || e.Incomplete {
			st.seq = last
			return true
		}
		st.seq = e.Seq
		index := e.Index
		if index == 0 {
			index = p.ModifyIndex
		}
		version := w.version(index)
		id := k.gw + "/" + strconv.Itoa(k.lane) + "/" + strconv.FormatUint(w.rec.Epoch, 16) + "/" + strconv.FormatUint(e.Seq, 10)
		for _, t := range e.Transitions {
			if !w.inScope(t.User) {
				continue
			}
			w.transitions.Add(1)
			// The transaction wrote the key at its own index, and this entry says all it changed.
			w.known[presenceRef{presencekv.Bucket(t.User, w.buckets), k.gw}] = index
			w.apply(Update{Gateway: k.gw, User: t.User, Device: t.Device, Online: t.Kind != presencekv.KindOffline,
				Status: t.Status, At: t.At, Version: version, ID: id})
		}
	}
	return false
}

// dropVanishedLanes forgets the lanes whose keys are not in this listing (seen): that
// gateway's session ended and Consul deleted its keys. If the gateway has no change key left
// in the listing, it has no presence key either (every presence write carries its lane's
// change key in the same transaction): its sessions are offline as of index. If some of its
// lanes are present, a new session is rewriting them one transaction at a time; which buckets
// the missing lanes own is the writer's business, so it reports a resync: the re-read applies
// what is there and sweeps what is not, both as of the read's index. (Sweeping the whole
// gateway here would mark offline, at index, sessions that the present lanes rewrote below
// index.) Called with w.mu held.
func (w *Watcher) dropVanishedLanes(seen map[laneKey]bool, index uint64) (resync bool) {
	hasKeys := map[string]bool{}
	for k := range seen {
		hasKeys[k.gw] = true
	}
	gone := map[string]bool{}
	for k := range w.lanes {
		if seen[k] {
			continue
		}
		delete(w.lanes, k)
		if hasKeys[k.gw] {
			resync = true
			w.reRead[k.gw] = true
		} else {
			gone[k.gw] = true
		}
	}
	now := time.Now().UnixMilli()
	for gw := range gone {
		w.forgetGateway(gw)
		w.cache.Sweep(func(u uint64, g string) bool { return g == gw }, nil, w.version(index),
			"gone/"+gw+"/"+strconv.FormatUint(index, 10), now, w.emit)
	}
	return resync
}
