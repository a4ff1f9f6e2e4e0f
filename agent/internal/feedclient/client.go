package feedclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"heartline/agent/internal/metrics"
	"heartline/agent/internal/state"
	"heartline/agent/shared/clock"
	"heartline/protocol/feed"
	"heartline/protocol/presencekv"
)

// Options configure a Client.
type Options struct {
	Path  string // the gateway's feed socket
	Table *state.Table
	// GatewayID, when set, must match the gateway's HELLO (a mismatch is a deployment
	// error: the agent would write another gateway's presence under its own id).
	GatewayID  string
	BackoffMin time.Duration // default 50ms
	BackoffMax time.Duration // default 5s
	Clock      clock.Clock
	Log        *zap.Logger
	Metrics    *metrics.Agent
}

// Client consumes one gateway's feed.
type Client struct {
	o         Options
	synced    atomic.Bool // a snapshot has been applied on the current connection
	connected atomic.Bool
	hello     atomic.Pointer[feed.Hello]

	// upMu guards what the gateway must hear about the agent's path to Consul: the state
	// (told again on every new connection) and the connection that can take UPSTREAM.
	upMu     sync.Mutex
	upstream feed.Upstream
	upConn   net.Conn // nil until a HELLO of version >= feed.UpstreamVersion
}

// New returns a client; Run starts it.
func New(o Options) *Client {
	if o.BackoffMin == 0 {
		o.BackoffMin = 50 * time.Millisecond
	}
	if o.BackoffMax == 0 {
		o.BackoffMax = 5 * time.Second
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
	return &Client{o: o}
}

// upstreamWriteTimeout bounds one UPSTREAM write: the gateway reads its feed socket all the
// time, so a write that blocks means the connection is dying (the reader will see it).
const upstreamWriteTimeout = time.Second

// SetUpstream tells the gateway whether this agent reaches Consul (agent/upstream decides),
// now if the gateway reads UPSTREAM, and again on every new connection while cut off.
func (c *Client) SetUpstream(u feed.Upstream) {
	c.upMu.Lock()
	defer c.upMu.Unlock()
	if u == c.upstream {
		return
	}
	c.upstream = u
	c.sendUpstreamLocked()
}

func (c *Client) sendUpstreamLocked() {
	if c.upConn == nil {
		return
	}
	_ = c.upConn.SetWriteDeadline(time.Now().Add(upstreamWriteTimeout))
	if _, err := c.upConn.Write(feed.AppendUpstream(nil, c.upstream)); err != nil {
		c.o.Log.Warn("telling the gateway about Consul reachability failed; the next connection will", zap.Stringer("upstream", c.upstream), zap.Error(err))
	}
	_ = c.upConn.SetWriteDeadline(time.Time{})
}

// upstreamConn records the connection UPSTREAM goes to (nil when it ends), and says cut off
// at once if that is the state: a new connection starts out reachable in the gateway.
func (c *Client) upstreamConn(nc net.Conn) {
	c.upMu.Lock()
	defer c.upMu.Unlock()
	c.upConn = nc
	if nc != nil && c.upstream == feed.UpstreamCutOff {
		c.sendUpstreamLocked()
	}
}

// Synced reports whether the current connection has delivered its snapshot.
func (c *Client) Synced() bool { return c.synced.Load() }

// Connected reports whether a feed connection is open.
func (c *Client) Connected() bool { return c.connected.Load() }

// Hello returns the last HELLO received (nil before the first).
func (c *Client) Hello() *feed.Hello { return c.hello.Load() }

// Run connects and consumes until ctx ends, reconnecting with exponential backoff and
// full jitter after every failure.
func (c *Client) Run(ctx context.Context) {
	b := clock.Backoff{Min: c.o.BackoffMin, Max: c.o.BackoffMax}
	for ctx.Err() == nil {
		err := c.session(ctx)
		c.connected.Store(false)
		c.synced.Store(false)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errHealthy) {
			b.Reset()
		}
		wait := b.Next()
		c.o.Log.Warn("gateway feed disconnected; reconnecting", zap.String("socket", c.o.Path), zap.Error(err), zap.Duration("in", wait))
		select {
		case <-ctx.Done():
			return
		case <-c.o.Clock.After(wait):
		}
	}
}

var errHealthy = errors.New("feed connection ended after a snapshot")

func (c *Client) session(ctx context.Context) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.o.Path)
	if err != nil {
		return fmt.Errorf("connecting to the gateway feed (is the gateway running with this -feed-socket?): %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c.connected.Store(true)
	c.o.Metrics.FeedReconnects.Inc()
	defer c.upstreamConn(nil)
	err = c.consume(feed.NewReader(conn), conn)
	if c.synced.Load() {
		return fmt.Errorf("%w: %v", errHealthy, err)
	}
	return err
}

type conn interface {
	Write([]byte) (int, error)
}

// upstreamTarget is the connection UPSTREAM frames go to; consume hands it over once the
// gateway's HELLO says it reads them (a net.Conn; tests may pass a conn that is not one,
// and then nothing is said).
func (c *Client) upstreamTarget(w conn, h *feed.Hello) {
	if nc, ok := w.(net.Conn); ok && h.Version >= feed.UpstreamVersion {
		c.upstreamConn(nc)
	}
}

// consume reads frames until an error. It is the whole feed state machine.
func (c *Client) consume(r *feed.Reader, w conn) error {
	var (
		lastSeq    uint64
		haveSeq    bool
		inSnapshot bool
		requested  bool
		snap       []presencekv.Session
		trs        []presencekv.Transition
		helloSeen  bool
	)
	for {
		f, err := r.Next()
		if err != nil {
			return err
		}
		switch f.Type {
		case feed.FrameHello:
			if c.o.GatewayID != "" && f.Hello.GatewayID != c.o.GatewayID {
				return fmt.Errorf("the feed socket belongs to gateway %q but this agent is -gateway-id=%q; fix the socket path or the id", f.Hello.GatewayID, c.o.GatewayID)
			}
			h := f.Hello
			c.hello.Store(&h)
			helloSeen = true
			c.upstreamTarget(w, &h)
			c.o.Log.Info("gateway feed connected", zap.String("gateway", h.GatewayID), zap.Uint32("epoch", h.Epoch))
		case feed.FrameSnapshotBegin:
			if !helloSeen {
				return errors.New("feed: snapshot before HELLO")
			}
			inSnapshot = true
			snap = make([]presencekv.Session, 0, min(f.Count, 1<<16))
		case feed.FrameSnapshotChunk:
			if !inSnapshot {
				return errors.New("feed: snapshot chunk outside a snapshot")
			}
			for _, rec := range f.Records {
				snap = append(snap, presencekv.Session{User: rec.User, Device: rec.Device, Status: uint8(rec.Status), Since: rec.At})
			}
		case feed.FrameSnapshotEnd:
			if !inSnapshot {
				return errors.New("feed: snapshot end outside a snapshot")
			}
			c.o.Table.Replace(snap, c.o.Clock.Now().UnixMilli())
			snap, inSnapshot, requested = nil, false, false
			lastSeq, haveSeq = f.Seq, true
			c.synced.Store(true)
		case feed.FrameRecords:
			if !haveSeq || len(f.Records) == 0 {
				continue // before the first snapshot: covered by it
			}
			trs = trs[:0]
			for _, rec := range f.Records {
				if rec.Seq <= lastSeq {
					continue // already covered by the snapshot
				}
				if rec.Seq != lastSeq+1 && !requested {
					c.o.Metrics.FeedGaps.Inc()
					c.o.Log.Warn("feed sequence gap; requesting a snapshot", zap.Uint64("expected", lastSeq+1), zap.Uint64("got", rec.Seq))
					if _, err := w.Write(feed.AppendSnapshotRequest(nil)); err != nil {
						return fmt.Errorf("sending SNAPSHOT_REQUEST: %w", err)
					}
					requested = true
				}
				lastSeq = rec.Seq
				trs = append(trs, presencekv.Transition{Kind: uint8(rec.Kind), User: rec.User, Device: rec.Device, Status: uint8(rec.Status), At: rec.At})
			}
			c.o.Table.ApplyAll(trs)
			c.o.Metrics.FeedRecords.Add(float64(len(trs)))
			last := f.Records[len(f.Records)-1]
			c.o.Metrics.FeedLagSeconds.Set(float64(c.o.Clock.Now().UnixMilli()-last.At) / 1000)
		default:
			// FrameSnapshotRequest is agent -> gateway; ignore anything else we do not handle.
		}
	}
}
