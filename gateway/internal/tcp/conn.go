package tcp

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"heartline/gateway/internal/ingest"
	"heartline/protocol/hl1"
)

// conn is the per-connection state, the gnet.Conn context. Fields written by the event
// loop only are plain; the rest are atomics because the worker, the UDP loops (hand-off
// replies) and the subscriptions seam reach the connection too.
type conn struct {
	s       *Server
	gc      gnet.Conn
	id      uint64
	from    ingest.Addr
	group   netip.Prefix // the address group counted against MaxConnsPerAddr (addrgroup.go)
	opened  int64        // unix nanos of the accept: AuthTimeout counts from here
	pending int          // inbound bytes left buffered after the last OnTraffic (event loop only)

	// The TCP rules of PROTOCOL.md (rules.go). authed: the gateway sent a WELCOME, which
	// only a verified HELLO gets; rehelloed: it sent a REHELLO for a live slot since the
	// last WELCOME; beaten: a HEARTBEAT or BYE came since the last WELCOME.
	authed    atomic.Bool
	rehelloed atomic.Bool
	beaten    atomic.Bool
	last      atomic.Int64 // unix nanos of the last frame since authentication (idle timeout)
	queued    atomic.Int32 // frames of this connection in the worker queue (ConnQueue)

	closing atomic.Bool
	cause   atomic.Uint32 // CloseCause+1 once the gateway closed it; 0: the peer did
	subbed  atomic.Bool
	// claimed is the user id the connection's HELLO tokens name; claimConflict is set when
	// two of them named different members. User reports it only once authenticated.
	claimed       atomic.Uint64
	claimConflict atomic.Bool

	outbound atomic.Int64 // bytes handed to AsyncWrite, not yet in gnet's buffer
	buffered atomic.Int64 // gnet's outbound buffer (not yet taken by the socket) at the last look
	probing  atomic.Bool  // a Wake to refresh buffered is in flight
	linger   atomic.Int64 // unix nanos: a CLOSE frame waits in gnet's buffer until then (0: none)
}

// ID implements Conn.
func (c *conn) ID() uint64 { return c.id }

// User implements Conn: the member of the connection's HELLOs, once one of them verified
// (0 before, and when its HELLOs named different members).
func (c *conn) User() uint64 {
	if !c.authed.Load() || c.claimConflict.Load() {
		return 0
	}
	return c.claimed.Load()
}

// claim records the user id a HELLO's token names, before it is verified: the WELCOME
// (authed) is what makes it count.
func (c *conn) claim(frame []byte) {
	h, err := hl1.ParseHello(frame)
	if err != nil {
		return
	}
	u := binary.BigEndian.Uint64(h.Token[3:11])
	if prev := c.claimed.Swap(u); prev != 0 && prev != u {
		c.claimConflict.Store(true)
	}
}

// SendFrame implements Conn and ingest.Conn: it length-prefixes frame and queues it on the
// event loop. The copy is needed because gnet writes it later. A WELCOME authenticates the
// connection; a REHELLO for a live slot allows the next HELLO; a REHELLO answering a HELLO
// (slot 0: full, draining, unavailable) ends the connection after it.
func (c *conn) SendFrame(frame []byte) {
	if c.closing.Load() || len(frame) == 0 {
		return
	}
	switch hl1.Type(frame[0]) {
	case hl1.TypeWelcome:
		c.welcomed()
	case hl1.TypeRehello:
		if r, err := hl1.ParseRehello(frame); err == nil && r.Slot == 0 {
			c.closeAfter(frame, CauseHelloRefused)
			return
		}
		c.rehelloed.Store(true)
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

// welcomed marks the connection authenticated (the handler sends WELCOME only after the
// HELLO verified) and starts its idle clock.
func (c *conn) welcomed() {
	c.rehelloed.Store(false)
	c.beaten.Store(false)
	c.last.Store(time.Now().UnixNano())
	c.authed.Store(true)
}

// Refused implements ingest.Conn: a frame of this connection was dropped without an
// answer; rules.go says what the connection does about it.
func (c *conn) Refused(t hl1.Type, r ingest.DropReason) {
	switch refusal(t, r) {
	case refuseProtocol:
		c.close(CauseProtocolError)
	case refuseAuth:
		c.close(CauseNotAuthenticated)
	case refuseBusy:
		c.closeAfter(hl1.AppendRehello(nil, hl1.Rehello{Slot: 0, Reason: hl1.RehelloFull}), CauseHelloRefused)
	}
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
func (c *conn) close(cause CloseCause) { c.closeAfter(nil, cause) }

// closeAfter sends lead (a frame, if any), then CLOSE with the cause's code (if it has one),
// and closes the connection, once; the cause is counted.
//
// When the frames cannot go out at once (a slow reader's socket is full, with EVENT data
// queued before them), the connection lingers up to Options.CloseLinger for the app to read
// what is queued and the CLOSE frame; OnTick closes it when its buffer is empty or the time
// is up. Inbound frames are ignored meanwhile.
func (c *conn) closeAfter(lead []byte, cause CloseCause) {
	if !c.closing.CompareAndSwap(false, true) {
		return
	}
	c.cause.Store(uint32(cause) + 1)
	var b []byte
	if lead != nil {
		b, _ = hl1.AppendTCP(b, lead)
	}
	if reason := cause.Code(); reason != 0 {
		b, _ = hl1.AppendTCP(b, hl1.AppendClose(nil, reason))
	}
	if len(b) == 0 {
		_ = c.gc.Close()
		return
	}
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
