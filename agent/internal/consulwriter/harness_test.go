package consulwriter

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"go.uber.org/zap/zaptest"

	"heartline/agent/internal/metrics"
	"heartline/agent/internal/state"
	"heartline/protocol/presencekv"
)

const testPrefix = "hltest"

// agentUnderTest is one gateway's writer against a real Consul, run with the real clock
// and a short flush window.
type agentUnderTest struct {
	gw      string
	table   *state.Table
	sess    *Session
	writer  *Writer
	metrics *metrics.Agent
	cancel  context.CancelFunc
	done    sync.WaitGroup
}

type harnessOpts struct {
	buckets uint32
	lanes   int
	ttl     time.Duration
	checkID string
	maxOps  int
}

func startAgent(t *testing.T, c *api.Client, gw string, ho harnessOpts) *agentUnderTest {
	t.Helper()
	if ho.buckets == 0 {
		ho.buckets = 1024
	}
	if ho.lanes == 0 {
		ho.lanes = 2
	}
	if ho.ttl == 0 {
		ho.ttl = 10 * time.Second
	}
	if _, err := EnsureConfig(c, testPrefix, ho.buckets); err != nil {
		t.Fatal(err)
	}
	a := &agentUnderTest{gw: gw, table: state.New(ho.buckets, ho.lanes, 0), metrics: metrics.New(nil)}
	log := zaptest.NewLogger(t).Named(gw)
	a.sess = NewSession(c, SessionOptions{Name: "heartline-agent/" + gw, TTL: ho.ttl, ServiceCheckID: ho.checkID,
		Log: log, Metrics: a.metrics, OnNew: func(uint64) { a.table.MarkAllDirty() }})
	var err error
	a.writer, err = New(Options{Client: c, Prefix: testPrefix, GatewayID: gw, Table: a.table, Session: a.sess,
		FlushWindow: 20 * time.Millisecond, MaxOps: ho.maxOps, BackoffMin: 20 * time.Millisecond, BackoffMax: 500 * time.Millisecond,
		Log: log, Metrics: a.metrics})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
	defer ccancel()
	if err := a.sess.Create(cctx); err != nil {
		t.Fatal(err)
	}
	a.done.Add(2)
	go func() { defer a.done.Done(); a.sess.Run(ctx) }()
	go func() {
		defer a.done.Done()
		if err := a.writer.Run(ctx); err != nil {
			t.Errorf("writer: %v", err)
		}
	}()
	t.Cleanup(a.stop)
	return a
}

func (a *agentUnderTest) stop() {
	a.cancel()
	a.done.Wait()
}

func (a *agentUnderTest) flush(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := a.writer.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// presenceInConsul reads every presence key of gateway gw and decodes the sessions.
func presenceInConsul(t *testing.T, c *api.Client, gw string) (map[presencekv.Session]bool, api.KVPairs) {
	t.Helper()
	pairs, _, err := c.KV().List(presencekv.PresencePrefix(testPrefix), &api.QueryOptions{RequireConsistent: true})
	if err != nil {
		t.Fatal(err)
	}
	var codec presencekv.Codec
	out := map[presencekv.Session]bool{}
	var mine api.KVPairs
	for _, p := range pairs {
		_, g, ok := presencekv.ParsePresenceKey(testPrefix, p.Key)
		if !ok {
			t.Fatalf("unparseable presence key %q", p.Key)
		}
		if g != gw {
			continue
		}
		mine = append(mine, p)
		ss, err := codec.DecodeSessions(nil, p.Value)
		if err != nil {
			t.Fatalf("%s: %v", p.Key, err)
		}
		for _, s := range ss {
			out[s] = true
		}
	}
	return out, mine
}

func sameAsTable(t *testing.T, c *api.Client, a *agentUnderTest) {
	t.Helper()
	got, _ := presenceInConsul(t, c, a.gw)
	want := a.table.All()
	if len(got) != len(want) {
		t.Fatalf("Consul holds %d sessions of %s, the table %d", len(got), a.gw, len(want))
	}
	for _, s := range want {
		if !got[s] {
			t.Fatalf("session %+v missing from Consul", s)
		}
	}
}

func online(user uint64, device uint32, at int64) presencekv.Transition {
	return presencekv.Transition{Kind: presencekv.KindOnline, User: user, Device: device, Status: 2, At: at}
}

func offline(user uint64, device uint32, at int64) presencekv.Transition {
	return presencekv.Transition{Kind: presencekv.KindOffline, User: user, Device: device, Status: 2, At: at}
}
