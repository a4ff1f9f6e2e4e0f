package tcp

import (
	"time"

	"github.com/panjf2000/gnet/v2"

	"heartline/gateway/internal/ingest"
	"heartline/protocol/hl1"
)

// OnOpen registers the connection, or refuses it (closed at once, counted, no CLOSE frame)
// past MaxConns or MaxConnsPerAddr.
func (s *Server) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	if s.stop.Load() {
		return nil, gnet.Close
	}
	if s.Stats.Open.Load() >= int64(s.opts.MaxConns) {
		s.Stats.closed(CauseTooManyConnections)
		return nil, gnet.Close // no context: OnClose will not count it again
	}
	c := &conn{s: s, gc: gc, id: s.nextID.Add(1), opened: time.Now().UnixNano()}
	if ap, ok := netipOf(gc); ok {
		c.from.SetAddrPort(ap)
		c.group = addrGroup(ap)
	}
	s.mu.Lock()
	if !s.admit(c.group) {
		s.mu.Unlock()
		s.Stats.closed(CauseTooManyFromAddress)
		return nil, gnet.Close
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	gc.SetContext(c)
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
	s.release(c.group)
	s.mu.Unlock()
	s.Stats.Open.Add(-1)
	if c.subbed.Load() && s.opts.Subscriptions != nil {
		s.opts.Subscriptions.Closed(c)
	}
	return gnet.None
}

// OnTraffic frames the inbound bytes: every whole frame is handled, and the bytes of an
// incomplete one stay in gnet's inbound buffer for the next call (gnet may deliver any part
// of a frame). A connection therefore never holds more than one frame's bytes
// (TCPHeaderSize+MaxFrame) inbound: more would have made a whole frame. It never blocks:
// frames for the table go to the worker's queue.
func (s *Server) OnTraffic(gc gnet.Conn) gnet.Action {
	c, ok := gc.Context().(*conn)
	if !ok {
		_, _ = gc.Discard(gc.InboundBuffered())
		return gnet.None
	}
	in := gc.InboundBuffered()
	s.Stats.Bytes.Add(uint64(in - c.pending))
	if !c.closing.Load() && gc.OutboundBuffered() > s.opts.MaxOutbound {
		c.close(CauseSlowConsumer)
	}
	consumed := 0
	if !c.closing.Load() {
		buf, _ := gc.Peek(in)
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
			s.Stats.Frames.Add(1)
			if !s.frame(c, frame) {
				break
			}
		}
	}
	switch {
	case c.closing.Load():
		_, _ = gc.Discard(in) // inbound frames are ignored once closing
		c.pending = 0
	case consumed > 0: // never Discard(0): gnet reads it as "discard everything"
		_, _ = gc.Discard(consumed)
		c.pending = in - consumed
	default:
		c.pending = in
	}
	return gnet.None
}

// frame applies the rules of rules.go to one frame; false means the connection is being
// closed.
func (s *Server) frame(c *conn, frame []byte) bool {
	t, err := hl1.PeekType(frame)
	if err != nil {
		c.close(CauseProtocolError)
		return false
	}
	authed := c.authed.Load()
	if !authed && t != hl1.TypeHello {
		c.close(CauseFirstNotHello)
		return false
	}
	if authed {
		c.last.Store(time.Now().UnixNano()) // only an authenticated connection's frames keep it open
	}
	switch t {
	case hl1.TypeHello:
		if len(frame) != hl1.HelloSize || !c.helloAllowed() {
			c.close(CauseProtocolError)
			return false
		}
		c.claim(frame)
		return s.enqueue(c, t, frame)
	case hl1.TypeHeartbeat, hl1.TypeBye:
		if len(frame) != hl1.HeartbeatSize {
			c.close(CauseProtocolError)
			return false
		}
		c.beaten.Store(true)
		return s.enqueue(c, t, frame)
	case hl1.TypeSubscribe, hl1.TypeUnsubscribe, hl1.TypeGrant:
		return s.subscription(c, t, frame)
	}
	c.close(CauseProtocolError) // a type a gateway never receives over TCP
	return false
}

// enqueue hands a HELLO, HEARTBEAT or BYE to the worker. A connection that already has
// ConnQueue frames waiting is closed (overload): it sends faster than the gateway handles
// frames, and must not take the shared queue from others. When the shared queue is full
// the frame is dropped (counted inbox_full) and treated like any frame the handler drops
// for lack of room (rules.go): a heartbeat is lost, a HELLO is answered with REHELLO 3.
func (s *Server) enqueue(c *conn, t hl1.Type, frame []byte) bool {
	if c.queued.Add(1) > int32(s.opts.ConnQueue) {
		c.queued.Add(-1)
		c.close(CauseOverload)
		return false
	}
	w := work{c: c, len: uint8(len(frame))}
	copy(w.b[:], frame)
	select {
	case s.work <- w:
		return true
	default:
		c.queued.Add(-1)
		s.h.Stats.Drop(ingest.ReasonInboxFull)
		c.Refused(t, ingest.ReasonInboxFull)
		return !c.closing.Load()
	}
}

// subscription passes GRANT, SUBSCRIBE and UNSUBSCRIBE of an authenticated connection to the
// seam; false means the connection is being closed.
func (s *Server) subscription(c *conn, t hl1.Type, frame []byte) bool {
	sub := s.opts.Subscriptions
	if sub == nil {
		s.h.Stats.Drop(ingest.ReasonUnsupported)
		return true
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
	return true
}
