package tcp

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"go.uber.org/zap"

	"heartline/agent/shared/clock"
	"heartline/gateway/internal/ingest"
	"heartline/gateway/internal/table"
	"heartline/protocol/hl1"
)

// Subscriptions is the seam for app subscriptions (the live-sync issue). The server calls
// it from gnet event loops: implementations must not block. A nil Subscriptions answers
// SUBSCRIBE/UNSUBSCRIBE with nothing (counted as unsupported).
type Subscriptions interface {
	// Subscribe / Unsubscribe get the raw SUBSCRIBE / UNSUBSCRIBE frame of an authenticated
	// connection. A non-zero CloseReason closes the connection with that reason.
	Subscribe(c Conn, frame []byte) hl1.CloseReason
	Unsubscribe(c Conn, frame []byte) hl1.CloseReason
	// Grant gets the raw GRANT frame of an authenticated connection.
	Grant(c Conn, frame []byte) hl1.CloseReason
	// Closed is called once when a connection that subscribed goes away.
	Closed(c Conn)
}

// Conn is what the seam sees of a connection: an id and a way to send frames (EVENT).
type Conn interface {
	ID() uint64
	// User is the member whose token opened the connection: the user id of its HELLOs once
	// one of them verified (0 before that, and when its HELLOs named different members,
	// which a grant then never matches).
	User() uint64
	// SendFrame queues one HL1 frame (without the length prefix) for the connection. Safe
	// from any goroutine; never blocks. Past Options.MaxOutbound bytes of backlog the
	// connection is closed (CLOSE slow consumer) instead.
	SendFrame(frame []byte)
	// Backlog is the bytes sent with SendFrame that the socket has not taken yet (an
	// estimate refreshed by the event loop). Safe from any goroutine; never blocks.
	Backlog() int
	// Close sends CLOSE(reason) and closes the connection (counted by reason). Safe from
	// any goroutine; never blocks.
	Close(reason hl1.CloseReason)
}

// Options configures the server.
type Options struct {
	Addr  string // e.g. ":7947"
	Loops int    // gnet event loops; default 1
	// IdleTimeout closes an authenticated connection that sent no frame for this long;
	// default the table's session timeout (interval x misses + grace, PROTOCOL.md TCP).
	IdleTimeout time.Duration
	// AuthTimeout closes a connection the gateway has not sent a WELCOME within this long
	// of its start, whatever it sends meanwhile; default 5s.
	AuthTimeout time.Duration
	MaxOutbound int // bytes queued to one connection before it is closed; default 64 KiB
	WorkQueue   int // frames waiting for the shard worker, all connections together; default 4096
	// ConnQueue is one connection's share of WorkQueue: a connection with this many frames
	// waiting for the worker that sends another is closed (overload); default 16. It keeps a
	// few flooding connections from filling the shared queue.
	ConnQueue       int
	MaxConns        int           // open connections; more are refused (closed at once, counted); default 100000
	MaxConnsPerAddr int           // open connections per client address (IPv6: per /64); default 256
	CloseLinger     time.Duration // how long a CLOSE frame queued behind unread data may wait for the app to read it; default 2s
	SendBuffer      int           // SO_SNDBUF of accepted connections in bytes (bounds kernel memory per app); 0: kernel default (autotuned)
	Shard           int           // the table shard the worker owns
	Clock           clock.Clock
	Log             *zap.Logger
	Handler         ingest.HandlerOptions
	Router          ingest.Router
	Subscriptions   Subscriptions
}

// Server is the TCP listener plus the worker of its shard.
type Server struct {
	gnet.BuiltinEventEngine
	opts         Options
	tb           *table.Table
	h            *ingest.Handler
	work         chan work
	inbox        chan ingest.Handoff
	eng          gnet.Engine
	Stats        Stats
	nextID       atomic.Uint64
	mu           sync.Mutex
	conns        map[*conn]struct{}
	perAddr      map[netip.Prefix]int // open connections per client address group (addrgroup.go)
	lingering    map[*conn]struct{}   // closing, CLOSE frame not yet taken by the socket
	lingerChecks atomic.Uint64        // checks of lingering connections so far (tests wait on it)
	idleScan     time.Time
	started      chan error
	booted       chan struct{}
	done         chan struct{}
	stop         atomic.Bool
}

type work struct {
	c   *conn
	len uint8
	b   [hl1.HelloSize]byte
}

// New prepares a server for shard opts.Shard of tb. Start it with Start.
func New(tb *table.Table, opts Options) *Server {
	if opts.Loops <= 0 {
		opts.Loops = 1
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = tb.Timeout()
	}
	if opts.AuthTimeout <= 0 {
		opts.AuthTimeout = 5 * time.Second
	}
	if opts.ConnQueue <= 0 {
		opts.ConnQueue = 16
	}
	if opts.MaxConnsPerAddr <= 0 {
		opts.MaxConnsPerAddr = 256
	}
	if opts.MaxOutbound <= 0 {
		opts.MaxOutbound = 64 << 10
	}
	if opts.WorkQueue <= 0 {
		opts.WorkQueue = 4096
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 100000
	}
	if opts.CloseLinger <= 0 {
		opts.CloseLinger = 2 * time.Second
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	s := &Server{opts: opts, tb: tb, work: make(chan work, opts.WorkQueue), inbox: make(chan ingest.Handoff, 1024),
		conns: map[*conn]struct{}{}, perAddr: map[netip.Prefix]int{}, lingering: map[*conn]struct{}{}, started: make(chan error, 1), booted: make(chan struct{}), done: make(chan struct{})}
	s.h = ingest.NewHandler(tb, opts.Shard, udpReplyDropper{s}, opts.Router, opts.Handler)
	return s
}

// Inbox is the hand-off inbox of the TCP shard (register it with ingest.Group.SetInbox).
func (s *Server) Inbox() chan ingest.Handoff { return s.inbox }

// HandlerStats are the worker's frame counters (same shape as a UDP loop's).
func (s *Server) HandlerStats() *ingest.Stats { return s.h.Stats }

// Start listens and runs the event loops and the worker. It returns once listening.
func (s *Server) Start() error {
	go func() {
		err := gnet.Run(s, "tcp://"+s.opts.Addr,
			gnet.WithMulticore(s.opts.Loops > 1), gnet.WithNumEventLoop(s.opts.Loops),
			gnet.WithTicker(true), gnet.WithReusePort(false), gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithSocketSendBuffer(s.opts.SendBuffer), gnet.WithLogger(zapGnetLogger{s.opts.Log.Sugar()}))
		select {
		case s.started <- err:
		default:
		}
		if err != nil {
			s.opts.Log.Error("tcp listener stopped", zap.Error(err))
		}
	}()
	go s.worker()
	select {
	case err := <-s.started:
		return fmt.Errorf("tcp: listen %s: %w", s.opts.Addr, err)
	case <-time.After(5 * time.Second):
		return fmt.Errorf("tcp: listener on %s did not start within 5s", s.opts.Addr)
	case <-s.booted:
		return nil
	}
}

// OnBoot records the engine (gnet callback).
func (s *Server) OnBoot(eng gnet.Engine) gnet.Action {
	s.eng = eng
	close(s.booted)
	return gnet.None
}

// Stop closes every connection (CLOSE server shutdown), stops the loops and the worker.
// The TCP shard then belongs to the caller (final feed flush).
func (s *Server) Stop(ctx context.Context) {
	s.stop.Store(true)
	s.mu.Lock()
	for c := range s.conns {
		c.close(CauseShutdown)
	}
	s.mu.Unlock()
	select {
	case <-s.booted:
		_ = s.eng.Stop(ctx)
	default:
	}
	close(s.work)
	<-s.done
}

// Shard returns the shard the worker owns.
func (s *Server) Shard() *table.Shard { return s.h.Shard() }

// udpReplyDropper is the TCP worker's Sender. A UDP frame handed to the TCP shard (a UDP
// HELLO or heartbeat for a session opened over TCP) cannot be answered from here: the reply
// would leave from another port. It is dropped and counted (SendErrors); the session keeps
// working over TCP, and a client that moved to UDP gets its UDP session once the TCP one
// ends (BYE, close or expiry).
type udpReplyDropper struct{ s *Server }

func (d udpReplyDropper) Send([]byte, *ingest.Addr) { d.s.h.Stats.SendErrors.Add(1) }
