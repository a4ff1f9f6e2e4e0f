package model

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"go.uber.org/zap"

	"heartline/agent/consulwriter"
	"heartline/agent/feedclient"
	"heartline/agent/state"
	"heartline/agent/watcher"
	"heartline/gateway/feedserver"
	"heartline/gateway/ingest"
	"heartline/gateway/table"
	"heartline/protocol/presencekv"
	"heartline/protocol/token"
	"heartline/scripts/consultest"
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
	if _, err := consulwriter.EnsureConfig(c.client, prefix, buckets); err != nil {
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
	waitUntil(t, "watcher ready", 30*time.Second, w.Ready)
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
		p := g.proc
		now := p.nowAt(c.now)
		for _, h := range p.handlers {
			h.Tick(now)
		}
		waitUntil(c.t, g.id+" feed writer took the published batches", 10*time.Second, func() bool {
			for i := 0; i < p.tb.Shards(); i++ {
				if p.tb.Shard(i).Outbox().Ready() {
					return false
				}
			}
			return true
		})
	}
}

// gateway is one gateway host: a gateway process (replaced on restart) and its agent
// (replaced on restart), sharing the feed socket path.
type gateway struct {
	c           *cluster
	id          string
	path        string
	proc        *gatewayProcess
	incarnation int // counts gateway processes on this host
	agent       *agentProcess
}

// gatewayProcess is what one run of the gateway binary holds: a table, a handler per shard,
// a feed server. Frames are handed to the handlers by the test, as the ingest loops would.
type gatewayProcess struct {
	tb       *table.Table
	epoch    uint32
	drain    *ingest.Drain // flipped by the model's drain operation (SIGTERM or POST /drain)
	handlers []*ingest.Handler
	feed     *feedserver.Server
	now      ingest.Now // the time of the frame being handled, for hand-offs
	replies  []reply    // replies captured while one frame was handled
	cancel   context.CancelFunc
	done     chan struct{}
}

// reply is a frame a gateway sent to an address.
type reply struct {
	to    ingest.Addr
	frame []byte
}

// Send captures a reply (ingest.Sender).
func (p *gatewayProcess) Send(frame []byte, to *ingest.Addr) {
	p.replies = append(p.replies, reply{to: *to, frame: append([]byte(nil), frame...)})
}

// Route hands a frame to the loop owning shard at once (ingest.Router): the test plays
// every loop on one goroutine.
func (p *gatewayProcess) Route(shard int, h *ingest.Handoff) bool {
	p.handlers[shard].Handoff(h, p.now)
	return true
}

func (p *gatewayProcess) nowAt(t time.Time) ingest.Now {
	return ingest.Now{Time: t, Tick: p.tb.Tick(t)}
}

// startProcess starts a new gateway process on this host: a new table (every session of
// the previous process is gone), new handlers with a new epoch, and a new feed server on
// the same socket path, as a restarted gateway binary would.
func (g *gateway) startProcess(epoch uint32) {
	t := g.c.t
	t.Helper()
	tb, err := table.New(table.Options{Shards: shards, SessionsPerShard: 256, Interval: interval, Misses: misses,
		Grace: grace, Debounce: debounce, WheelTick: wheelTick, Start: g.c.now, Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	p := &gatewayProcess{tb: tb, epoch: epoch, drain: new(ingest.Drain), done: make(chan struct{})}
	for i := 0; i < shards; i++ {
		p.handlers = append(p.handlers, ingest.NewHandler(tb, i, p, p, ingest.HandlerOptions{Keys: g.c.keys, Epoch: epoch, Drain: p.drain}))
	}
	p.feed, err = feedserver.Listen(tb, feedserver.Options{Path: g.path, GatewayID: g.id, Epoch: epoch,
		StartedAt: g.c.now, FlushInterval: 5 * time.Millisecond, Log: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() { defer close(p.done); p.feed.Run(ctx) }() //nolint:errcheck
	g.proc = p
	g.incarnation++
}

// restartProcess kills the gateway process and starts a new one with epoch.
func (g *gateway) restartProcess(epoch uint32) {
	g.proc.cancel()
	<-g.proc.done // the old feed server unlinks its socket on the way out
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
	g.proc.cancel()
	<-g.proc.done
}

// frame hands one frame from an app to the handler of shard, at the cluster's time, and
// returns the replies the gateway sent and the handlers' counters before and after.
func (g *gateway) frame(b []byte, from *ingest.Addr, shard int) (replies []reply, before, after counters) {
	p := g.proc
	before = p.counters()
	p.now = p.nowAt(g.c.now)
	p.replies = p.replies[:0]
	p.handlers[shard].Frame(b, from, nil, p.now)
	replies = append([]reply(nil), p.replies...)
	return replies, before, p.counters()
}

// counters are the handlers' counters summed over shards.
type counters struct {
	heartbeats, byes, hellos, rehellos uint64
	drops                              map[string]uint64
}

func (p *gatewayProcess) counters() counters {
	c := counters{drops: map[string]uint64{}}
	for _, h := range p.handlers {
		s := h.Stats
		c.heartbeats += s.Heartbeats.Load()
		c.byes += s.Byes.Load()
		c.hellos += s.Hellos.Load()
		c.rehellos += s.Rehellos.Load()
		for _, r := range ingest.DropReasons {
			c.drops[r] += s.Drops(r)
		}
	}
	return c
}

// dropsSince names the drop reasons counted between before and c.
func (c counters) dropsSince(before counters) string {
	var out []string
	for r, n := range c.drops {
		if d := n - before.drops[r]; d > 0 {
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
	sess   *consulwriter.Session
	writer *consulwriter.Writer
	cancel context.CancelFunc // feed, session renewal and writer
	wg     sync.WaitGroup
}

func startAgent(t *testing.T, client *api.Client, prefix, gw, path string) *agentProcess {
	t.Helper()
	tbl := state.New(buckets, 2, 0)
	a := &agentProcess{}
	a.sess = consulwriter.NewSession(client, consulwriter.SessionOptions{Name: "heartline-agent/" + gw, TTL: 10 * time.Second,
		Log: zap.NewNop(), OnNew: func(gen uint64) {
			if gen > 1 {
				tbl.MarkAllDirty()
			}
		}})
	var err error
	a.writer, err = consulwriter.New(consulwriter.Options{Client: client, Prefix: prefix, GatewayID: gw, Table: tbl, Session: a.sess,
		FlushWindow: 10 * time.Millisecond, BackoffMin: 10 * time.Millisecond, BackoffMax: 200 * time.Millisecond, Log: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	feed := feedclient.New(feedclient.Options{Path: path, Table: tbl, GatewayID: gw, BackoffMin: 10 * time.Millisecond,
		BackoffMax: 100 * time.Millisecond, Log: zap.NewNop()})
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
	defer ccancel()
	if err := a.sess.Create(cctx); err != nil {
		cancel()
		t.Fatalf("agent %s: Consul session: %v", gw, err)
	}
	a.wg.Add(3)
	go func() { defer a.wg.Done(); feed.Run(ctx) }()
	go func() { defer a.wg.Done(); a.sess.Run(ctx) }()
	go func() {
		defer a.wg.Done()
		if err := a.writer.Run(ctx); err != nil && ctx.Err() == nil {
			t.Errorf("agent %s writer: %v", gw, err)
		}
	}()
	return a
}

// crash ends the agent without a flush or a session destroy, as a killed process would.
func (a *agentProcess) crash() {
	a.cancel()
	a.wg.Wait()
}

// stop ends the agent the way SIGTERM does: last flush, then the session is destroyed
// (Consul deletes its keys).
func (a *agentProcess) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = a.writer.Flush(ctx)
	a.cancel()
	a.wg.Wait()
	_ = a.sess.Destroy()
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

// waitUntil polls cond until it holds, failing the test after timeout.
func waitUntil(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(time.Millisecond)
	}
}
