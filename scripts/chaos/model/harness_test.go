package model

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"go.uber.org/zap"

	"heartline/agent/agenttest"
	"heartline/agent/watcher"
	"heartline/gateway/gatewaytest"
	"heartline/protocol/presencekv"
	"heartline/protocol/token"
	"heartline/scripts/consultest"
	"heartline/scripts/proctest"
)

// The gateways' presence timing, short so that expiry happens within a few test steps.
// A session is shown until interval×misses + grace + debounce after its last heartbeat.
const (
	interval  = time.Second
	misses    = 2
	grace     = 200 * time.Millisecond
	debounce  = 200 * time.Millisecond
	wheelTick = 100 * time.Millisecond
	shards    = 2
	buckets   = 16

	// shownFor is how long a silent session is still shown (online, then lingering).
	shownFor = interval*misses + grace + debounce
	// wheelSlack is how late the lazy timing wheel may take a session offline: its bucket
	// fires at the first wheel tick at or after the deadline, and the test ticks once per
	// wheel tick.
	wheelSlack = 2 * wheelTick

	// viewBound is how long the views (Consul KV and the watcher) may take to show what the
	// gateways' tables hold once the gateways' clock stands still: the feed's flush, the
	// agent's flush window, a Consul transaction and the watcher's blocking query, or an agent
	// or gateway restart (new Consul session, feed reconnect, snapshot, rewrite). It is real
	// time, measured against a frozen gateway clock, so it bounds the pipeline, not expiry.
	// Settling takes 50-900 ms on a loaded 2-core box and reached 1.5 s at load average 25
	// (-race, other engineers' runs); 10 s keeps make test from flaking there, and a
	// session lost for good is still reported (it never settles).
	viewBound = 10 * time.Second
)

// sessionKey names one session as the views show it: (member, device) on a gateway.
type sessionKey struct {
	user   uint64
	device uint32
	gw     string
}

func (k sessionKey) String() string { return fmt.Sprintf("%d/%d@%s", k.user, k.device, k.gw) }

// cluster is the system under test: gateways with their agents, one Consul, one watcher.
type cluster struct {
	t      *testing.T
	consul *consultest.Server
	client *api.Client
	prefix string
	keys   *token.KeyRing
	now    time.Time // the gateways' fake clock
	gws    []*gateway
	w      *watcher.Watcher
}

func newCluster(t *testing.T, consul *consultest.Server, prefix string, gateways int, start time.Time) *cluster {
	t.Helper()
	c := &cluster{t: t, consul: consul, client: consul.Client(), prefix: prefix, keys: testKeys(t), now: start}
	if err := agenttest.EnsureConfig(c.client, prefix, buckets); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for i := 0; i < gateways; i++ {
		g := &gateway{c: c, id: fmt.Sprintf("gw-%d", i), path: filepath.Join(dir, fmt.Sprintf("gw-%d.sock", i))}
		g.startProcess(uint32(0xE000 + i))
		g.agent = startAgent(t, c.client, prefix, g.id, g.path)
		c.gws = append(c.gws, g)
		t.Cleanup(g.stop)
	}
	w, err := watcher.New(watcher.Options{Client: c.client, Prefix: prefix, WaitTime: 5 * time.Second, Log: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }() //nolint:errcheck
	t.Cleanup(func() { cancel(); <-done })
	c.w = w
	proctest.WaitFor(t, 30*time.Second, "watcher ready", w.Ready)
	return c
}

// advance moves the fake clock by d, one wheel tick at a time; each tick runs first (for
// the apps' schedules and held replies) and then every shard's periodic work.
func (c *cluster) advance(d time.Duration, each func()) {
	for moved := time.Duration(0); moved < d; moved += wheelTick {
		c.now = c.now.Add(wheelTick)
		if each != nil {
			each()
		}
		c.tick()
	}
}

// tick runs every shard's periodic work (wheel, publishing) at the current time and waits
// until the feed writers have taken what was published, as a feed writer that keeps up
// does. That keeps the tables deterministic: what a shard publishes at one tick is out of
// its outbox before the next, so a session's reported state never depends on goroutine
// scheduling.
func (c *cluster) tick() {
	for _, g := range c.gws {
		g.proc.Tick(c.now)
		proctest.WaitFor(c.t, 10*time.Second, g.id+" feed writer took the published batches", g.proc.Published)
	}
}

// gateway is one gateway host: a gateway process (replaced on restart) and its agent
// (replaced on restart), sharing the feed socket path.
type gateway struct {
	c           *cluster
	id          string
	path        string
	proc        *gatewaytest.Process // one run of the gateway binary: table, a handler per shard, feed server
	incarnation int                  // counts gateway processes on this host
	agent       *agentProcess
}

// startProcess starts a new gateway process on this host: a new table (every session of
// the previous process is gone), new handlers with a new epoch, and a new feed server on
// the same socket path, as a restarted gateway binary would.
func (g *gateway) startProcess(epoch uint32) {
	t := g.c.t
	t.Helper()
	p, err := gatewaytest.Start(gatewaytest.Options{Shards: shards, SessionsPerShard: 256, Interval: interval, Misses: misses,
		Grace: grace, Debounce: debounce, WheelTick: wheelTick, Start: g.c.now, Epoch: epoch, Keys: g.c.keys,
		FeedPath: g.path, GatewayID: g.id})
	if err != nil {
		t.Fatal(err)
	}
	g.proc = p
	g.incarnation++
}

// restartProcess kills the gateway process and starts a new one with epoch.
func (g *gateway) restartProcess(epoch uint32) {
	g.proc.Stop() // the old feed server unlinks its socket on the way out
	g.startProcess(epoch)
}

// restartAgent replaces the agent process: crashed (no flush, its Consul session left for
// the new process to destroy) or stopped gracefully (flush, destroy the session).
func (g *gateway) restartAgent(crash bool) {
	if crash {
		g.agent.crash()
	} else {
		g.agent.stop()
	}
	g.agent = startAgent(g.c.t, g.c.client, g.c.prefix, g.id, g.path)
}

func (g *gateway) stop() {
	g.agent.stop()
	g.proc.Stop()
}

// reply is a frame a gateway sent to an address.
type reply = gatewaytest.Reply

// counters are the handlers' counters summed over shards.
type counters gatewaytest.Counters

// frame hands one frame from an app to the handler of shard, at the cluster's time, and
// returns the replies the gateway sent and the handlers' counters before and after.
func (g *gateway) frame(b []byte, from netip.AddrPort, shard int) (replies []reply, before, after counters) {
	before = counters(g.proc.Counters())
	replies = g.proc.Frame(b, from, shard, g.c.now)
	return replies, before, counters(g.proc.Counters())
}

// dropsSince names the drop reasons counted between before and c.
func (c counters) dropsSince(before counters) string {
	var out []string
	for r, n := range c.Drops {
		if d := n - before.Drops[r]; d > 0 {
			out = append(out, fmt.Sprintf("%s×%d", r, d))
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ",")
}

// agentProcess is one run of the agent: feed client, state table, Consul session, writer.
type agentProcess struct {
	t *testing.T
	a *agenttest.Agent
}

func startAgent(t *testing.T, client *api.Client, prefix, gw, path string) *agentProcess {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := agenttest.Start(ctx, agenttest.Options{Client: client, Prefix: prefix, GatewayID: gw, FeedPath: path, Buckets: buckets})
	if err != nil {
		t.Fatal(err)
	}
	return &agentProcess{t: t, a: a}
}

// crash ends the agent without a flush or a session destroy, as a killed process would.
func (a *agentProcess) crash() {
	a.a.Crash()
	a.checkWriter()
}

// stop ends the agent the way SIGTERM does: last flush, then the session is destroyed
// (Consul deletes its keys).
func (a *agentProcess) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = a.a.Stop(ctx)
	a.checkWriter()
}

// checkWriter fails the test if the agent's writer ended on its own, with an error.
func (a *agentProcess) checkWriter() {
	if err := a.a.Err(); err != nil {
		a.t.Errorf("%v", err)
	}
}

// kvView is every session the presence keys show, decoded with presencekv.
func (c *cluster) kvView() (map[sessionKey]bool, error) {
	pairs, _, err := c.client.KV().List(presencekv.PresencePrefix(c.prefix), nil)
	if err != nil {
		return nil, err
	}
	var codec presencekv.Codec
	out := map[sessionKey]bool{}
	for _, p := range pairs {
		_, gw, ok := presencekv.ParsePresenceKey(c.prefix, p.Key)
		if !ok {
			return nil, fmt.Errorf("unparseable presence key %q", p.Key)
		}
		ss, err := codec.DecodeSessions(nil, p.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.Key, err)
		}
		for _, s := range ss {
			out[sessionKey{s.User, s.Device, gw}] = true
		}
	}
	return out, nil
}

// watcherView is every session of users the watcher's cache shows.
func (c *cluster) watcherView(users []uint64) map[sessionKey]bool {
	out := map[sessionKey]bool{}
	for _, u := range users {
		for _, d := range c.w.Lookup(u).Devices {
			out[sessionKey{u, d.Device, d.Gateway}] = true
		}
	}
	return out
}

// viewMismatch says how view differs from what must and may be shown ("" if it does not).
func viewMismatch(name string, view, must, may map[sessionKey]bool) string {
	var lost, ghost []string
	for k := range must {
		if !view[k] {
			lost = append(lost, k.String())
		}
	}
	for k := range view {
		if !must[k] && !may[k] {
			ghost = append(ghost, k.String())
		}
	}
	if len(lost) == 0 && len(ghost) == 0 {
		return ""
	}
	sort.Strings(lost)
	sort.Strings(ghost)
	return fmt.Sprintf("%s: not shown although accepted (lost) %v; shown although dead (ghost) %v", name, lost, ghost)
}

// settle waits until both views show every session in must and nothing outside must and
// may, for at most viewBound. It returns how long that took, or what was still wrong.
// Meanwhile the shards keep ticking at the frozen time, as the ingest loops do every few
// milliseconds whatever the clock says: a feed snapshot is assembled on those ticks.
func (c *cluster) settle(users []uint64, must, may map[sessionKey]bool) (time.Duration, string) {
	start := time.Now()
	var wrong string
	for {
		c.tick()
		kv, err := c.kvView()
		if err != nil {
			wrong = "KV: " + err.Error()
		} else {
			wrong = viewMismatch("KV", kv, must, may)
			if wrong == "" {
				wrong = viewMismatch("watcher", c.watcherView(users), must, may)
			}
		}
		if wrong == "" {
			return time.Since(start), ""
		}
		if time.Since(start) > viewBound {
			return time.Since(start), wrong
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testKeys(t testing.TB) *token.KeyRing {
	t.Helper()
	r := token.NewKeyRing()
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(5*i + 3)
	}
	if err := r.Add(1, secret); err != nil {
		t.Fatal(err)
	}
	if err := r.SetCurrent(1); err != nil {
		t.Fatal(err)
	}
	return r
}
