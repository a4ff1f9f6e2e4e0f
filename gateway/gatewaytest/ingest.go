package gatewaytest

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"heartline/gateway/internal/ingest"
	"heartline/gateway/internal/table"
	"heartline/protocol/token"
)

// IngestOptions configure StartIngest.
type IngestOptions struct {
	Addr             string // UDP listen address
	Loops            int    // ingest loops (SO_REUSEPORT sockets), one table shard each
	Batch            int    // datagrams per recvmmsg
	RecvBuffer       int    // SO_RCVBUF bytes per socket
	SessionsPerShard int
	Interval         time.Duration // heartbeat interval announced in WELCOME
	Keys             *token.KeyRing
	Epoch            uint32
	// Unlimited lifts the HELLO rate limits (a load generator says HELLO from few sources).
	Unlimited bool
}

// Ingest is the gateway's UDP hot path alone: the ingest loops on a table, exactly the
// code the gateway process runs, with a feed consumer that takes and discards every
// published batch instead of a feed server.
type Ingest struct {
	tb      *table.Table
	g       *ingest.Group
	records atomic.Uint64
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// StartIngest binds the sockets and starts the loops and the discarding feed consumer.
func StartIngest(o IngestOptions) (*Ingest, error) {
	tb, err := table.New(table.Options{Shards: o.Loops, SessionsPerShard: o.SessionsPerShard, Interval: o.Interval})
	if err != nil {
		return nil, err
	}
	h := ingest.HandlerOptions{Keys: o.Keys, Epoch: o.Epoch}
	if o.Unlimited {
		h.HelloPerSource, h.HelloBurst, h.HelloPerLoop = 1e9, 1e9, 1e9
	}
	g, err := ingest.NewGroup(tb, ingest.Options{Addr: o.Addr, Loops: o.Loops, Batch: o.Batch, RecvBuffer: o.RecvBuffer,
		Log: zap.NewNop(), Handler: h})
	if err != nil {
		return nil, err
	}
	in := &Ingest{tb: tb, g: g}
	ctx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	in.wg.Add(1)
	go func() { defer in.wg.Done(); in.consumeFeed(ctx) }()
	g.Start()
	return in, nil
}

// LocalAddr is the bound UDP address.
func (in *Ingest) LocalAddr() netip.AddrPort { return in.g.LocalAddr() }

// Stop stops the loops and the feed consumer.
func (in *Ingest) Stop() {
	in.g.Stop()
	in.cancel()
	in.wg.Wait()
}

// Stats are the loops' counters summed: datagrams, heartbeats, hellos, rehellos, byes,
// online (sessions), records (taken from the outbox), and drop_<reason> for every drop
// reason counted at least once.
func (in *Ingest) Stats() map[string]uint64 {
	var d, h, he, re, by uint64
	stats := in.g.Stats()
	for _, s := range stats {
		d += s.Datagrams.Load()
		h += s.Heartbeats.Load()
		he += s.Hellos.Load()
		re += s.Rehellos.Load()
		by += s.Byes.Load()
	}
	m := map[string]uint64{"datagrams": d, "heartbeats": h, "hellos": he, "rehellos": re, "byes": by,
		"online": uint64(in.tb.Online()), "records": in.records.Load()}
	for _, r := range ingest.DropReasons {
		var n uint64
		for _, s := range stats {
			n += s.Drops(r)
		}
		if n > 0 {
			m["drop_"+r.String()] = n
		}
	}
	return m
}

// consumeFeed plays the feed writer: it takes every ready outbox batch and gives it back.
func (in *Ingest) consumeFeed(ctx context.Context) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for i := 0; i < in.tb.Shards(); i++ {
			o := in.tb.Shard(i).Outbox()
			if o.Ready() {
				in.records.Add(uint64(len(o.Records) + len(o.Snapshot)))
				o.Done()
			}
		}
	}
}
