package consulrejoin

import (
	"context"
	"os"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"go.uber.org/zap/zaptest"

	"heartline/agent/shared/clock"
	"heartline/scripts/consultest"
	"heartline/scripts/proctest"
)

// serfReconnectInterval is serf's hard-coded ReconnectInterval (hashicorp/consul#10220).
const serfReconnectInterval = 30 * time.Second

// Chaos issue 7 against a real Consul: a client agent C (the gateway host's) sees its only
// server S fail; S comes back without its serf snapshot, so S does not rejoin C, and C
// would retry S only at its next 30 s serf reconnect tick. With the rejoiner running on C,
// C's KV and session calls work again within 10 s of S's restart, and the join was the
// rejoiner's: its counter says so and C's log shows no serf reconnect attempt before it.
func TestRejoinsServerLongBeforeSerfReconnect(t *testing.T) {
	s := consultest.Start(t, nil)
	c := consultest.StartClient(t, s, nil)
	cl := c.Client()
	if _, err := cl.KV().Put(&api.KVPair{Key: "rejoin-test/before", Value: []byte("1")}, nil); err != nil {
		t.Fatalf("KV put through the client agent before the failure: %v", err)
	}

	agentCfg := c.Config()
	agentCfg.HttpClient = nil
	agentCfg.Transport = nil
	rc, err := api.NewClient(agentCfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Options{Agent: rc.Agent(), Every: 500 * time.Millisecond, FastEvery: 250 * time.Millisecond,
		BackoffMax: time.Second, Clock: clock.Real{}, Log: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); r.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()

	s.Kill()
	proctest.WaitFor(t, 30*time.Second, "the client agent to mark the server failed", func() bool {
		return memberStatus(t, cl, s.NodeName) == statusFailed
	})

	proctest.WaitFor(t, 5*time.Second, "the rejoiner to try (and fail) to join the dead server", func() bool {
		return r.Stats().JoinsFailed > 0
	})

	if err := os.Remove(s.SerfSnapshotPath()); err != nil {
		t.Fatalf("removing the server's serf snapshot: %v", err)
	}
	// Do not restart S in the seconds before one of C's serf reconnect ticks (every 30 s
	// from about C's start): that tick would race the rejoiner and the test would prove
	// nothing. The guard leaves the rejoiner a window of at least 20 s.
	if phase := time.Since(c.Started()) % serfReconnectInterval; phase > serfReconnectInterval-10*time.Second {
		time.Sleep(serfReconnectInterval - phase + 2*time.Second)
	}
	logBefore := len(c.LogTail(1 << 20))
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()

	proctest.WaitFor(t, 10*time.Second, "KV put and session create through the client agent", func() bool {
		if _, err := cl.KV().Put(&api.KVPair{Key: "rejoin-test/after", Value: []byte("2")}, nil); err != nil {
			return false
		}
		id, _, err := cl.Session().Create(&api.SessionEntry{TTL: "10s", Behavior: api.SessionBehaviorDelete}, nil)
		if err != nil {
			return false
		}
		cl.Session().Destroy(id, nil)
		return true
	})

	t.Logf("client agent usable %s after the server restarted; joins ok=%d, failed=%d",
		time.Since(restarted).Round(10*time.Millisecond), r.Stats().JoinsOK, r.Stats().JoinsFailed)
	if r.Stats().JoinsOK == 0 {
		t.Fatal("the client agent recovered but the rejoiner made no successful join: something else rejoined the server")
	}
	after := c.LogTail(1 << 20)
	if len(after) > logBefore {
		after = after[logBefore:]
	}
	if regexp.MustCompile(`serf: attempting reconnect to`).MatchString(after) {
		t.Fatalf("serf's own reconnect ran while the server was coming back; the test cannot tell who rejoined:\n%s", after)
	}
}

func memberStatus(t *testing.T, cl *api.Client, name string) int {
	members, err := cl.Agent().Members(false)
	if err != nil {
		return -1
	}
	for _, m := range members {
		if m.Name == name {
			return m.Status
		}
	}
	return 0
}
