package model

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"heartline/scripts/proctest"
)

// TestAgentRestartedDuringAConsulHiccupStillWritesPresence: an agent starts while Consul
// answers one request with an error (a leader election, a restart of the local Consul
// agent). Its session is created, then the writer's first read (the last-seen keys) fails.
// The agent must retry, as it does every other Consul call, and write its gateway's
// presence; a writer that gives up leaves every member of that gateway offline while the
// agent looks healthy (session, feed and watcher all fine), until someone restarts it.
// The invariant: an app whose heartbeats the gateway accepts is shown within the bound.
func TestAgentRestartedDuringAConsulHiccupStillWritesPresence(t *testing.T) {
	w := newSmallWorld(t, "writer-start", 1, 0)
	c, a := w.c, w.apps[0]

	// Consul behind a proxy that fails the first read of the last-seen keys.
	target, _ := url.Parse("http://" + c.consul.HTTPAddr)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var failed atomic.Int64
	front := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/kv/writer-start/lastseen/") && failed.Add(1) == 1 {
			http.Error(rw, "rpc error making call: No cluster leader", http.StatusInternalServerError)
			return
		}
		proxy.ServeHTTP(rw, r)
	}))
	defer front.Close()
	cfg := c.consul.Config()
	cfg.Address = strings.TrimPrefix(front.URL, "http://")
	hiccupy, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}

	g := c.gws[0]
	g.agent.crash()
	g.agent = startAgent(t, hiccupy, c.prefix, g.id, g.path)
	proctest.WaitFor(t, 10*time.Second, "the writer's first read of the last-seen keys", func() bool { return failed.Load() >= 1 })

	w.hello(0, 0)
	c.advance(interval, nil)
	w.beat(0, false)
	if !a.lastBeatAccepted {
		t.Fatalf("the app's heartbeat was not accepted:%s", w.traces(a.String()))
	}
	w.settled("after one failed Consul read at the agent's start")
}
