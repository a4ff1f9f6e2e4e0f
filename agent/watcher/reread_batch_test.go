package watcher

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"heartline/protocol/presencekv"
	"heartline/scripts/proctest"
)

// batchKV is a fake Consul KV (one gateway "gw", one lane, 128 buckets) whose state a test
// can change between two fetch transactions of an incremental re-read.
type batchKV struct {
	mu       sync.Mutex
	index    uint64
	presence map[string]*api.KVPair
	entries  []presencekv.ChangeEntry
	fetches  int
	// beforeFetch runs (with mu held) before the n-th fetch transaction (1-based) is answered.
	beforeFetch func(n int)
}

const batchBuckets = 128

func (f *batchKV) put(bucket uint32, index uint64, users ...uint64) {
	var c presencekv.Codec
	var ss []presencekv.Session
	for _, u := range users {
		ss = append(ss, presencekv.Session{User: u, Device: 1, Status: StatusActive, Since: 5})
	}
	v, _ := c.AppendSessions(nil, ss)
	key := presencekv.PresenceKey("hlb", bucket, "gw")
	f.presence[key] = &api.KVPair{Key: key, Value: v, ModifyIndex: index}
}

func (f *batchKV) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path == "/v1/txn" {
		ops, err := decodeTxn(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if len(ops) > 0 && ops[0].KV.Verb == api.KVGetOrEmpty {
			f.fetches++
			if f.beforeFetch != nil {
				f.beforeFetch(f.fetches)
			}
		}
		answerReadTxn(w, ops, func(key string) *api.KVPair {
			if key == presencekv.ConfigKey("hlb") {
				return &api.KVPair{Key: key, ModifyIndex: 1}
			}
			return f.presence[key]
		})
		return
	}
	key := strings.TrimPrefix(r.URL.Path, "/v1/kv/")
	var pairs []*api.KVPair
	switch key {
	case presencekv.ConfigKey("hlb"):
		pairs = []*api.KVPair{{Key: key, Value: presencekv.EncodeConfig(presencekv.Config{Version: 1, Buckets: batchBuckets}), ModifyIndex: 1}}
	case presencekv.PresencePrefix("hlb"):
		for _, p := range f.presence {
			pairs = append(pairs, p)
		}
	case presencekv.ChangesPrefix("hlb"):
		blockIfCurrent(&f.mu, r, f.index)
		var c presencekv.Codec
		pairs = []*api.KVPair{{Key: presencekv.ChangesKey("hlb", "gw", 0), ModifyIndex: f.index,
			Value: c.AppendChangeRecord(nil, &presencekv.ChangeRecord{Epoch: 7, Entries: f.entries})}}
	}
	writeKVList(w, f.index, pairs)
}

// An incremental re-read fetches many buckets in several transactions, each a consistent
// read of its own moment. Applying an early transaction's values at a later one's index put
// an older value above change entries committed in between: the chaos bed's full Consul
// outage (a new session rewrites every bucket) left members who went offline and came back
// meanwhile offline in the watcher for good while Consul showed them online. Each
// transaction's values apply at its own index.
func TestReReadAppliesEachFetchAtItsOwnIndex(t *testing.T) {
	var x uint64 = 1
	for presencekv.Bucket(x, batchBuckets) >= 32 {
		x++
	}
	bx := presencekv.Bucket(x, batchBuckets)
	others := func(b uint32) uint64 { // a user of bucket b other than x
		for u := uint64(1000); ; u++ {
			if presencekv.Bucket(u, batchBuckets) == b {
				return u
			}
		}
	}
	f := &batchKV{index: 100, presence: map[string]*api.KVPair{}, entries: []presencekv.ChangeEntry{{Seq: 1, Index: 100}}}
	for b := uint32(0); b < batchBuckets; b++ {
		if b == bx {
			f.put(b, 100, x, others(b))
		} else {
			f.put(b, 100, others(b))
		}
	}
	w := runFakeWatcher(t, f, "hlb")
	proctest.WaitFor(t, 10*time.Second, "the first read", func() bool { return w.Ready() && w.Lookup(x).Online })

	// Behind a gap, the gateway rewrites every bucket at 110, x offline. While the watcher
	// fetches (two transactions of 64 buckets), x comes back at 120 (entry 4), and a bucket
	// of the second transaction changes at 121 (entry 5).
	f.mu.Lock()
	f.beforeFetch = func(n int) {
		if n != 2 {
			return
		}
		f.put(bx, 120, x, others(bx))
		f.put(100, 121, others(100))
		f.entries = []presencekv.ChangeEntry{{Seq: 3, Index: 110}, {Seq: 4, Index: 120, Transitions: []presencekv.Transition{
			{Kind: presencekv.KindOnline, User: x, Device: 1, Status: StatusActive, At: 7}}}, {Seq: 5, Index: 121}}
		f.index = 121
	}
	for b := uint32(0); b < batchBuckets; b++ {
		f.put(b, 110, others(b))
	}
	f.entries = []presencekv.ChangeEntry{{Seq: 3, Index: 110}}
	f.index = 110
	f.mu.Unlock()

	proctest.WaitFor(t, 10*time.Second, "the re-read and the entries after it", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.fetches >= 2 && w.Stats().Index == 121
	})
	proctest.WaitFor(t, 5*time.Second, "x online again (entry 4 at 120 follows the first fetch, read at 110)", func() bool {
		return w.Lookup(x).Online
	})
}
