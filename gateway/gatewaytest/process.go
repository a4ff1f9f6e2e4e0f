package gatewaytest

import (
	"context"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"heartline/gateway/internal/feedserver"
	"heartline/gateway/internal/ingest"
	"heartline/gateway/internal/table"
	"heartline/protocol/token"
)

// Options configure Start. Zero durations take the table's defaults.
type Options struct {
	Shards           int
	SessionsPerShard int
	Interval         time.Duration // heartbeat interval announced in WELCOME
	Misses           int
	Grace            time.Duration
	Debounce         time.Duration
	WheelTick        time.Duration
	Start            time.Time // the table's clock origin
	Epoch            uint32
	Keys             *token.KeyRing

	// FeedPath is the Unix socket the feed server listens on; GatewayID names the gateway
	// in the feed. FeedFlushInterval is how often the feed server flushes (default 5 ms).
	FeedPath          string
	GatewayID         string
	FeedFlushInterval time.Duration
	Log               *zap.Logger // default: discard
}

// Reply is a frame the gateway sent to an address.
type Reply struct {
	To    netip.AddrPort
	Frame []byte
}

// Counters are the handlers' counters summed over shards; Drops is keyed by drop reason.
type Counters struct {
	Heartbeats, Byes, Hellos, Rehellos uint64
	Drops                              map[string]uint64
}

// Process is one run of the gateway's core, driven by the caller: frames are handed to the
// handler of the shard the caller names, as the ingest loop owning that shard would, and
// every loop is played on the caller's goroutine. Its methods are not safe for concurrent
// use (the feed server runs on its own goroutine, as in the gateway).
type Process struct {
	tb       *table.Table
	epoch    uint32
	drain    *ingest.Drain
	handlers []*ingest.Handler
	feed     *feedserver.Server
	now      ingest.Now // the time of the frame being handled, for hand-offs
	replies  []Reply    // replies captured while one frame was handled
	cancel   context.CancelFunc
	done     chan struct{}
}

// Start builds a table, a handler per shard and a feed server listening on o.FeedPath,
// and runs the feed server until Stop.
func Start(o Options) (*Process, error) {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.FeedFlushInterval == 0 {
		o.FeedFlushInterval = 5 * time.Millisecond
	}
	tb, err := table.New(table.Options{Shards: o.Shards, SessionsPerShard: o.SessionsPerShard, Interval: o.Interval,
		Misses: o.Misses, Grace: o.Grace, Debounce: o.Debounce, WheelTick: o.WheelTick, Start: o.Start, Epoch: o.Epoch})
	if err != nil {
		return nil, err
	}
	p := &Process{tb: tb, epoch: o.Epoch, drain: new(ingest.Drain), done: make(chan struct{})}
	for i := 0; i < o.Shards; i++ {
		p.handlers = append(p.handlers, ingest.NewHandler(tb, i, loops{p}, loops{p}, ingest.HandlerOptions{Keys: o.Keys, Epoch: o.Epoch, Drain: p.drain}))
	}
	p.feed, err = feedserver.Listen(tb, feedserver.Options{Path: o.FeedPath, GatewayID: o.GatewayID, Epoch: o.Epoch,
		StartedAt: o.Start, FlushInterval: o.FeedFlushInterval, Log: o.Log})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() { defer close(p.done); p.feed.Run(ctx) }() //nolint:errcheck
	return p, nil
}

// Stop ends the process as a kill would: the feed server stops and unlinks its socket.
func (p *Process) Stop() {
	p.cancel()
	<-p.done
}

// Epoch is the epoch the process was started with.
func (p *Process) Epoch() uint32 { return p.epoch }

// Online is the number of sessions the table holds online.
func (p *Process) Online() int64 { return p.tb.Online() }

// Frame hands one frame from an app at from to the handler of shard, at time now, and
// returns the replies the gateway sent (copies).
func (p *Process) Frame(b []byte, from netip.AddrPort, shard int, now time.Time) []Reply {
	var addr ingest.Addr
	addr.SetAddrPort(from)
	p.now = p.nowAt(now)
	p.replies = p.replies[:0]
	p.handlers[shard].Frame(b, &addr, nil, p.now)
	return append([]Reply(nil), p.replies...)
}

// Tick runs every shard's periodic work (timing wheel, publishing to the feed) at now.
func (p *Process) Tick(now time.Time) {
	n := p.nowAt(now)
	for _, h := range p.handlers {
		h.Tick(n)
	}
}

// Published reports whether the feed writer has taken every batch the shards published.
func (p *Process) Published() bool {
	for i := 0; i < p.tb.Shards(); i++ {
		if p.tb.Shard(i).Outbox().Ready() {
			return false
		}
	}
	return true
}

// StartDrain flips the drain flag as SIGTERM or POST /drain does; false if already draining.
func (p *Process) StartDrain(now time.Time) bool { return p.drain.Start(now) }

// Draining reports whether the process drains, and since when.
func (p *Process) Draining() (bool, time.Time) { return p.drain.Active(), p.drain.Since() }

// Counters sums the handlers' counters.
func (p *Process) Counters() Counters {
	c := Counters{Drops: map[string]uint64{}}
	for _, h := range p.handlers {
		s := h.Stats
		c.Heartbeats += s.Heartbeats.Load()
		c.Byes += s.Byes.Load()
		c.Hellos += s.Hellos.Load()
		c.Rehellos += s.Rehellos.Load()
		for _, r := range ingest.DropReasons {
			c.Drops[r.String()] += s.Drops(r)
		}
	}
	return c
}

// FirstSlot is the slot a fresh table of shards×sessionsPerShard with epoch hands out to
// its first HELLO on shard 0: tests use it to find epochs whose slots collide.
func FirstSlot(shards, sessionsPerShard int, epoch uint32, start time.Time) (uint32, error) {
	tb, err := table.New(table.Options{Shards: shards, SessionsPerShard: sessionsPerShard, Epoch: epoch, Start: start})
	if err != nil {
		return 0, err
	}
	slot, _, _, _ := tb.Shard(0).Hello(table.HelloParams{User: 1, Device: 1, Stamp: 1}, 0)
	return slot, nil
}

// loops plays every ingest loop of p on the caller's goroutine: it is the handlers' Sender
// and Router, kept unexported so that no internal type shows in this package's API.
type loops struct{ p *Process }

// Send captures a reply (ingest.Sender).
func (l loops) Send(frame []byte, to *ingest.Addr) {
	l.p.replies = append(l.p.replies, Reply{To: to.AddrPort(), Frame: append([]byte(nil), frame...)})
}

// Route hands a frame to the handler owning shard at once (ingest.Router).
func (l loops) Route(shard int, h *ingest.Handoff) bool {
	l.p.handlers[shard].Handoff(h, l.p.now)
	return true
}

func (p *Process) nowAt(t time.Time) ingest.Now {
	return ingest.Now{Time: t, Tick: p.tb.Tick(t)}
}
