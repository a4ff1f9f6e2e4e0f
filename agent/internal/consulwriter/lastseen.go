package consulwriter

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
	"go.uber.org/zap"

	"heartline/agent/internal/state"
	"heartline/protocol/presencekv"
)

// Last-seen keys (<prefix>/lastseen/<bucket>) are shared by every agent whose gateway had
// users of that bucket, so they are written with CAS and merged (max per user). After mass
// moves both agents of a pair merge into the same keys at once and lose CAS rounds to each
// other; each lane therefore merges last-seen in a goroutine of its own, fed by the
// presence commits, so that this contention delays last-seen only and never presence (the
// chaos bed measured BYEs and births held back for seconds behind last-seen retries).

// lastSeenMaxOps bounds a last-seen transaction: one lost CAS rolls the whole transaction
// back, so under contention small transactions waste less.
const lastSeenMaxOps = 32

// queueLastSeen hands the offline times of committed presence work to the lane's
// last-seen goroutine.
func (l *lane) queueLastSeen(work []state.Work) {
	minAt := l.w.o.Clock.Now().Add(-l.w.o.LastSeenRetention).UnixMilli()
	queued := false
	l.lsMu.Lock()
	for i := range work {
		if w := &work[i]; len(w.Offline) > 0 {
			l.pendingLastSeen[w.Bucket] = presencekv.MergeLastSeen(nil, l.pendingLastSeen[w.Bucket], w.Offline, minAt)
			queued = true
		}
	}
	l.pendingN.Store(int64(len(l.pendingLastSeen) + l.lsInFlight))
	l.lsMu.Unlock()
	if queued {
		select {
		case l.lsKick <- struct{}{}:
		default:
		}
	}
}

// takeLastSeen takes every pending bucket for a commit round.
func (l *lane) takeLastSeen() map[uint32][]presencekv.LastSeen {
	l.lsMu.Lock()
	defer l.lsMu.Unlock()
	batch := l.pendingLastSeen
	l.pendingLastSeen = map[uint32][]presencekv.LastSeen{}
	l.lsInFlight = len(batch)
	return batch
}

// putBackLastSeen returns what a round did not commit, merged with what arrived meanwhile.
func (l *lane) putBackLastSeen(rest map[uint32][]presencekv.LastSeen) {
	minAt := l.w.o.Clock.Now().Add(-l.w.o.LastSeenRetention).UnixMilli()
	l.lsMu.Lock()
	defer l.lsMu.Unlock()
	for b, entries := range rest {
		l.pendingLastSeen[b] = presencekv.MergeLastSeen(nil, l.pendingLastSeen[b], entries, minAt)
	}
	l.lsInFlight = 0
	l.pendingN.Store(int64(len(l.pendingLastSeen)))
}

// runLastSeen commits the lane's pending last-seen merges whenever presence queued some or
// the sweep (lastseen_sweep.go) found entries past the retention, retrying with backoff
// what did not commit, until ctx ends.
func (l *lane) runLastSeen(ctx context.Context) {
	var sweep <-chan time.Time
	for {
		if sweep == nil {
			sweep = l.w.o.Clock.After(l.w.sweepTick)
		}
		select {
		case <-ctx.Done():
			return
		case <-l.lsKick:
		case <-sweep:
			sweep = nil
			l.sweepLastSeen(ctx)
		}
		for ctx.Err() == nil {
			batch := l.takeLastSeen()
			if len(batch) == 0 {
				l.putBackLastSeen(nil)
				break
			}
			err := l.commitLastSeen(ctx, batch)
			l.putBackLastSeen(batch)
			if err == nil {
				l.lsBackoff.Reset()
				continue // what arrived meanwhile
			}
			wait := l.lsBackoff.Next()
			l.w.o.Log.Warn("last-seen merge not committed yet; it stays pending and is retried",
				zap.Int("lane", l.id), zap.Int("buckets", len(batch)), zap.Duration("in", wait), zap.Error(err))
			select {
			case <-ctx.Done():
				return
			case <-l.w.o.Clock.After(wait):
			}
		}
	}
}

// refreshLastSeen (re-)reads the last-seen keys of buckets whose cached value is unknown.
func (l *lane) refreshLastSeen(ctx context.Context, buckets []uint32) error {
	kv := l.w.o.Client.KV()
	for _, b := range buckets {
		ls := l.lastSeen[b]
		if ls == nil {
			ls = &lastSeen{known: l.lastSeenLoaded}
			l.lastSeen[b] = ls
		}
		if ls.known {
			continue
		}
		key := presencekv.LastSeenKey(l.w.o.Prefix, b)
		p, _, err := kv.Get(key, (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx))
		if err != nil {
			return fmt.Errorf("reading %s: %w", key, err)
		}
		ls.entries, ls.index, ls.known = nil, 0, true
		if p != nil {
			ls.index = p.ModifyIndex
			if ls.entries, err = l.lsCodec.DecodeLastSeen(nil, p.Value); err != nil {
				l.w.o.Log.Warn("overwriting an undecodable last-seen value", zap.String("key", key), zap.Error(err))
				ls.entries = nil
			}
		}
	}
	return nil
}

// commitLastSeen merges batch's offline times into their buckets' last-seen keys (CAS on
// each key's ModifyIndex, max per user, entries past the retention dropped), in
// transactions of their own, and deletes the buckets it committed from batch. A lost CAS
// re-reads, merges and retries that transaction. Merging is a max per user, so retrying
// later never puts an older time over a newer one.
func (l *lane) commitLastSeen(ctx context.Context, batch map[uint32][]presencekv.LastSeen) error {
	buckets := l.lastSeenBuckets[:0]
	for b := range batch {
		buckets = append(buckets, b)
	}
	slices.Sort(buckets)
	l.lastSeenBuckets = buckets
	for len(buckets) > 0 {
		n, err := l.commitLastSeenBatch(ctx, buckets, batch)
		if err != nil {
			return err
		}
		buckets = buckets[n:]
	}
	return nil
}

// commitLastSeenBatch commits a prefix of buckets' pending last-seen times in one
// transaction (retrying lost CAS ops a few times) and returns how many buckets it took.
func (l *lane) commitLastSeenBatch(ctx context.Context, buckets []uint32, batch map[uint32][]presencekv.LastSeen) (int, error) {
	o := &l.w.o
	for attempt := 0; ; attempt++ {
		minAt := o.Clock.Now().Add(-o.LastSeenRetention).UnixMilli()
		n := min(len(buckets), o.MaxOps, lastSeenMaxOps)
		if err := l.refreshLastSeen(ctx, buckets[:n]); err != nil {
			return 0, err
		}
		txn := make(api.TxnOps, 0, n)
		infos := make([]opInfo, 0, n)
		size := 0
		taken := 0
		for _, b := range buckets[:n] {
			ls := l.lastSeen[b]
			merged := presencekv.MergeLastSeen(nil, ls.entries, batch[b], minAt)
			lkey := presencekv.LastSeenKey(o.Prefix, b)
			var op *api.KVTxnOp
			var opBytes int
			switch {
			case len(merged) > 0:
				val, fitted, dropped, err := fitLastSeen(&l.lsCodec, lkey, merged, o.MaxBytes)
				if err != nil {
					return 0, fmt.Errorf("encoding last seen of bucket %d: %w", b, err)
				}
				if dropped > 0 {
					l.trimmedLastSeen(lkey, dropped, len(fitted))
					merged = fitted
				}
				op, opBytes = &api.KVTxnOp{Verb: api.KVCAS, Key: lkey, Value: val, Index: ls.index}, opSize(lkey, len(val))
			case ls.index != 0:
				op, opBytes = &api.KVTxnOp{Verb: api.KVDeleteCAS, Key: lkey, Index: ls.index}, opSize(lkey, 0)
			}
			if op != nil && size+opBytes > o.MaxBytes && taken > 0 {
				break
			}
			taken++
			if op == nil { // nothing to write (every entry past the retention, no key)
				continue
			}
			size += opBytes
			txn = append(txn, &api.TxnOp{KV: op})
			infos = append(infos, opInfo{kind: opLastSeen, bucket: b, merged: merged})
		}
		if len(txn) == 0 {
			for _, b := range buckets[:taken] {
				delete(batch, b)
			}
			return taken, nil
		}
		res, err := l.w.runTxn(ctx, txn, size)
		if err != nil {
			for _, info := range infos { // the outcome is unknown: re-read before the next CAS
				l.lastSeen[info.bucket].known = false
			}
			return 0, fmt.Errorf("last-seen txn of %d ops: %w", len(txn), err)
		}
		if !res.committed {
			var other []string
			for _, e := range res.errors {
				if e.OpIndex >= 0 && e.OpIndex < len(infos) {
					l.lastSeen[infos[e.OpIndex].bucket].known = false
					if strings.Contains(e.What, "index is stale") || strings.Contains(e.What, "failed to set key") || strings.Contains(e.What, "failed to delete key") {
						o.Metrics.CASConflicts.Inc()
						continue
					}
				}
				other = append(other, e.What)
			}
			if len(other) > 0 {
				return 0, fmt.Errorf("last-seen transaction rolled back: %s", strings.Join(other, "; "))
			}
			if attempt >= 8 {
				return 0, fmt.Errorf("last-seen CAS lost %d times in a row (another agent writes the same buckets)", attempt+1)
			}
			continue
		}
		for _, info := range infos {
			ls := l.lastSeen[info.bucket]
			ls.entries, ls.index = info.merged, res.index[presencekv.LastSeenKey(o.Prefix, info.bucket)]
		}
		for _, b := range buckets[:taken] {
			delete(batch, b)
		}
		return taken, nil
	}
}
