package watcher

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"heartline/protocol/presencekv"
	"heartline/scripts/proctest"
)

// gapKV serves one gateway's change record and presence keys, and can make bucket
// listings fail, so a test can make the re-read after a change-record gap fail once.
type gapKV struct {
	mu        sync.Mutex
	index     uint64
	seq       uint64 // the change record's newest entry
	presence  []*api.KVPair
	failLists int  // presence listings to answer with 500
	down      bool // answer every request with 500, as a Consul without a leader does
}

func (f *gapKV) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	if f.down {
		f.mu.Unlock()
		http.Error(w, "No cluster leader", http.StatusInternalServerError)
		return
	}
	if r.URL.Path == "/v1/txn" { // the incremental re-read of a gateway after a gap
		if f.failLists > 0 {
			f.failLists--
			f.mu.Unlock()
			http.Error(w, "rpc error: timeout", http.StatusInternalServerError)
			return
		}
		ops, err := decodeTxn(r)
		if err == nil {
			answerReadTxn(w, ops, f.find)
		} else {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
		f.mu.Unlock()
		return
	}
	key := strings.TrimPrefix(r.URL.Path, "/v1/kv/")
	var pairs []*api.KVPair
	switch key {
	case presencekv.ConfigKey("hlg"):
		pairs = []*api.KVPair{{Key: key, Value: presencekv.EncodeConfig(presencekv.Config{Version: 1, Buckets: 16}), ModifyIndex: 1}}
	case presencekv.PresencePrefix("hlg"):
		if f.failLists > 0 {
			f.failLists--
			f.mu.Unlock()
			http.Error(w, "rpc error: timeout", http.StatusInternalServerError)
			return
		}
		pairs = f.presence
	case presencekv.ChangesPrefix("hlg"):
		blockIfCurrent(&f.mu, r, f.index)
		var c presencekv.Codec
		pairs = []*api.KVPair{{Key: presencekv.ChangesKey("hlg", "gw", 0), ModifyIndex: f.index,
			Value: c.AppendChangeRecord(nil, &presencekv.ChangeRecord{Epoch: 7, Entries: []presencekv.ChangeEntry{{Seq: f.seq, Index: f.index}}})}}
	}
	index := f.index
	f.mu.Unlock()
	writeKVList(w, index, pairs)
}

// writeKVList answers a KV read as Consul does: the index header, then the pairs, or 404.
func writeKVList(w http.ResponseWriter, index uint64, pairs []*api.KVPair) {
	w.Header().Set("X-Consul-Index", strconv.FormatUint(index, 10))
	if len(pairs) == 0 {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	json.NewEncoder(w).Encode(pairs) //nolint:errcheck
}

// A change-record gap (the watcher missed more flushes of a lane than the record carries)
// means re-reading the buckets; the entries in the gap are skipped for that. If the re-read
// failed (a timeout under load, a leader election), the watcher used to resume following the
// change records as if it had succeeded: the sessions of the gap stayed missing until their
// next change (the chaos bed's partition showed 48 members lost in a watcher for good while
// Consul had them). The re-read must be retried until it succeeds.
func TestFailedReReadAfterAGapIsRetried(t *testing.T) {
	f := &gapKV{index: 100, seq: 5}
	w := runFakeWatcher(t, f, "hlg")
	proctest.WaitFor(t, 10*time.Second, "the first read", func() bool { return w.Ready() && w.Stats().Index == 100 })

	// The gateway flushes four times more than the record holds (seq 5 -> 10) and user 7
	// comes online meanwhile; the re-read this calls for fails once.
	var codec presencekv.Codec
	v, err := codec.AppendSessions(nil, []presencekv.Session{{User: 7, Device: 1, Status: StatusActive, Since: 5}})
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.presence = []*api.KVPair{{Key: presencekv.PresenceKey("hlg", presencekv.Bucket(7, 16), "gw"), Value: v, ModifyIndex: 110}}
	f.index, f.seq, f.failLists = 110, 10, 1
	f.mu.Unlock()
	proctest.WaitFor(t, 10*time.Second, "user 7 online after the failed re-read", func() bool { return w.Lookup(7).Online })
}

// runFakeWatcher runs a watcher (prefix, 1 s blocking queries) against a fake Consul KV
// handler until the test ends.
func runFakeWatcher(t *testing.T, kv http.Handler, prefix string) *Watcher {
	t.Helper()
	srv := httptest.NewServer(kv)
	t.Cleanup(srv.Close)
	cfg := api.DefaultConfig()
	cfg.Address = strings.TrimPrefix(srv.URL, "http://")
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(Options{Client: c, Prefix: prefix, WaitTime: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }() //nolint:errcheck
	t.Cleanup(func() { cancel(); <-done })
	return w
}

// find returns the pair at key (the config key exists too). Called with f.mu held.
func (f *gapKV) find(key string) *api.KVPair {
	if key == presencekv.ConfigKey("hlg") {
		return &api.KVPair{Key: key, ModifyIndex: 1}
	}
	for _, p := range f.presence {
		if p.Key == key {
			return p
		}
	}
	return nil
}

// decodeTxn reads the ops of a /v1/txn request.
func decodeTxn(r *http.Request) (api.TxnOps, error) {
	var ops api.TxnOps
	err := json.NewDecoder(r.Body).Decode(&ops)
	return ops, err
}

// answerReadTxn answers a read-only transaction the way Consul does (check-index,
// check-not-exists, get-or-empty over the keys find knows; every failed op is reported, and a
// failed transaction returns no results).
func answerReadTxn(w http.ResponseWriter, ops api.TxnOps, find func(key string) *api.KVPair) {
	var resp api.TxnResponse
	for i, op := range ops {
		p := find(op.KV.Key)
		switch op.KV.Verb {
		case api.KVCheckIndex:
			if p == nil || p.ModifyIndex != op.KV.Index {
				resp.Errors = append(resp.Errors, &api.TxnError{OpIndex: i, What: "index mismatch or no key"})
			}
		case api.KVCheckNotExists:
			if p != nil {
				resp.Errors = append(resp.Errors, &api.TxnError{OpIndex: i, What: "key exists"})
			}
		case api.KVGetOrEmpty:
			if p == nil {
				p = &api.KVPair{Key: op.KV.Key}
			}
			resp.Results = append(resp.Results, &api.TxnResult{KV: p})
		default:
			resp.Errors = append(resp.Errors, &api.TxnError{OpIndex: i, What: "verb not faked: " + string(op.KV.Verb)})
		}
	}
	status := http.StatusOK
	if len(resp.Errors) > 0 {
		resp, status = api.TxnResponse{Errors: resp.Errors}, http.StatusConflict
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(resp) //nolint:errcheck
}

// blockIfCurrent stands for a blocking query that times out: when the request waits for
// index (nothing new), it answers after a short while, with mu released meanwhile.
func blockIfCurrent(mu *sync.Mutex, r *http.Request, index uint64) {
	if wi, _ := strconv.ParseUint(r.URL.Query().Get("index"), 10, 64); wi != 0 && wi == index {
		mu.Unlock()
		time.Sleep(20 * time.Millisecond) // the fake's blocking query duration, not a wait in a test
		mu.Lock()
	}
}
