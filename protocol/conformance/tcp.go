package conformance

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"heartline/protocol/hl1"
)

// tcpProbe is one TCP connection to a gateway. Answers on a connection come in order, so a
// heartbeat with a forged tag on the connection's own slot (answered REHELLO 1) is its marker.
type tcpProbe struct {
	t    testing.TB
	conn *net.TCPConn
	buf  []byte
}

func dialTCP(t testing.TB, addr string) *tcpProbe {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dialing the gateway's TCP address %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	tc := c.(*net.TCPConn)
	_ = tc.SetNoDelay(true) // each write its own segment, so split points reach the gateway split
	return &tcpProbe{t: t, conn: tc, buf: make([]byte, hl1.MaxFrame)}
}

// framed is frame with its 2-byte length prefix.
func framed(t testing.TB, frame []byte) []byte {
	t.Helper()
	b, err := hl1.AppendTCP(nil, frame)
	if err != nil {
		t.Fatalf("framing %x: %v", frame, err)
	}
	return b
}

// write writes raw bytes (a gateway's close may already have happened: errors are left to
// the reads that follow).
func (p *tcpProbe) write(b []byte) {
	_ = p.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = p.conn.Write(b)
}

func (p *tcpProbe) send(frame []byte) { p.write(framed(p.t, frame)) }

// next reads the next frame; it returns nil at EOF or a reset (the gateway closed) and fails
// the test if nothing comes within d.
func (p *tcpProbe) next(d time.Duration) []byte {
	p.t.Helper()
	_ = p.conn.SetReadDeadline(time.Now().Add(d))
	f, err := hl1.ReadTCPFrame(p.conn, p.buf)
	switch {
	case err == nil:
		return append([]byte(nil), f...)
	case errors.Is(err, os.ErrDeadlineExceeded):
		p.t.Fatalf("no frame and no close from the gateway within %v", d)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed), isReset(err):
		return nil
	default:
		p.t.Fatalf("reading from the gateway: %v", err)
	}
	return nil
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "read"
}

// expectClose wants CLOSE reason as the next frame, then the end of the connection.
func (p *tcpProbe) expectClose(what string, reason hl1.CloseReason) {
	p.t.Helper()
	f := p.next(5 * time.Second)
	if r, err := hl1.ParseClose(f); err != nil || r != reason {
		p.t.Errorf("%s: want CLOSE %d, got %x", what, reason, f)
		return
	}
	p.expectEnd(what)
}

// expectEnd wants the connection to end with no further frame.
func (p *tcpProbe) expectEnd(what string) {
	p.t.Helper()
	if f := p.next(5 * time.Second); f != nil {
		p.t.Errorf("%s: want the connection closed, got another frame %x", what, f)
	}
}

// expectRehello wants REHELLO (slot, reason) as the next frame.
func (p *tcpProbe) expectRehello(what string, slot uint32, reason hl1.RehelloReason) {
	p.t.Helper()
	f := p.next(5 * time.Second)
	if r, err := hl1.ParseRehello(f); err != nil || r.Slot != slot || r.Reason != reason {
		p.t.Errorf("%s: want REHELLO %d for slot %d, got %x", what, reason, slot, f)
	}
}

// hello sends a HELLO for c and wants its WELCOME as the next frame.
func (p *tcpProbe) hello(c *creds) *session {
	p.t.Helper()
	frame, h := c.helloFrame(hl1.FlagActive)
	p.send(frame)
	f := p.next(5 * time.Second)
	if f == nil {
		p.t.Fatal("the gateway closed the connection instead of answering a valid HELLO")
	}
	return welcomed(p.t, c, h, f)
}

// online says HELLO and sends the first heartbeat, checked with a marker.
func (p *tcpProbe) online(c *creds) *session {
	p.t.Helper()
	s := p.hello(c)
	p.send(s.beat(false))
	p.marker(s, "first heartbeat after WELCOME")
	return s
}

// marker sends a forged heartbeat on s's slot and wants its REHELLO 1 as the very next
// frame: whatever was sent before it got no answer.
func (p *tcpProbe) marker(s *session, what string) {
	p.t.Helper()
	p.send(s.forged())
	p.expectRehello(what+", then a forged heartbeat (the marker)", s.w.Slot, hl1.RehelloUnknownSlot)
}
