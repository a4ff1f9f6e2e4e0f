package watcher_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"go.uber.org/zap/zaptest"

	"heartline/agent/watcher"
	"heartline/protocol/presencekv"
	"heartline/scripts/consultest"
	"heartline/scripts/proctest"
)

// delayingProxy forwards to a real Consul, holding back (while armed) the requests that
// match: this stages the interleaving the chaos bed hit by chance.
type delayingProxy struct {
	proxy *httputil.ReverseProxy
	armed atomic.Bool
	held  atomic.Int64 // requests held back so far
	delay time.Duration
	match func(r *http.Request, body []byte) bool
}

func (d *delayingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if d.armed.Load() {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if d.match(r, body) {
			d.held.Add(1)
			time.Sleep(d.delay) // the staged delay itself, not a wait in the test
		}
	}
	d.proxy.ServeHTTP(w, r)
}

func proxiedClient(t *testing.T, s *consultest.Server, d *delayingProxy) *api.Client {
	t.Helper()
	d.proxy = reverseProxy(s)
	return frontClient(t, s, d)
}

// reverseProxy forwards to Consul server s.
func reverseProxy(s *consultest.Server) *httputil.ReverseProxy {
	target, _ := url.Parse("http://" + s.HTTPAddr)
	return httputil.NewSingleHostReverseProxy(target)
}

// frontClient is a Consul client of s whose requests go through h.
func frontClient(t *testing.T, s *consultest.Server, h http.Handler) *api.Client {
	t.Helper()
	front := httptest.NewServer(h)
	t.Cleanup(front.Close)
	cfg := s.Config()
	cfg.Address = strings.TrimPrefix(front.URL, "http://")
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// F1 against a real Consul: the gateway's session is destroyed and its agent rewrites lane
// 0 before lane 1 (lane 1's transaction is held back), while the watcher's next blocking
// query only reaches Consul after lane 0's rewrite. The watcher thus sees lane 0 under the
// new session and lane 1 missing in one listing. Every session must be online in the
// watcher once both lanes have rewritten.
func TestWatcherSeesEverySessionAfterALaneByLaneRewrite(t *testing.T) {
	s := consultest.Start(t, nil)
	const gw = "gw-lanes"
	slowLane1 := &delayingProxy{delay: 1500 * time.Millisecond, match: func(r *http.Request, body []byte) bool {
		return r.Method == http.MethodPut && r.URL.Path == "/v1/txn" && bytes.Contains(body, []byte(presencekv.ChangesKey(prefix, gw, 1)))
	}}
	g := startGateway(t, proxiedClient(t, s, slowLane1), gw, 64)
	for u := uint64(1); u <= 200; u++ {
		g.table.Apply(tr(presencekv.KindOnline, u, 1, 1000))
	}
	flush(t, g)

	slowWatch := &delayingProxy{delay: 700 * time.Millisecond, match: func(r *http.Request, _ []byte) bool {
		return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/"+presencekv.ChangesPrefix(prefix)) && r.URL.Query().Get("index") != ""
	}}
	w, err := watcher.New(watcher.Options{Client: proxiedClient(t, s, slowWatch), Prefix: prefix, WaitTime: 5 * time.Second, Log: zaptest.NewLogger(t).Named("watcher")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }() //nolint:errcheck
	t.Cleanup(func() { cancel(); <-done })
	proctest.WaitFor(t, 20*time.Second, "watcher ready", w.Ready)
	proctest.WaitFor(t, 20*time.Second, "the watcher to see all 200 users", func() bool { return matches(w, 200, g.table) })

	// The watcher's next blocking query is held 700 ms; a change on another gateway makes
	// the one in flight return now, so the held one starts before the session is destroyed.
	slowWatch.armed.Store(true)
	other := startGateway(t, s.Client(), "gw-other", 64)
	other.table.Apply(tr(presencekv.KindOnline, 1000, 1, 1000))
	flush(t, other)
	proctest.WaitFor(t, 10*time.Second, "the watcher's next blocking query held at the proxy", func() bool { return slowWatch.held.Load() >= 1 })
	slowLane1.armed.Store(true)
	id, _, _ := g.sess.Current()
	if _, err := s.Client().Session().Destroy(id, nil); err != nil {
		t.Fatal(err)
	}
	g.table.Apply(tr(presencekv.KindOnline, 201, 1, 2000)) // the agent notices at its next write
	proctest.WaitFor(t, 10*time.Second, "a new session", func() bool { nid, _, _ := g.sess.Current(); return nid != "" && nid != id })
	flush(t, g)
	slowWatch.armed.Store(false)
	slowLane1.armed.Store(false)
	proctest.WaitFor(t, 10*time.Second, "every session online in the watcher after the rewrite", func() bool { return matches(w, 201, g.table) })
}
