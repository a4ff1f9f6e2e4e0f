package consulwriter

import (
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
	waitFor(t, "presence of the contended bucket", 3*time.Second, func() bool {
		got, _ := presenceInConsul(t, c, a.gw)
		return len(got) == 1 && got[presencekv.Session{User: joiner, Device: 1, Status: 2, Since: now}]
	})
	t.Logf("presence landed %s after the change, with the last-seen key under contention", time.Since(start).Round(time.Millisecond))

	waitFor(t, "our last-seen CAS to lose against the rival", 5*time.Second, func() bool {
		var m dto.Metric
		a.metrics.CASConflicts.Write(&m) //nolint:errcheck
		return m.Counter.GetValue() >= 3
	})
	rival.Store(false)
	waitFor(t, "the last-seen merge after the contention", 10*time.Second, func() bool {
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
