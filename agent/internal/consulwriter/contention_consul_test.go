package consulwriter

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	dto "github.com/prometheus/client_model/go"

	"heartline/protocol/presencekv"
	"heartline/scripts/consultest"
	"heartline/scripts/proctest"
)

// F4 (chaos findings): while another writer keeps changing a bucket's last-seen key (mass
// moves between gateways), every CAS on it loses. Presence — what users see — must still
// land at once; the last-seen merge lands once the contention stops, nothing older over
// newer.
func TestPresenceLandsWhileLastSeenCASKeepsLosing(t *testing.T) {
	s := consultest.Start(t, nil)
	c := s.Client()
	const leaver = 11
	b := presencekv.Bucket(leaver, 1024)
	joiner := uint64(12)
	for presencekv.Bucket(joiner, 1024) != b {
		joiner++
	}
	now := time.Now().UnixMilli()

	// Once armed, another agent merges its own offline user into the same last-seen key
	// just before each of our transactions reaches Consul: every CAS of ours loses.
	lkey := presencekv.LastSeenKey(testPrefix, b)
	var rival atomic.Bool
	var rivalMu sync.Mutex
	var bumps atomic.Int64
	target, _ := url.Parse("http://" + s.HTTPAddr)
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rival.Load() && r.Method == http.MethodPut && r.URL.Path == "/v1/txn" {
			rivalMu.Lock()
			var codec presencekv.Codec
			var entries []presencekv.LastSeen
			p, _, err := c.KV().Get(lkey, nil)
			var index uint64
			if err == nil && p != nil {
				index = p.ModifyIndex
				entries, _ = codec.DecodeLastSeen(nil, p.Value)
			}
			// A new time each write: Consul does not bump the index of an unchanged value.
			rivalAt := now - 100000 + bumps.Add(1)
			val, _ := codec.AppendLastSeen(nil, presencekv.MergeLastSeen(nil, entries, []presencekv.LastSeen{{User: 1 << 40, At: rivalAt}}, 0))
			c.KV().CAS(&api.KVPair{Key: lkey, Value: val, ModifyIndex: index}, nil) //nolint:errcheck
			rivalMu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	cfg := s.Config()
	cfg.Address = strings.TrimPrefix(front.URL, "http://")
	viaRival, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, viaRival, "gw-cas", harnessOpts{lanes: 1})
	a.table.Apply(online(leaver, 1, now-5000))
	a.flush(t)
	rival.Store(true)
	var codec presencekv.Codec

	start := time.Now()
	a.table.Apply(offline(leaver, 1, now-100)) // needs a last-seen CAS on the contended key
	a.table.Apply(online(joiner, 1, now))      // same bucket: presence only
	proctest.WaitFor(t, 3*time.Second, "presence of the contended bucket", func() bool {
		got, _ := presenceInConsul(t, c, a.gw)
		return len(got) == 1 && got[presencekv.Session{User: joiner, Device: 1, Status: 2, Since: now}]
	})

	t.Logf("presence landed %s after the change, with the last-seen key under contention", time.Since(start).Round(time.Millisecond))

	proctest.WaitFor(t, 5*time.Second, "our last-seen CAS to lose against the rival", func() bool {
		var m dto.Metric
		a.metrics.CASConflicts.Write(&m)
		return m.Counter.GetValue() >= 3
	})

	rival.Store(false)
	proctest.WaitFor(t, 10*time.Second, "the last-seen merge after the contention", func() bool {
		p, _, err := c.KV().Get(lkey, nil)
		if err != nil || p == nil {
			return false
		}
		ls, err := codec.DecodeLastSeen(nil, p.Value)
		if err != nil {
			return false
		}
		got := map[uint64]int64{}
		for _, e := range ls {
			got[e.User] = e.At
		}
		return got[leaver] == now-100 && got[1<<40] == now-100000+bumps.Load()
	})

	a.flush(t)
	sameAsTable(t, c, a)
}

// While the last-seen merge of a bucket is stuck (here: its requests are held; in the chaos
// bed: CAS rounds lost to the other agent for seconds after a mass move), presence of every
// bucket of the same lane must keep landing. Last-seen used to run on the presence lane's
// goroutine, so a BYE or a birth waited behind it.
func TestPresenceLandsWhileLastSeenIsStuck(t *testing.T) {
	s := consultest.Start(t, nil)
	c := s.Client()
	var armed atomic.Bool
	var held atomic.Int64
	release := make(chan struct{})
	target, _ := url.Parse("http://" + s.HTTPAddr)
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		lastSeen := strings.Contains(r.URL.Path, "/lastseen/") || (r.URL.Path == "/v1/txn" && bytes.Contains(body, []byte("/lastseen/")))
		if armed.Load() && lastSeen {
			held.Add(1)
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	cfg := s.Config()
	cfg.Address = strings.TrimPrefix(front.URL, "http://")
	via, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, via, "gw-ls", harnessOpts{lanes: 1})
	now := time.Now().UnixMilli()
	a.table.Apply(online(21, 1, now-5000))
	a.flush(t) // the writer has read the last-seen keys and runs

	armed.Store(true)
	a.table.Apply(offline(21, 1, now-100)) // its last-seen merge gets stuck
	proctest.WaitFor(t, 5*time.Second, "the last-seen merge to be held", func() bool { return held.Load() > 0 })
	for u := uint64(22); u < 30; u++ {
		a.table.Apply(online(u, 1, now)) // other buckets, the same (only) lane
	}
	proctest.WaitFor(t, 5*time.Second, "presence while last-seen is stuck", func() bool {
		got, _ := presenceInConsul(t, c, a.gw)
		return len(got) == 8
	})

	released = true
	close(release)
	proctest.WaitFor(t, 10*time.Second, "the last-seen merge once released", func() bool {
		p, _, err := c.KV().Get(presencekv.LastSeenKey(testPrefix, presencekv.Bucket(21, 1024)), nil)
		return err == nil && p != nil
	})

}

// Presence and last-seen are committed by two goroutines per lane; each must have its own
// encoder state (a Codec keeps scratch buffers). Under -race this churns both at once: a
// shared Codec is a data race (in the chaos bed it corrupted a decode and crashed the agent).
func TestPresenceAndLastSeenCommitConcurrently(t *testing.T) {
	s := consultest.Start(t, nil)
	c := s.Client()
	a := startAgent(t, c, "gw-churn", harnessOpts{lanes: 1})
	now := time.Now().UnixMilli()
	for round := 0; round < 20; round++ {
		// Two groups of 200 users swap places every round: every flush has sessions to
		// encode and offline users whose last-seen must be merged.
		on, off := uint64(0), uint64(1000)
		if round%2 == 1 {
			on, off = off, on
		}
		for u := uint64(1); u <= 200; u++ {
			a.table.Apply(online(on+u, 1, now))
			a.table.Apply(offline(off+u, 1, now+int64(round)))
		}
		a.writer.Kick()
	}
	a.flush(t)
	sameAsTable(t, c, a)
}

// An agent can start while Consul has no leader: the writer's first read (the last-seen
// keys) fails. It used to return that error, which the agent only logged: the agent stayed
// up, looked healthy and never wrote presence (found by the model-based test in
// scripts/chaos/model). The writer must retry the read and then write.
func TestWriterStartsAfterItsFirstReadFailed(t *testing.T) {
	s := consultest.Start(t, nil)
	c := s.Client()
	var failed atomic.Int64
	target, _ := url.Parse("http://" + s.HTTPAddr)
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/lastseen/") && failed.Add(1) <= 2 {
			http.Error(w, "rpc error making call: No cluster leader", http.StatusInternalServerError)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	cfg := s.Config()
	cfg.Address = strings.TrimPrefix(front.URL, "http://")
	via, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, via, "gw-start", harnessOpts{lanes: 1})
	a.table.Apply(online(31, 1, time.Now().UnixMilli()))
	proctest.WaitFor(t, 10*time.Second, "presence after the failed first reads", func() bool {
		got, _ := presenceInConsul(t, c, a.gw)
		return len(got) == 1
	})

	if failed.Load() < 2 {
		t.Fatalf("the first reads were not failed (%d)", failed.Load())
	}
}
