package consulwriter

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
	"github.com/prometheus/client_golang/prometheus/testutil"

	"heartline/protocol/presencekv"
	"heartline/scripts/consultest"
	"heartline/scripts/proctest"
)

// F5 (chaos findings): Consul restarts with its data (a full outage). Whatever the agent's
// renew concludes while Consul replays its state, the agent must end up writing under a
// session that holds its keys, promptly: not wait for an old session (restored from the
// snapshot, still holding the locks) to expire, and never lose the presence meanwhile.
func TestConsulRestartWithItsDataRewritesPresencePromptly(t *testing.T) {
	s := consultest.Start(t, nil)
	c := s.Client()
	a := startAgent(t, c, "gw-restart", harnessOpts{ttl: 10 * time.Second})
	for u := uint64(1); u <= 100; u++ {
		a.table.Apply(online(u, 1, 1000))
	}
	a.flush(t)
	sameAsTable(t, c, a)
	s.Stop()
	proctest.WaitFor(t, 30*time.Second, "a session renewal (every TTL/3) to fail during the outage", func() bool {
		return testutil.ToFloat64(a.metrics.SessionRenewFails) >= 1
	})
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitForLeader(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	a.table.Apply(online(101, 1, 2000)) // a change after the outage must land too
	// Until the old session's TTL (up to 2×10 s after the restart) has run out, a stuck
	// agent cannot write; a prompt one is done well before.
	proctest.WaitFor(t, 8*time.Second, "presence under the agent's current session", func() bool {
		got, pairs := presenceInConsul(t, c, a.gw)
		id, _, _ := a.sess.Current()
		if id == "" || len(got) != len(a.table.All()) {
			return false
		}
		for _, p := range pairs {
			if p.Session != id {
				return false
			}
		}
		return true
	})

	t.Logf("presence complete under the current session %s after Consul's leader returned", time.Since(back).Round(10*time.Millisecond))
	// And it stays: an expiring session deletes only the keys it holds, every key is held by
	// the current session (checked above), and that session is alive in Consul, not one that
	// a restoring leader still lists while its TTL runs out.
	id, _, _ := a.sess.Current()
	if se, _, err := c.Session().Info(id, &api.QueryOptions{RequireConsistent: true}); err != nil || se == nil {
		t.Fatalf("the agent's current session %s is not in Consul (err %v)", id, err)
	}
	sameAsTable(t, c, a)
}

// restoringLeader sits in front of a real Consul and, while armed, answers like a leader
// that has not replayed its log yet (F5: the chaos bed saw this right after a full outage):
// the session renew says "not found" and the node's session list is empty, although Consul
// still has the session and it still holds the agent's locks.
type restoringLeader struct {
	proxy *httputil.ReverseProxy
	armed atomic.Bool
	// renewOnly fakes only the renew: consistent reads see the truth (what a leader that
	// has not finished its barrier gives them: an error, or the restored state).
	renewOnly atomic.Bool
	fakes     atomic.Int64
}

func (r *restoringLeader) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if r.armed.Load() {
		switch {
		case req.Method == http.MethodPut && strings.HasPrefix(req.URL.Path, "/v1/session/renew/"):
			r.fakes.Add(1)
			w.Header().Set("X-Consul-Index", "1")
			http.Error(w, "Session id '"+strings.TrimPrefix(req.URL.Path, "/v1/session/renew/")+"' not found", http.StatusNotFound)
			return
		case !r.renewOnly.Load() && req.Method == http.MethodGet && (strings.HasPrefix(req.URL.Path, "/v1/session/node/") || strings.HasPrefix(req.URL.Path, "/v1/session/info/")):
			r.fakes.Add(1)
			w.Header().Set("X-Consul-Index", "1")
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte("[]")) //nolint:errcheck
			return
		}
	}
	r.proxy.ServeHTTP(w, req)
}

// F5: the renew wrongly concludes the session is gone and the agent replaces it while
// Consul still has the old one holding every presence lock. The agent must get rid of its
// previous session and rewrite promptly, not wait up to 2×TTL for Consul to expire it.
func TestReplacedSessionThatStillHoldsTheLocksIsDestroyed(t *testing.T) {
	s := consultest.Start(t, nil)
	target, _ := url.Parse("http://" + s.HTTPAddr)
	rl := &restoringLeader{proxy: httputil.NewSingleHostReverseProxy(target)}
	front := httptest.NewServer(rl)
	defer front.Close()
	cfg := s.Config()
	cfg.Address = strings.TrimPrefix(front.URL, "http://")
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, c, "gw-restore", harnessOpts{ttl: 10 * time.Second})
	for u := uint64(1); u <= 100; u++ {
		a.table.Apply(online(u, 1, 1000))
	}
	a.flush(t)
	old, _, _ := a.sess.Current()
	rl.armed.Store(true)
	proctest.WaitFor(t, 10*time.Second, "the agent to replace its session", func() bool { id, _, _ := a.sess.Current(); return id != old })
	rl.armed.Store(false)
	replaced := time.Now()
	a.table.Apply(online(101, 1, 2000))
	direct := s.Client()
	proctest.WaitFor(t, 6*time.Second, "presence under the new session", func() bool {
		got, pairs := presenceInConsul(t, direct, a.gw)
		id, _, _ := a.sess.Current()
		if id == "" || id == old || len(got) != len(a.table.All()) {
			return false
		}
		for _, p := range pairs {
			if p.Session != id {
				return false
			}
		}
		return true
	})

	t.Logf("rewritten under the new session %s after the replacement", time.Since(replaced).Round(10*time.Millisecond))
	if e, _, err := direct.Session().Info(old, nil); err != nil || e != nil {
		t.Fatalf("the previous session %s still exists (%v, %v)", old, e, err)
	}
}

// F5: a session of this gateway that the agent never knew of (a previous run's, missing
// from the node listing when the agent started) holds one of its keys. The lock failure
// "lock is already held" on our own key means exactly that: destroy it and retry, at once.
func TestLockHeldByAnotherSessionOfThisGatewayIsReleased(t *testing.T) {
	s := consultest.Start(t, nil)
	c := s.Client()
	a := startAgent(t, c, "gw-held", harnessOpts{ttl: 10 * time.Second})
	a.table.Apply(online(1, 1, 1000))
	a.flush(t)
	node, err := c.Agent().NodeName()
	if err != nil {
		t.Fatal(err)
	}
	var user uint64 = 2
	for presencekv.Bucket(user, 1024) == presencekv.Bucket(1, 1024) {
		user++
	}
	stale, _, err := c.Session().Create(&api.SessionEntry{Name: "heartline-agent/gw-held", Node: node, TTL: "10s",
		Behavior: api.SessionBehaviorDelete, LockDelay: time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	key := presencekv.PresenceKey(testPrefix, presencekv.Bucket(user, 1024), "gw-held")
	if ok, _, err := c.KV().Acquire(&api.KVPair{Key: key, Value: []byte("stale"), Session: stale}, nil); !ok || err != nil {
		t.Fatalf("stale session could not take %s: %v", key, err)
	}
	start := time.Now()
	a.table.Apply(online(user, 1, 2000))
	proctest.WaitFor(t, 5*time.Second, "the write under the agent's session", func() bool {
		p, _, err := c.KV().Get(key, nil)
		id, _, _ := a.sess.Current()
		return err == nil && p != nil && p.Session == id && string(p.Value) != "stale"
	})

	t.Logf("written %s after the lock conflict", time.Since(start).Round(10*time.Millisecond))
	sameAsTable(t, c, a)
}

// F5, the cause: a renew that answers "not found" is confirmed with a consistent read
// before the agent gives up a session Consul still has.
func TestRenewNotFoundIsConfirmedBeforeReplacingTheSession(t *testing.T) {
	s := consultest.Start(t, nil)
	target, _ := url.Parse("http://" + s.HTTPAddr)
	rl := &restoringLeader{proxy: httputil.NewSingleHostReverseProxy(target)}
	rl.renewOnly.Store(true)
	front := httptest.NewServer(rl)
	defer front.Close()
	cfg := s.Config()
	cfg.Address = strings.TrimPrefix(front.URL, "http://")
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, c, "gw-confirm", harnessOpts{ttl: 10 * time.Second})
	old, _, _ := a.sess.Current()
	rl.armed.Store(true)
	proctest.WaitFor(t, 15*time.Second, "two renews answered not found", func() bool { return rl.fakes.Load() >= 2 })
	rl.armed.Store(false)
	if id, gen, _ := a.sess.Current(); id != old || gen != 1 {
		t.Fatalf("session replaced (now %q, generation %d) although Consul still had %s", id, gen, old)
	}
}
