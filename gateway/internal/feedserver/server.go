package feedserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"heartline/gateway/internal/table"
	"heartline/protocol/feed"
)

// Options configures a Server.
type Options struct {
	Path          string        // Unix socket path; an existing socket file there is replaced
	GatewayID     string        // sent in HELLO
	Epoch         uint32        // gateway epoch, sent in HELLO
	StartedAt     time.Time     // sent in HELLO
	FlushInterval time.Duration // default 50ms
	FlushBytes    int           // write sooner once this much is buffered; default 256 KiB
	WriteTimeout  time.Duration // an agent that does not read for this long is dropped; default 10s
	// OnUpstream gets what the agent says of its path to Consul (UPSTREAM frames), and
	// UpstreamReachable when the connection that said it ends: a gateway without an agent
	// keeps welcoming apps (it cannot tell an agent restart from anything worse). Nil: ignored.
	OnUpstream func(feed.Upstream)
	Log        *zap.Logger
}

// Stats are the server's counters, read atomically.
type Stats struct {
	Records      atomic.Uint64 // records written to an agent
	Dropped      atomic.Uint64 // records drained while no agent was connected
	Snapshots    atomic.Uint64 // snapshots completed
	Connects     atomic.Uint64 // agent connections accepted
	WriteErrors  atomic.Uint64 // connections dropped on a write error or timeout
	BufferedRecs atomic.Int64  // records waiting in the writer (replay + write buffer)
}

// Server is the feed writer. Create with Listen, run with Run.
type Server struct {
	opts  Options
	tb    *table.Table
	ln    *net.UnixListener
	Stats Stats

	conns   chan *net.UnixConn
	snapReq chan *net.UnixConn
	dead    chan *net.UnixConn
	flushed chan chan struct{}
	stopped chan struct{} // closed when Run returns
}

// Listen creates the socket and returns a Server that will serve tb.
func Listen(tb *table.Table, opts Options) (*Server, error) {
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = 50 * time.Millisecond
	}
	if opts.FlushBytes <= 0 {
		opts.FlushBytes = 256 << 10
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if fi, err := os.Lstat(opts.Path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		_ = os.Remove(opts.Path) // a stale socket from a previous run
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: opts.Path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("feedserver: listen on %s: %w (check that the directory exists and is writable)", opts.Path, err)
	}
	ln.SetUnlinkOnClose(true)
	return &Server{
		opts: opts, tb: tb, ln: ln,
		conns:   make(chan *net.UnixConn),
		snapReq: make(chan *net.UnixConn, 1),
		dead:    make(chan *net.UnixConn, 4),
		flushed: make(chan chan struct{}),
		stopped: make(chan struct{}),
	}, nil
}

// Addr returns the socket path.
func (s *Server) Addr() string { return s.opts.Path }

// Run serves until ctx is done, then writes what the shards have published and returns.
func (s *Server) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.accept(ctx) }()
	w := newWriter(s)
	err := w.run(ctx)
	close(s.stopped)
	_ = s.ln.Close()
	wg.Wait()
	return err
}

// Flush waits until the writer has drained every ready outbox and written its buffer.
// Used at shutdown after the shards published their last batches.
func (s *Server) Flush(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case s.flushed <- done:
	case <-s.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Server) accept(ctx context.Context) {
	go func() { <-ctx.Done(); _ = s.ln.Close() }()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			s.opts.Log.Warn("feed accept failed", zap.Error(err))
			time.Sleep(100 * time.Millisecond)
			continue
		}
		select {
		case s.conns <- c:
		case <-ctx.Done():
			_ = c.Close()
			return
		}
	}
}

// read consumes the agent's frames: SNAPSHOT_REQUEST is passed to the writer, UPSTREAM to
// OnUpstream; anything unreadable ends the connection.
func (s *Server) read(c *net.UnixConn) {
	r := feed.NewReader(c)
	said := false
	for {
		f, err := r.Next()
		if err != nil {
			if said && s.opts.OnUpstream != nil {
				s.opts.OnUpstream(feed.UpstreamReachable)
			}
			select {
			case s.dead <- c:
			case <-s.stopped:
			}
			return
		}
		switch f.Type {
		case feed.FrameSnapshotRequest:
			select {
			case s.snapReq <- c:
			default: // one already queued
			}
		case feed.FrameUpstream:
			if s.opts.OnUpstream != nil {
				s.opts.OnUpstream(f.Upstream)
				said = true
			}
		}
	}
}

// writer is the single goroutine that owns the connection's output.
type writer struct {
	s    *Server
	tb   *table.Table
	conn *net.UnixConn
	enc  feed.Encoder
	buf  []byte
	seq  uint64 // last sequence written

	// snapshot assembly
	snapGen   uint64
	snapping  bool
	snapDone  []bool
	snapBuf   []byte
	snapCount uint64
	replay    []feed.Record

	ready      []*table.Outbox
	numbers    []feed.Record
	nextTicket uint64 // tickets start at 1
}

func newWriter(s *Server) *writer {
	return &writer{s: s, tb: s.tb, snapDone: make([]bool, s.tb.Shards()), nextTicket: 1}
}

func (w *writer) run(ctx context.Context) error {
	tick := time.NewTicker(w.s.opts.FlushInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			w.drain()
			w.flush()
			if w.conn != nil {
				_ = w.conn.Close()
			}
			return nil
		case c := <-w.s.conns:
			w.attach(c)
		case c := <-w.s.dead:
			if c == w.conn {
				w.detach("agent closed the connection")
			}
		case c := <-w.s.snapReq:
			if c == w.conn && !w.snapping {
				w.startSnapshot()
			}
		case done := <-w.s.flushed:
			w.drain()
			w.flush()
			close(done)
		case <-w.tb.Notify():
			w.drain()
			if len(w.buf) >= w.s.opts.FlushBytes {
				w.flush()
			}
		case <-tick.C:
			w.drain()
			w.flush()
		}
	}
}

func (w *writer) attach(c *net.UnixConn) {
	if w.conn != nil {
		w.detach("replaced by a new agent connection")
	}
	w.s.Stats.Connects.Add(1)
	w.s.opts.Log.Info("agent connected to the feed")
	w.conn = c
	w.buf = feed.AppendHello(w.buf[:0], feed.Hello{
		GatewayID: w.s.opts.GatewayID, Epoch: w.s.opts.Epoch, StartedAt: w.s.opts.StartedAt.UnixMilli(),
	})
	go w.s.read(c)
	w.startSnapshot()
	w.flush()
}

func (w *writer) detach(why string) {
	w.s.opts.Log.Info("agent feed connection closed", zap.String("reason", why))
	_ = w.conn.Close()
	w.conn = nil
	w.buf = w.buf[:0]
	w.snapping = false
	w.snapBuf = w.snapBuf[:0]
	w.replay = w.replay[:0]
	w.s.Stats.BufferedRecs.Store(0)
}

func (w *writer) startSnapshot() {
	w.snapGen = w.tb.RequestSnapshot()
	w.snapping = true
	w.snapCount = 0
	w.snapBuf = w.snapBuf[:0]
	w.replay = w.replay[:0]
	for i := range w.snapDone {
		w.snapDone[i] = false
	}
}

// drain takes every ready outbox, in ticket order, as long as tickets are contiguous
// across what is ready (a shard that took a ticket publishes it immediately after, so a
// gap closes within microseconds and is picked up on the next wake).
func (w *writer) drain() {
	for {
		w.ready = w.ready[:0]
		for i := 0; i < w.tb.Shards(); i++ {
			if o := w.tb.Shard(i).Outbox(); o.Ready() {
				w.ready = append(w.ready, o)
			}
		}
		if len(w.ready) == 0 {
			return
		}
		// Insertion sort: a handful of shards, and sort.Slice would allocate.
		for i := 1; i < len(w.ready); i++ {
			for j := i; j > 0 && w.ready[j].Ticket < w.ready[j-1].Ticket; j-- {
				w.ready[j], w.ready[j-1] = w.ready[j-1], w.ready[j]
			}
		}
		took := false
		for _, o := range w.ready {
			if o.Ticket != w.nextTicket {
				break // a shard holds the ticket in between and is about to publish it
			}
			w.take(o, o.Shard)
			w.nextTicket++
			o.Done()
			took = true
		}
		if !took {
			return
		}
	}
}

func (w *writer) take(o *table.Outbox, shard int) {
	if len(o.Records) > 0 {
		switch {
		case w.conn == nil:
			w.s.Stats.Dropped.Add(uint64(len(o.Records)))
		case w.snapping:
			w.replay = append(w.replay, o.Records...)
		default:
			w.appendRecords(o.Records)
		}
	}
	if o.HasSnapshot && w.snapping && o.SnapshotGen == w.snapGen && w.conn != nil {
		if len(o.Snapshot) > 0 {
			w.snapBuf, _ = w.enc.AppendSnapshotChunk(w.snapBuf, o.Snapshot)
			w.snapCount += uint64(len(o.Snapshot))
		}
		if o.SnapshotDone {
			w.snapDone[shard] = true
			w.finishSnapshot()
		}
	}
	w.s.Stats.BufferedRecs.Store(int64(len(w.replay)))
}

func (w *writer) finishSnapshot() {
	for _, d := range w.snapDone {
		if !d {
			return
		}
	}
	w.buf = feed.AppendSnapshotBegin(w.buf, w.seq, w.snapCount)
	w.buf = append(w.buf, w.snapBuf...)
	w.buf = feed.AppendSnapshotEnd(w.buf, w.seq)
	w.snapping = false
	w.snapBuf = w.snapBuf[:0]
	w.s.Stats.Snapshots.Add(1)
	for len(w.replay) > 0 {
		n := min(len(w.replay), feed.MaxRecords)
		w.appendRecords(w.replay[:n])
		w.replay = w.replay[n:]
	}
	w.replay = w.replay[:0:cap(w.replay)]
	w.flush()
}

// appendRecords numbers recs with the next sequences and encodes them.
func (w *writer) appendRecords(recs []feed.Record) {
	for len(recs) > 0 {
		n := min(len(recs), feed.MaxRecords)
		w.numbers = append(w.numbers[:0], recs[:n]...)
		for i := range w.numbers {
			w.seq++
			w.numbers[i].Seq = w.seq
		}
		var err error
		if w.buf, err = w.enc.AppendRecords(w.buf, w.numbers); err != nil {
			// Records come from the table, which only makes valid ones: this is a bug.
			w.s.opts.Log.Error("feed: encoding records failed", zap.Error(err))
		}
		w.s.Stats.Records.Add(uint64(n))
		recs = recs[n:]
	}
}

func (w *writer) flush() {
	if w.conn == nil || len(w.buf) == 0 {
		return
	}
	_ = w.conn.SetWriteDeadline(time.Now().Add(w.s.opts.WriteTimeout))
	if _, err := w.conn.Write(w.buf); err != nil {
		w.s.Stats.WriteErrors.Add(1)
		w.detach("write failed: " + err.Error())
		return
	}
	w.buf = w.buf[:0]
}
