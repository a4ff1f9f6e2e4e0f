package watcher

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"heartline/protocol/presencekv"
)

// fakeKV serves the few KV reads the watcher makes, with a scripted X-Consul-Index, so a
// unit test can make Consul's index go backwards (a rebuilt cluster). Consul behaviour
// itself is tested against a real Consul in watcher_consul_test.go.
type fakeKV struct {
	mu       sync.Mutex
	index    uint64
	presence map[string][]byte // key -> value
	lists    int
}

func (f *fakeKV) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := strings.TrimPrefix(r.URL.Path, "/v1/kv/")
	var pairs []*api.KVPair
	switch {
	case key == presencekv.ConfigKey("hlf"):
		pairs = []*api.KVPair{{Key: key, Value: presencekv.EncodeConfig(presencekv.Config{Version: 1, Buckets: 16}), ModifyIndex: 1}}
	case key == presencekv.PresencePrefix("hlf"):
		f.lists++
		for k, v := range f.presence {
			pairs = append(pairs, &api.KVPair{Key: k, Value: v, ModifyIndex: f.index})
		}
	case key == presencekv.ChangesPrefix("hlf"):
		if wi, _ := strconv.ParseUint(r.URL.Query().Get("index"), 10, 64); wi != 0 && wi == f.index {
			f.mu.Unlock()
			time.Sleep(20 * time.Millisecond) // a blocking query that times out
			f.mu.Lock()
		}
	}
	w.Header().Set("X-Consul-Index", strconv.FormatUint(f.index, 10))
	if len(pairs) == 0 {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	json.NewEncoder(w).Encode(pairs) //nolint:errcheck
}

func (f *fakeKV) set(index uint64, sessions map[uint64]uint8) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.index = index
	f.presence = map[string][]byte{}
	var c presencekv.Codec
	byBucket := map[uint32][]presencekv.Session{}
	for u := uint64(1); u <= 10; u++ {
		if st, ok := sessions[u]; ok {
			b := presencekv.Bucket(u, 16)
			byBucket[b] = append(byBucket[b], presencekv.Session{User: u, Device: 1, Status: st, Since: 5})
		}
	}
	for b, ss := range byBucket {
		v, _ := c.AppendSessions(nil, ss)
		f.presence[presencekv.PresenceKey("hlf", b, "gw")] = v
	}
}

func TestIndexResetRebuildsTheCache(t *testing.T) {
	f := &fakeKV{}
	f.set(1000, map[uint64]uint8{1: StatusActive, 2: StatusAway})
	w := runFakeWatcher(t, f, "hlf")
	deadline := time.Now().Add(10 * time.Second)
	for !w.Ready() || w.Stats().OnlineUsers != 2 {
		if time.Now().After(deadline) {
			t.Fatal("initial read never completed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	sub := w.Subscribe(16, nil)
	// Consul is rebuilt: its index restarts far below what the cache has seen, and the
	// state differs. Old versions (1000) must not shadow the new truth (index 50), and the new
	// versions must not fall below the old ones either.
	f.set(50, map[uint64]uint8{2: StatusActive, 3: StatusAway})
	for w.Stats().Index != 50 || w.Lookup(1).Online || !w.Lookup(3).Online {
		if time.Now().After(deadline) {
			t.Fatalf("cache not rebuilt after the index reset: index %d, user 1 %+v, user 3 %+v", w.Stats().Index, w.Lookup(1), w.Lookup(3))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if p := w.Lookup(2); !p.Online || p.Status != StatusActive {
		t.Fatalf("user 2 = %+v, want online active", p)
	}
	got := map[uint64]EventType{}
	for len(got) < 3 {
		select {
		case ev := <-sub.C:
			got[ev.User] = ev.Type
			// Versions continue above every one given before the reset (1000), so a
			// subscriber keeping the highest version per user applies them: the new index
			// plus the index the watcher had reached.
			if ev.Version != 1000+50 {
				t.Fatalf("event %+v carries version %d, want 1050 (index 50 above the 1000 reached before the reset)", ev, ev.Version)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("events after reset: %v; want offline 1, status 2, online 3", got)
		}
	}
	if got[1] != EventOffline || got[2] != EventStatus || got[3] != EventOnline {
		t.Fatalf("events after reset: %v; want offline 1, status 2, online 3", got)
	}
}
