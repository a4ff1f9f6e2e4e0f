package consulwriter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"
	"go.uber.org/zap"

	"heartline/agent/internal/metrics"
	"heartline/agent/internal/state"
	"heartline/agent/shared/clock"
	"heartline/protocol/presencekv"
)

// Consul's limits on one transaction (Consul 1.21: agent/txn_endpoint.go maxTxnOps = 128;
// limits.txn_max_req_len defaults to 512 KiB of request body).
const (
	ConsulMaxTxnOps   = 128
	ConsulMaxTxnBytes = 512 << 10
)

// Options configure a Writer. Zero values take the documented defaults.
type Options struct {
	Client    *api.Client
	Prefix    string
	GatewayID string
	Table     *state.Table
	Session   *Session

	FlushWindow time.Duration // default 200ms
	MaxOps      int           // ops per transaction, default and maximum ConsulMaxTxnOps
	// MaxBytes is the estimated request size a transaction may reach; default 3/4 of
	// ConsulMaxTxnBytes (the margin covers JSON framing the estimate does not count).
	MaxBytes int
	// LastSeenRetention drops last-seen entries older than this when a bucket is written.
	LastSeenRetention time.Duration // default 7 days (the agent flag -lastseen-retention)
	// LastSeenSweep is how long one pass of the last-seen sweep over every bucket takes
	// (lastseen_sweep.go): an entry is gone at most this long after it passed the retention,
	// even in a bucket that is never written again. Default a quarter of the retention, at
	// most an hour.
	LastSeenSweep time.Duration
	BackoffMin    time.Duration // default 50ms
	BackoffMax    time.Duration // default 5s
	// MaxChangeTransitions caps the transitions one change record carries (all window
	// entries together); a flush larger than that is published as Incomplete. Default 2048.
	MaxChangeTransitions int
	// ChangeWindow is how many flushes a lane's change record carries (the newest plus
	// older ones, so a watcher that missed an overwrite can catch up without re-reading
	// buckets). Every watcher receives the whole record on every change, so this trades
	// watcher bytes for gap tolerance. Default 4.
	ChangeWindow int

	Clock   clock.Clock
	Log     *zap.Logger
	Metrics *metrics.Agent
}

// Writer commits the state table's dirty buckets to Consul.
type Writer struct {
	o     Options
	lanes []*lane
	kick  []chan struct{}
	busy  atomic.Int64

	sweepTick time.Duration // each lane sweeps sweepN last-seen buckets every sweepTick
	sweepN    int
}

// New checks the options and returns a writer; Run starts it.
func New(o Options) (*Writer, error) {
	if o.Client == nil || o.Table == nil || o.Session == nil {
		return nil, errors.New("consulwriter: Client, Table and Session are required")
	}
	if err := presencekv.ValidatePrefix(o.Prefix); err != nil {
		return nil, err
	}
	if err := presencekv.ValidateGatewayID(o.GatewayID); err != nil {
		return nil, err
	}
	if o.FlushWindow == 0 {
		o.FlushWindow = 200 * time.Millisecond
	}
	if o.MaxOps == 0 || o.MaxOps > ConsulMaxTxnOps {
		o.MaxOps = ConsulMaxTxnOps
	}
	if o.MaxOps < 3 {
		return nil, fmt.Errorf("consulwriter: MaxOps %d leaves no room for bucket ops; use 3..%d", o.MaxOps, ConsulMaxTxnOps)
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = ConsulMaxTxnBytes * 3 / 4
	}
	if o.LastSeenRetention == 0 {
		o.LastSeenRetention = 7 * 24 * time.Hour
	}
	if o.LastSeenSweep <= 0 {
		o.LastSeenSweep = min(o.LastSeenRetention/4, time.Hour)
	}
	if o.BackoffMin == 0 {
		o.BackoffMin = 50 * time.Millisecond
	}
	if o.BackoffMax == 0 {
		o.BackoffMax = 5 * time.Second
	}
	if o.MaxChangeTransitions == 0 {
		o.MaxChangeTransitions = 2048
	}
	if o.ChangeWindow <= 0 || o.ChangeWindow > presencekv.MaxChangeEntries {
		o.ChangeWindow = 4
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New(nil)
	}
	w := &Writer{o: o}
	w.sweepTick, w.sweepN = sweepPlan(o.LastSeenSweep, (int(o.Table.Buckets())+o.Table.Lanes()-1)/o.Table.Lanes())
	for i := 0; i < o.Table.Lanes(); i++ {
		w.lanes = append(w.lanes, newLane(w, i))
		w.kick = append(w.kick, make(chan struct{}, 1))
	}
	return w, nil
}

// Run loads the last-seen keys, retrying with backoff while Consul cannot answer (an agent
// may start during an election), then flushes every FlushWindow (or as soon as the table
// says enough buckets are dirty) until ctx ends. The session must exist (Session.Create).
// It returns nil when ctx ends.
func (w *Writer) Run(ctx context.Context) error {
	backoff := clock.Backoff{Min: w.o.BackoffMin, Max: w.o.BackoffMax}
	for {
		err := w.loadLastSeen(ctx)
		if err == nil {
			break
		}
		wait := backoff.Next()
		w.o.Log.Warn("cannot read the last-seen keys yet; the writer starts once it can", zap.Error(err), zap.Duration("in", wait))
		select {
		case <-ctx.Done():
			return nil
		case <-w.o.Clock.After(wait):
		}
	}
	var wg sync.WaitGroup
	for i, l := range w.lanes {
		wg.Add(2)
		go func() {
			defer wg.Done()
			l.run(ctx, w.kick[i])
		}()
		go func() {
			defer wg.Done()
			l.runLastSeen(ctx)
		}()
	}
	for {
		w.o.Metrics.DirtyBuckets.Set(float64(w.o.Table.Dirty()))
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-w.o.Clock.After(w.o.FlushWindow):
		case <-w.o.Table.Notify():
		}
		w.Kick()
	}
}

// Kick starts a flush on every lane now.
func (w *Writer) Kick() {
	for _, k := range w.kick {
		select {
		case k <- struct{}{}:
		default:
		}
	}
}

// Flush kicks the lanes and waits until nothing is dirty, no last-seen merge is pending and
// no transaction is in flight, or ctx ends. Used at shutdown and by tests.
func (w *Writer) Flush(ctx context.Context) error {
	for {
		w.Kick()
		if w.o.Table.Dirty() == 0 && w.busy.Load() == 0 && w.pendingLastSeen() == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("flush incomplete, %d buckets still dirty, %d last-seen merges pending: %w", w.o.Table.Dirty(), w.pendingLastSeen(), ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (w *Writer) pendingLastSeen() int64 {
	var n int64
	for _, l := range w.lanes {
		n += l.pendingN.Load()
	}
	return n
}

// loadLastSeen reads every last-seen key once, so CAS writes start from known indexes.
func (w *Writer) loadLastSeen(ctx context.Context) error {
	pairs, _, err := w.o.Client.KV().List(presencekv.LastSeenPrefix(w.o.Prefix), (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return fmt.Errorf("reading %s: %w", presencekv.LastSeenPrefix(w.o.Prefix), err)
	}
	var c presencekv.Codec
	for _, p := range pairs {
		b, ok := presencekv.ParseLastSeenKey(w.o.Prefix, p.Key)
		if !ok || b >= w.o.Table.Buckets() {
			continue
		}
		entries, err := c.DecodeLastSeen(nil, p.Value)
		if err != nil {
			w.o.Log.Warn("ignoring undecodable last-seen value; it will be overwritten", zap.String("key", p.Key), zap.Error(err))
			entries = nil
		}
		w.lanes[int(b)%len(w.lanes)].lastSeen[b] = &lastSeen{entries: entries, index: p.ModifyIndex, known: true}
	}
	for _, l := range w.lanes {
		l.lastSeenLoaded = true
	}
	return nil
}
