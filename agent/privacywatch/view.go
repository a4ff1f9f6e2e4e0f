package privacywatch

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"
	"go.uber.org/zap"

	"heartline/protocol/privacy"
)

// Options configure a View.
type Options struct {
	Client *api.Client
	Prefix string
	// Wait is the blocking query's wait (default 5 min, Consul's maximum is 10 min).
	Wait time.Duration
	Log  *zap.Logger
}

// Change names the subjects whose mode or revocations changed, at a Consul index.
type Change struct {
	Subjects []uint64
	Index    uint64
}

type bucketState struct {
	modify  uint64
	modes   map[uint64]privacy.Mode
	revoked map[uint64]map[uint64]privacy.Revoke // subject -> viewer -> latest revocation
}

type snapshot struct {
	buckets [privacy.RecordBuckets]*bucketState
	index   uint64
}

var emptyBucket = &bucketState{}

// View is a continuously updated copy of the privacy records. Create with New, run with Run.
type View struct {
	o     Options
	snap  atomic.Pointer[snapshot]
	ready atomic.Bool

	mu   sync.Mutex
	subs []func(Change)

	decodeErrors atomic.Uint64
	changes      atomic.Uint64
}

// New returns a View (not yet following: call Run).
func New(o Options) (*View, error) {
	if o.Client == nil || o.Prefix == "" {
		return nil, errors.New("privacywatch: Options.Client and Prefix are required")
	}
	if o.Wait <= 0 {
		o.Wait = 5 * time.Minute
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	v := &View{o: o}
	v.snap.Store(newSnapshot())
	return v, nil
}

// NewStatic returns a View that never follows Consul, for tests and for processes without
// Consul: it is ready, everyone is in ModeMembers, and Apply changes it.
func NewStatic() *View {
	v := &View{o: Options{Log: zap.NewNop()}}
	v.snap.Store(newSnapshot())
	v.ready.Store(true)
	return v
}

func newSnapshot() *snapshot {
	s := &snapshot{}
	for i := range s.buckets {
		s.buckets[i] = emptyBucket
	}
	return s
}

// Ready reports whether the first read finished (before it, Subject fails closed).
func (v *View) Ready() bool { return v.ready.Load() }

// Index is the Consul index of the latest state applied.
func (v *View) Index() uint64 { return v.snap.Load().index }

// Subject is what the View knows about one member.
type Subject struct {
	Mode    privacy.Mode
	revoked map[uint64]privacy.Revoke
}

// RevokedAt is the latest revocation of (this subject, viewer) (zero: none).
func (s Subject) RevokedAt(viewer uint64) privacy.Revoke { return s.revoked[viewer] }

// Allowed applies privacy.Allowed with this subject's mode and revocations.
func (s Subject) Allowed(viewer, subject uint64, basis privacy.Basis, issuedMS int64) bool {
	return privacy.Allowed(viewer, subject, basis, issuedMS, s.Mode, s.revoked[viewer])
}

// Subject returns subject's mode and revocations. Before the first read it reports
// ModeNobody, so nothing is shown until the View knows.
func (v *View) Subject(subject uint64) Subject {
	if !v.ready.Load() {
		return Subject{Mode: privacy.ModeNobody}
	}
	b := v.snap.Load().buckets[privacy.RecordBucket(subject)]
	return Subject{Mode: b.modes[subject], revoked: b.revoked[subject]}
}

// Hidden counts the members in ModeNobody (the site leaves them out of its online count).
func (v *View) Hidden(each func(subject uint64)) {
	for _, b := range v.snap.Load().buckets {
		for s, m := range b.modes {
			if m == privacy.ModeNobody {
				each(s)
			}
		}
	}
}

// Subscribe registers fn for every change; fn runs on the View's goroutine and must not
// block (hand the work to another goroutine or take short locks only).
func (v *View) Subscribe(fn func(Change)) {
	v.mu.Lock()
	v.subs = append(v.subs, fn)
	v.mu.Unlock()
}

// Stats are the View's counters.
type Stats struct {
	DecodeErrors uint64 // values skipped (the bucket keeps its previous state)
	Changes      uint64 // subjects changed
	Index        uint64
}

// Stats returns the View's counters.
func (v *View) Stats() Stats {
	return Stats{DecodeErrors: v.decodeErrors.Load(), Changes: v.changes.Load(), Index: v.Index()}
}

// Apply installs rec as bucket's state at index (the Consul ModifyIndex it was read at) and
// notifies subscribers. Run calls it; NewStatic views are driven by it in tests.
func (v *View) Apply(bucket uint32, rec *privacy.Record, index uint64) {
	v.applyAll(map[uint32]update{bucket: {rec, index}}, index)
}

type update struct {
	rec    *privacy.Record
	modify uint64
}

func stateOf(rec *privacy.Record, modify uint64) *bucketState {
	b := &bucketState{modify: modify, modes: rec.Modes}
	if len(rec.Revoked) > 0 {
		b.revoked = map[uint64]map[uint64]privacy.Revoke{}
		for _, r := range rec.Revoked {
			m := b.revoked[r.Subject]
			if m == nil {
				m = map[uint64]privacy.Revoke{}
				b.revoked[r.Subject] = m
			}
			m[r.Viewer] = privacy.Revoke{AtMS: r.AtMS, Kind: r.Kind}
		}
	}
	return b
}

// diff appends the subjects whose mode or revocations differ between a and b.
func diff(dst []uint64, a, b *bucketState) []uint64 {
	seen := map[uint64]bool{}
	add := func(s uint64) {
		if !seen[s] {
			seen[s] = true
			dst = append(dst, s)
		}
	}
	for s, m := range a.modes {
		if b.modes[s] != m {
			add(s)
		}
	}
	for s, m := range b.modes {
		if a.modes[s] != m {
			add(s)
		}
	}
	for s, ra := range a.revoked {
		rb := b.revoked[s]
		if len(rb) != len(ra) {
			add(s)
			continue
		}
		for vw, at := range ra {
			if rb[vw] != at {
				add(s)
				break
			}
		}
	}
	for s := range b.revoked {
		if _, ok := a.revoked[s]; !ok {
			add(s)
		}
	}
	return dst
}

func (v *View) applyAll(recs map[uint32]update, index uint64) {
	old := v.snap.Load()
	next := *old
	var changed []uint64
	for b, u := range recs {
		st := stateOf(u.rec, u.modify)
		changed = diff(changed, next.buckets[b], st)
		next.buckets[b] = st
	}
	next.index = max(old.index, index)
	v.snap.Store(&next)
	if len(changed) == 0 {
		return
	}
	v.changes.Add(uint64(len(changed)))
	v.mu.Lock()
	subs := v.subs
	v.mu.Unlock()
	for _, fn := range subs {
		fn(Change{Subjects: changed, Index: next.index})
	}
}

// Run follows the records until ctx ends.
func (v *View) Run(ctx context.Context) error {
	var index uint64
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		q := (&api.QueryOptions{WaitIndex: index, WaitTime: v.o.Wait}).WithContext(ctx)
		pairs, meta, err := v.o.Client.KV().List(privacy.RecordPrefix(v.o.Prefix), q)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			wait := time.Duration(rand.Int64N(int64(backoff))) + time.Millisecond
			backoff = min(2*backoff, 5*time.Second)
			v.o.Log.Warn("privacywatch: Consul read failed; retrying", zap.Error(err), zap.Duration("in", wait))
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
			continue
		}
		backoff = 50 * time.Millisecond
		if meta.LastIndex < index {
			index = 0 // Consul's index went backwards (a restored snapshot): read afresh
		} else {
			index = meta.LastIndex
		}
		v.applyPairs(pairs, meta.LastIndex)
		v.ready.Store(true)
	}
	return nil
}

// applyPairs installs every bucket whose key changed (or vanished) since the last read.
func (v *View) applyPairs(pairs api.KVPairs, index uint64) {
	old := v.snap.Load()
	recs := map[uint32]update{}
	present := [privacy.RecordBuckets]bool{}
	for _, p := range pairs {
		b, ok := privacy.ParseRecordKey(v.o.Prefix, p.Key)
		if !ok {
			continue
		}
		present[b] = true
		if old.buckets[b].modify == p.ModifyIndex && old.buckets[b] != emptyBucket {
			continue
		}
		rec, err := privacy.DecodeRecord(p.Value)
		if err != nil {
			v.decodeErrors.Add(1)
			v.o.Log.Warn("privacywatch: skipping an undecodable record (bucket keeps its state)", zap.String("key", p.Key), zap.Error(err))
			continue
		}
		recs[b] = update{rec, p.ModifyIndex}
	}
	for b := range privacy.RecordBuckets {
		if !present[b] && old.buckets[b] != emptyBucket {
			recs[uint32(b)] = update{&privacy.Record{}, index}
		}
	}
	if len(recs) == 0 && old.index >= index {
		return
	}
	v.applyAll(recs, index)
}
