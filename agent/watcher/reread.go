package watcher

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/consul/api"

	"heartline/protocol/presencekv"
)

// Incremental re-reads. A sequence gap, an Incomplete entry, a new epoch or a lane that
// vanished while others of its gateway remain means the watcher missed changes of one
// gateway (every presence write travels with its lane's change record), so only that
// gateway's keys may differ from the cache. The watcher remembers, per presence key in
// scope, the ModifyIndex its cache reflects (known: from reads, and from the change entries
// it applied: all keys of one transaction share its index). It then asks Consul which of
// the gateway's keys no longer have that index, in read-only transactions of check-index
// ops (check-not-exists for keys it believes absent), and fetches only those keys, with
// their buckets' last-seen keys, in read-only transactions of get-or-empty ops. Each check
// transaction carries one op that always fails (check-not-exists on <prefix>/config, which
// the first agent creates), so Consul answers with the failed ops alone, never with the
// metadata of every unchanged key. Consul runs read-only transactions without Raft.
//
// A full read (every key listed) remains for the start and for a Consul index reset, when
// the known indexes belong to another history.

// presenceRef names one presence key: one bucket of one gateway.
type presenceRef struct {
	bucket  uint32
	gateway string
}

// consulTxnOps is Consul's limit of operations per transaction.
const consulTxnOps = 128

// scopeBuckets lists the buckets the watcher follows, sorted.
func (w *Watcher) scopeBuckets() []uint32 {
	if w.interest != nil {
		out := make([]uint32, 0, len(w.interest))
		for b := range w.interest {
			out = append(out, b)
		}
		slices.Sort(out)
		return out
	}
	out := make([]uint32, w.buckets)
	for i := range out {
		out[i] = uint32(i)
	}
	return out
}

// reReadGateways re-reads what may have changed of each gateway in gws since the cache last
// matched Consul; seen is the highest index the watcher saw before (see readBuckets).
func (w *Watcher) reReadGateways(ctx context.Context, seen uint64, gws map[string]bool) error {
	w.resyncs.Add(1)
	buckets := w.scopeBuckets()
	for gw := range gws {
		changed, err := w.changedBuckets(ctx, gw, buckets)
		if err != nil {
			return err
		}
		for start := 0; start < len(changed); start += fetchBuckets {
			if err := w.reReadBatch(ctx, gw, changed[start:min(start+fetchBuckets, len(changed))], seen); err != nil {
				return err
			}
		}
	}
	return nil
}

// fetchBuckets is how many buckets one fetch transaction reads (two keys each).
const fetchBuckets = consulTxnOps / 2

// reReadBatch fetches gw's presence keys of batch and their last-seen keys in one read-only
// transaction, and applies them as the truth of those buckets. One transaction reads one
// consistent state, at or after the highest ModifyIndex it returns (and after seen), so that
// is the version it applies at: never a later transaction's index, which could put an older
// value (a session absent then, back since) above a change entry that follows.
func (w *Watcher) reReadBatch(ctx context.Context, gw string, batch []uint32, seen uint64) error {
	presence, lastSeen, top, err := w.fetch(ctx, gw, batch)
	if err != nil {
		return err
	}
	set := make(map[uint32]bool, len(batch))
	w.mu.Lock()
	for _, b := range batch {
		set[b] = true
		delete(w.known, presenceRef{b, gw}) // absent now, unless applyRead lists it
	}
	w.mu.Unlock()
	w.applyRead(presence, max(top, seen), func(u uint64, g string) bool {
		return g == gw && set[presencekv.Bucket(u, w.buckets)]
	})
	w.applyLastSeen(lastSeen)
	return nil
}

// changedBuckets returns the buckets among buckets whose presence key of gw is not at the
// ModifyIndex the cache reflects (or exists although the cache believes it absent).
func (w *Watcher) changedBuckets(ctx context.Context, gw string, buckets []uint32) ([]uint32, error) {
	var changed []uint32
	per := consulTxnOps - 1 // one op is the always-failing sentinel
	for start := 0; start < len(buckets); start += per {
		batch := buckets[start:min(start+per, len(buckets))]
		ops := make(api.TxnOps, 0, len(batch)+1)
		w.mu.RLock()
		for _, b := range batch {
			key := presencekv.PresenceKey(w.o.Prefix, b, gw)
			if idx := w.known[presenceRef{b, gw}]; idx != 0 {
				ops = append(ops, &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVCheckIndex, Key: key, Index: idx}})
			} else {
				ops = append(ops, &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVCheckNotExists, Key: key}})
			}
		}
		w.mu.RUnlock()
		ops = append(ops, &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVCheckNotExists, Key: presencekv.ConfigKey(w.o.Prefix)}})
		ok, resp, _, err := w.o.Client.Txn().Txn(ops, w.q(ctx))
		w.resyncCalls.Add(1)
		if err != nil {
			return nil, fmt.Errorf("asking Consul which presence keys of %s changed: %w", gw, err)
		}
		if ok {
			continue // every check passed (and the config key is gone): nothing changed here
		}
		for _, e := range resp.Errors {
			w.resyncBytes.Add(uint64(len(e.What)))
			if e.OpIndex >= 0 && e.OpIndex < len(batch) {
				changed = append(changed, batch[e.OpIndex])
			}
		}
	}
	return changed, nil
}

// fetch reads gw's presence keys and the last-seen keys of batch (at most fetchBuckets) in
// one read-only transaction; absent keys are left out. top is the highest ModifyIndex read.
func (w *Watcher) fetch(ctx context.Context, gw string, batch []uint32) (presence, lastSeen api.KVPairs, top uint64, err error) {
	ops := make(api.TxnOps, 0, 2*len(batch))
	for _, b := range batch {
		ops = append(ops,
			&api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVGetOrEmpty, Key: presencekv.PresenceKey(w.o.Prefix, b, gw)}},
			&api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVGetOrEmpty, Key: presencekv.LastSeenKey(w.o.Prefix, b)}})
	}
	ok, resp, _, err := w.o.Client.Txn().Txn(ops, w.q(ctx))
	w.resyncCalls.Add(1)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("reading the changed presence keys of %s: %w", gw, err)
	}
	if !ok {
		var what []string
		for _, e := range resp.Errors {
			what = append(what, e.What)
		}
		return nil, nil, 0, fmt.Errorf("reading the changed presence keys of %s: %s", gw, strings.Join(what, "; "))
	}
	for _, r := range resp.Results {
		if r.KV == nil || r.KV.ModifyIndex == 0 {
			continue // get-or-empty of an absent key
		}
		w.resyncBytes.Add(uint64(len(r.KV.Key) + len(r.KV.Value)))
		top = max(top, r.KV.ModifyIndex)
		if _, ok := presencekv.ParseLastSeenKey(w.o.Prefix, r.KV.Key); ok {
			lastSeen = append(lastSeen, r.KV)
		} else {
			presence = append(presence, r.KV)
		}
	}
	return presence, lastSeen, top, nil
}

// forgetGateway drops the known indexes of a gateway whose keys are all gone. Called with
// w.mu held.
func (w *Watcher) forgetGateway(gw string) {
	for ref := range w.known {
		if ref.gateway == gw {
			delete(w.known, ref)
		}
	}
}
