package tcp

import (
	"context"
	"fmt"
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
	// User is the member whose token opened the connection (the user id of its HELLOs; 0 when
	// its HELLOs named different members, which a grant then never matches).
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
	Addr          string        // e.g. ":7947"
	Loops         int           // gnet event loops; default 1
	IdleTimeout   time.Duration // close a connection silent for this long; default 45s
	MaxOutbound   int           // bytes queued to one connection before it is closed; default 64 KiB
	WorkQueue     int           // frames waiting for the shard worker; default 4096
	MaxConns      int           // open connections; more are refused (closed at once, counted); default 100000
	CloseLinger   time.Duration // how long a CLOSE frame queued behind unread data may wait for the app to read it; default 2s
	SendBuffer    int           // SO_SNDBUF of accepted connections in bytes (bounds kernel memory per app); 0: kernel default (autotuned)
	Shard         int           // the table shard the worker owns
	Clock         clock.Clock
	Log           *zap.Logger
	Handler       ingest.HandlerOptions
	Router        ingest.Router
	Subscriptions Subscriptions
}

// CloseCause is why a TCP connection ended. Stats counts closes by cause (an array indexed
// by it, sized by NumCloseCauses); String() is the metric label and Code() the CLOSE reason
// sent to the app (0: none is sent).
type CloseCause uint8

const (
	CauseProtocolError        CloseCause = iota // a frame failed to decode or arrived out of order
	CauseFirstNotHello                          // the first frame was not a HELLO
	CauseIdleTimeout                            // no frame within the idle timeout
	CauseSlowConsumer                           // the app did not read EVENTs fast enough
	CauseOverload                               // the app sent faster than the gateway reads
	CausePeer                                   // the app closed the connection
	CauseShutdown                               // the gateway is stopping
	CauseTooManyConnections                     // refused at accept: MaxConns reached
	CauseTooManySubscriptions                   // subscription limit per connection exceeded
	CauseNotAuthenticated                       // SUBSCRIBE before a valid HELLO, or HELLO rejected
	CauseGrantRefused                           // a presence grant was refused or revoked

	NumCloseCauses // the number of causes, not a cause
)

var closeCauses = [NumCloseCauses]struct {
	label string
	code  hl1.CloseReason
}{
	CauseProtocolError:        {"protocol_error", hl1.CloseProtocolError},
	CauseFirstNotHello:        {"first_not_hello", hl1.CloseProtocolError},
	CauseIdleTimeout:          {"idle_timeout", hl1.CloseIdleTimeout},
	CauseSlowConsumer:         {"slow_consumer", hl1.CloseSlowConsumer},
	CauseOverload:             {"overload", hl1.CloseSlowConsumer},
	CausePeer:                 {"peer", 0},
	CauseShutdown:             {"shutdown", hl1.CloseServerShutdown},
	CauseTooManyConnections:   {"too_many_connections", 0},
	CauseTooManySubscriptions: {"too_many_subscriptions", hl1.CloseTooManySubscribed},
	CauseNotAuthenticated:     {"not_authenticated", hl1.CloseAuthFailed},
	CauseGrantRefused:         {"grant_refused", hl1.CloseGrantRefused},
}

// String is the cause's metric label, e.g. "slow_consumer".
func (c CloseCause) String() string {
	if c < NumCloseCauses {
		return closeCauses[c].label
	}
	return "invalid"
}

// Code is the CLOSE reason sent to the app for this cause; 0 when none is sent.
func (c CloseCause) Code() hl1.CloseReason {
	if c < NumCloseCauses {
		return closeCauses[c].code
	}
	return 0
}

// causeOf is the cause counted for a CLOSE reason given by the subscriptions seam.
func causeOf(r hl1.CloseReason) CloseCause {
	switch r {
	case hl1.CloseSlowConsumer:
		return CauseSlowConsumer
	case hl1.CloseTooManySubscribed:
		return CauseTooManySubscriptions
	case hl1.CloseAuthFailed:
		return CauseNotAuthenticated
	case hl1.CloseServerShutdown:
		return CauseShutdown
	case hl1.CloseIdleTimeout:
		return CauseIdleTimeout
	case hl1.CloseGrantRefused:
		return CauseGrantRefused
	}
	return CauseProtocolError
}

// Stats are the server's counters.
type Stats struct {
	Open   atomic.Int64
	Frames atomic.Uint64
	closes [NumCloseCauses]atomic.Uint64
}

// Closes returns how many connections ended for cause c.
func (s *Stats) Closes(c CloseCause) uint64 {
	if c >= NumCloseCauses {
		return 0
	}
	return s.closes[c].Load()
}

func (s *Stats) closed(c CloseCause) {
	if c < NumCloseCauses {
		s.closes[c].Add(1)
	}
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
	lingering    map[*conn]struct{} // closing, CLOSE frame not yet taken by the socket
	lingerChecks atomic.Uint64      // checks of lingering connections so far (tests wait on it)
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
		opts.IdleTimeout = 45 * time.Second
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
		conns: map[*conn]struct{}{}, lingering: map[*conn]struct{}{}, started: make(chan error, 1), booted: make(chan struct{}), done: make(chan struct{})}
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
