package tcp

import (
	"encoding/binary"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"heartline/gateway/internal/ingest"
	"heartline/protocol/hl1"
)

// conn is the per-connection state, the gnet.Conn context.
type conn struct {
	s        *Server
	gc       gnet.Conn
	id       uint64
	hello    atomic.Bool  // first frame was a HELLO
	last     atomic.Int64 // unix nanos of the last frame
	closing  atomic.Bool
	cause    atomic.Uint32 // CloseCause+1 once the gateway closed it; 0: the peer did
	subbed   atomic.Bool
	welcomed atomic.Bool // the gateway sent this connection a WELCOME: it is authenticated
	// user is the user id of the connection's HELLO tokens; userConflict is set when two
	// HELLOs named different members (User then reports 0).
	user         atomic.Uint64
	userConflict atomic.Bool
	from         ingest.Addr
	outbound     atomic.Int64 // bytes handed to AsyncWrite, not yet in gnet's buffer
	buffered     atomic.Int64 // gnet's outbound buffer (not yet taken by the socket) at the last look
	probing      atomic.Bool  // a Wake to refresh buffered is in flight
	linger       atomic.Int64 // unix nanos: a CLOSE frame waits in gnet's buffer until then (0: none)
}

// ID implements Conn.
func (c *conn) ID() uint64 { return c.id }

// User implements Conn.
func (c *conn) User() uint64 {
	if c.userConflict.Load() {
		return 0
	}
	return c.user.Load()
}

// noteHelloUser records the user id a HELLO's token names (verified or not: the WELCOME,
// which only a verified HELLO gets, is what authenticates the connection, and a connection
// whose HELLOs disagree has no user).
func (c *conn) noteHelloUser(frame []byte) {
	h, err := hl1.ParseHello(frame)
	if err != nil {
		return
	}
	u := binary.BigEndian.Uint64(h.Token[3:11])
	if prev := c.user.Swap(u); prev != 0 && prev != u {
		c.userConflict.Store(true)
	}
}

// SendFrame implements Conn and ingest.Conn: it length-prefixes frame and queues it on the
// event loop. The copy is needed because gnet writes it later.
func (c *conn) SendFrame(frame []byte) {
	if c.closing.Load() {
		return
	}
	// Bytes handed to gnet but not yet written by the event loop (OutboundBuffered may only
	// be read on the loop; OnTraffic checks that part).
	if c.outbound.Load() > int64(c.s.opts.MaxOutbound) {
		c.close(CauseSlowConsumer)
		return
	}
	b, err := hl1.AppendTCP(make([]byte, 0, hl1.TCPHeaderSize+len(frame)), frame)
	if err != nil {
		return
	}
	if len(frame) > 0 && frame[0] == byte(hl1.TypeWelcome) {
		c.welcomed.Store(true) // only the handler sends WELCOME, after verifying the HELLO
	}
	n := int64(len(b))
	c.outbound.Add(n)
	_ = c.gc.AsyncWrite(b, func(gc gnet.Conn, _ error) error {
		c.outbound.Add(-n)
		if gc != nil {
			c.buffered.Store(int64(gc.OutboundBuffered())) // on the loop: the only place it may be read
		}
		return nil
	})
}

// Backlog implements Conn: bytes queued for this connection that the socket has not taken
// yet (queued to the event loop plus gnet's outbound buffer at the last look). When it is
// not zero, Backlog asks the event loop to look again (a Wake, at most one in flight), so a
// backlog that drains is seen as drained shortly after.
func (c *conn) Backlog() int {
	b := c.buffered.Load()
	if b > 0 && !c.closing.Load() && c.probing.CompareAndSwap(false, true) {
		err := c.gc.Wake(func(gc gnet.Conn, _ error) error {
			if gc != nil {
				c.buffered.Store(int64(gc.OutboundBuffered()))
			}
			c.probing.Store(false)
			return nil
		})
		if err != nil {
			c.probing.Store(false)
		}
	}
	return int(c.outbound.Load() + b)
}

// Close implements Conn: CLOSE with reason, then close the connection.
func (c *conn) Close(reason hl1.CloseReason) { c.close(causeOf(reason)) }

// close sends CLOSE with the cause's code (if it has one) and closes the connection, once;
// the cause is counted.
//
// When the CLOSE frame cannot go out at once (a slow reader's socket is full, with EVENT
// data queued before it), the connection lingers up to Options.CloseLinger for the app to
// read what is queued and the CLOSE frame; OnTick closes it when its buffer is empty or the
// time is up. Inbound frames are ignored meanwhile.
func (c *conn) close(cause CloseCause) {
	if !c.closing.CompareAndSwap(false, true) {
		return
	}
	c.cause.Store(uint32(cause) + 1)
	reason := cause.Code()
	if reason == 0 {
		_ = c.gc.Close()
		return
	}
	b, _ := hl1.AppendTCP(nil, hl1.AppendClose(nil, reason))
	err := c.gc.AsyncWrite(b, func(gc gnet.Conn, _ error) error {
		if gc == nil || gc.OutboundBuffered() == 0 {
			return c.gc.Close()
		}
		c.linger.Store(time.Now().Add(c.s.opts.CloseLinger).UnixNano())
		c.s.mu.Lock()
		c.s.lingering[c] = struct{}{}
		c.s.mu.Unlock()
		return nil
	})
	if err != nil {
		_ = c.gc.Close()
	}
}

// checkLinger closes a lingering connection once its CLOSE frame went out or its time is up
// (called from OnTick; the check runs on the connection's event loop).
func (c *conn) checkLinger(now int64) {
	_ = c.gc.Wake(func(gc gnet.Conn, _ error) error {
		if gc == nil || gc.OutboundBuffered() == 0 || now > c.linger.Load() {
			return c.gc.Close()
		}
		return nil
	})
}

// OnOpen registers the connection.
func (s *Server) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	if s.stop.Load() {
		return nil, gnet.Close
	}
	if s.Stats.Open.Load() >= int64(s.opts.MaxConns) {
		s.Stats.closed(CauseTooManyConnections)
		return nil, gnet.Close // no context: OnClose will not count it again
	}
	c := &conn{s: s, gc: gc, id: s.nextID.Add(1)}
	c.last.Store(time.Now().UnixNano())
	if ap, ok := netipOf(gc); ok {
		c.from.SetAddrPort(ap)
	}
	gc.SetContext(c)
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	s.Stats.Open.Add(1)
	return nil, gnet.None
}

// OnClose counts the reason and tells the subscriptions seam.
func (s *Server) OnClose(gc gnet.Conn, _ error) gnet.Action {
	c, ok := gc.Context().(*conn)
	if !ok {
		return gnet.None
	}
	c.closing.Store(true)
	cause := CausePeer
	if v := c.cause.Load(); v != 0 {
		cause = CloseCause(v - 1)
	}
	s.Stats.closed(cause)
	s.mu.Lock()
	delete(s.conns, c)
	delete(s.lingering, c)
	s.mu.Unlock()
	s.Stats.Open.Add(-1)
	if c.subbed.Load() && s.opts.Subscriptions != nil {
		s.opts.Subscriptions.Closed(c)
	}
	return gnet.None
}

// OnTraffic frames the inbound bytes. It never blocks: frames for the table go to the
// worker's channel, and a full channel closes the connection.
func (s *Server) OnTraffic(gc gnet.Conn) gnet.Action {
	c, ok := gc.Context().(*conn)
	if !ok || c.closing.Load() {
		_, _ = gc.Discard(gc.InboundBuffered())
		return gnet.None
	}
	if gc.OutboundBuffered() > s.opts.MaxOutbound {
		c.close(CauseSlowConsumer)
		_, _ = gc.Discard(gc.InboundBuffered())
		return gnet.None
	}
	buf, _ := gc.Peek(-1)
	consumed := 0
	for {
		frame, n, err := hl1.NextTCP(buf[consumed:])
		if err != nil {
			c.close(CauseProtocolError)
			break
		}
		if frame == nil {
			break
		}
		consumed += n
		c.last.Store(time.Now().UnixNano())
		s.Stats.Frames.Add(1)
		if !s.frame(c, frame) {
			break
		}
	}
	_, _ = gc.Discard(consumed)
	return gnet.None
}

// frame dispatches one frame; false means the connection is being closed.
func (s *Server) frame(c *conn, frame []byte) bool {
	t, err := hl1.PeekType(frame)
	if err != nil {
		c.close(CauseProtocolError)
		return false
	}
	if !c.hello.Load() && t != hl1.TypeHello {
		c.close(CauseFirstNotHello)
		return false
	}
	switch t {
	case hl1.TypeHello, hl1.TypeHeartbeat, hl1.TypeBye:
		if len(frame) > hl1.HelloSize {
			c.close(CauseProtocolError)
			return false
		}
		if t == hl1.TypeHello {
			c.hello.Store(true)
			c.noteHelloUser(frame)
		}
		w := work{c: c, len: uint8(len(frame))}
		copy(w.b[:], frame)
		select {
		case s.work <- w:
		default:
			c.close(CauseOverload)
			return false
		}
	case hl1.TypeSubscribe, hl1.TypeUnsubscribe, hl1.TypeGrant:
		sub := s.opts.Subscriptions
		if sub == nil {
			s.h.Stats.Drop(ingest.ReasonUnsupported)
			return true
		}
		if !c.welcomed.Load() {
			// PROTOCOL.md: subscribe after HELLO/WELCOME. A HELLO that failed verification
			// is dropped without an answer, so the WELCOME is the proof of authentication.
			c.close(CauseNotAuthenticated)
			return false
		}
		c.subbed.Store(true)
		var r hl1.CloseReason
		switch t {
		case hl1.TypeSubscribe:
			r = sub.Subscribe(c, frame)
		case hl1.TypeGrant:
			r = sub.Grant(c, frame)
		default:
			r = sub.Unsubscribe(c, frame)
		}
		if r != 0 {
			c.close(causeOf(r))
			return false
		}
	default:
		c.close(CauseProtocolError)
		return false
	}
	return true
}

// OnTick closes idle connections (including ones stalled inside a frame) once a second,
// and lingering ones (see close) every 100ms while there are any.
func (s *Server) OnTick() (time.Duration, gnet.Action) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.lingering {
		c.checkLinger(now.UnixNano())
		s.lingerChecks.Add(1)
	}
	if now.Sub(s.idleScan) >= time.Second {
		s.idleScan = now
		cutoff := now.Add(-s.opts.IdleTimeout).UnixNano()
		for c := range s.conns {
			if c.last.Load() < cutoff {
				c.close(CauseIdleTimeout)
			}
		}
	}
	if len(s.lingering) > 0 {
		return 100 * time.Millisecond, gnet.None
	}
	return time.Second, gnet.None
}

// worker owns the TCP shard: it applies frames from the event loops and hand-offs from
// the UDP loops, and ticks the shard.
func (s *Server) worker() {
	defer close(s.done)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	now := func() ingest.Now {
		t := s.opts.Clock.Now()
		return ingest.Now{Time: t, Tick: s.tb.Tick(t)}
	}
	var ho ingest.Handoff
	for {
		select {
		case w, ok := <-s.work:
			if !ok {
				return
			}
			s.h.Frame(w.b[:w.len], &w.c.from, w.c, now())
		case ho = <-s.inbox:
			s.h.Handoff(&ho, now())
			ho.Conn = nil
		case <-tick.C:
			s.h.Tick(now())
		}
	}
}
