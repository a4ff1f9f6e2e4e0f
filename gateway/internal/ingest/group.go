package ingest

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"heartline/agent/shared/clock"
	"heartline/gateway/internal/table"
)

// Options configures the UDP ingest.
type Options struct {
	Addr       string        // UDP listen address, e.g. ":7946"; port 0 picks one (all loops share it)
	Loops      int           // one SO_REUSEPORT socket and one table shard each; default 1
	Batch      int           // datagrams per recvmmsg; default 64
	RecvBuffer int           // SO_RCVBUF(FORCE) bytes requested per socket; default 16 MiB
	TickEvery  time.Duration // receive timeout = period of the shard tick; default 10ms
	InboxSize  int           // hand-off inbox per loop; default 1024
	// Coalesce: after a recvmmsg that returned a partly filled batch, wait this long before
	// the next one so datagrams accumulate (interrupt coalescing, in user space). At moderate
	// load this turns one thread wake-up per datagram into one per Coalesce, for at most
	// Coalesce of added latency; at full batches there is no wait. 0 = default 1ms, <0 = off.
	Coalesce    time.Duration
	Clock       clock.Clock // default clock.Real
	Log         *zap.Logger
	Handler     HandlerOptions
	OnRecvBatch func(n int) // called with the fill of every recvmmsg (metrics); may be nil
}

func (o *Options) defaults() {
	if o.Loops <= 0 {
		o.Loops = 1
	}
	if o.Batch <= 0 {
		o.Batch = 64
	}
	if o.RecvBuffer <= 0 {
		o.RecvBuffer = 16 << 20
	}
	if o.TickEvery <= 0 {
		o.TickEvery = 10 * time.Millisecond
	}
	if o.InboxSize <= 0 {
		o.InboxSize = 1024
	}
	if o.Coalesce == 0 {
		o.Coalesce = time.Millisecond
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
}

// Group is the set of UDP loops. Loop i owns table shard i; further shards (the TCP
// worker's) are reachable through AddInbox so hand-offs can reach them.
type Group struct {
	opts    Options
	tb      *table.Table
	loops   []*Loop
	inboxes []chan Handoff
	stop    atomic.Bool
	wg      sync.WaitGroup
	addr    netip.AddrPort
}

// NewGroup opens opts.Loops sockets bound to opts.Addr. The table must have at least
// opts.Loops shards.
func NewGroup(tb *table.Table, opts Options) (*Group, error) {
	opts.defaults()
	if tb.Shards() < opts.Loops {
		return nil, fmt.Errorf("ingest: table has %d shards for %d loops", tb.Shards(), opts.Loops)
	}
	g := &Group{opts: opts, tb: tb, inboxes: make([]chan Handoff, tb.Shards())}
	for i := 0; i < opts.Loops; i++ {
		g.inboxes[i] = make(chan Handoff, opts.InboxSize)
	}
	addr := opts.Addr
	for i := 0; i < opts.Loops; i++ {
		l, err := openLoop(g, i, addr)
		if err != nil {
			g.closeAll()
			return nil, err
		}
		g.loops = append(g.loops, l)
		if i == 0 {
			g.addr = l.LocalAddr()
			addr = g.addr.String() // later loops share the port the first one got
		}
	}
	return g, nil
}

// SetInbox registers the inbox of a non-UDP shard (the TCP worker), so hand-offs reach it.
func (g *Group) SetInbox(shard int, inbox chan Handoff) { g.inboxes[shard] = inbox }

// Route implements Router.
func (g *Group) Route(shard int, h *Handoff) bool {
	if shard < 0 || shard >= len(g.inboxes) || g.inboxes[shard] == nil {
		return false
	}
	select {
	case g.inboxes[shard] <- *h:
		return true
	default:
		return false
	}
}

// LocalAddr is the address all loops are bound to.
func (g *Group) LocalAddr() netip.AddrPort { return g.addr }

// Loops returns the loops (for stats).
func (g *Group) Loops() []*Loop { return g.loops }

// Start runs every loop on its own locked OS thread.
func (g *Group) Start() {
	for _, l := range g.loops {
		g.wg.Add(1)
		go func() { defer g.wg.Done(); l.run() }()
	}
}

// Stop makes the loops return (within one TickEvery) and closes their sockets. After
// Stop, the loops' shards belong to the caller (for the final feed flush).
func (g *Group) Stop() {
	g.stop.Store(true)
	g.wg.Wait()
	g.closeAll()
}

func (g *Group) closeAll() {
	for _, l := range g.loops {
		l.close()
	}
}

// FlushShards publishes every dirty session of the loops' shards, waiting for the feed
// writer to take each batch. Call after Stop, while the feed server still runs.
func (g *Group) FlushShards(ctx context.Context) {
	now := g.tb.Tick(g.opts.Clock.Now())
	for _, l := range g.loops {
		FlushShard(ctx, l.h.Shard(), now)
	}
}

// FlushShard publishes shard's dirty sessions until none is left or ctx ends. The caller
// must own the shard.
func FlushShard(ctx context.Context, s *table.Shard, now uint32) {
	for ctx.Err() == nil {
		if !s.Outbox().Ready() {
			s.Tick(now)
			if !s.Outbox().Ready() && s.Pending() == 0 {
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
}

// Stats returns every loop's counters.
func (g *Group) Stats() []*Stats {
	out := make([]*Stats, len(g.loops))
	for i, l := range g.loops {
		out[i] = l.h.Stats
	}
	return out
}
