package tcp

import (
	"io"
	"net"

	"github.com/panjf2000/gnet/v2"
)

// fakeGnetConn is the part of gnet.Conn the server uses, with gnet's buffer semantics
// (including Discard(n <= 0) discarding everything), run synchronously: AsyncWrite and
// Wake call back at once. Methods the server does not use panic (the nil embedded Conn).
type fakeGnetConn struct {
	gnet.Conn
	ctx     any
	in      []byte
	written []byte // every byte AsyncWrite was given, in order
	closed  bool
}

func (f *fakeGnetConn) Context() any       { return f.ctx }
func (f *fakeGnetConn) SetContext(ctx any) { f.ctx = ctx }
func (f *fakeGnetConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 4711}
}
func (f *fakeGnetConn) InboundBuffered() int { return len(f.in) }
func (f *fakeGnetConn) OutboundBuffered() int {
	return 0
}

func (f *fakeGnetConn) Peek(n int) ([]byte, error) {
	if n > len(f.in) {
		return nil, io.ErrShortBuffer
	}
	if n <= 0 {
		n = len(f.in)
	}
	return f.in[:n], nil
}

func (f *fakeGnetConn) Discard(n int) (int, error) {
	if n <= 0 || n >= len(f.in) {
		d := len(f.in)
		f.in = f.in[:0]
		return d, nil
	}
	f.in = append(f.in[:0], f.in[n:]...)
	return n, nil
}

func (f *fakeGnetConn) AsyncWrite(b []byte, cb gnet.AsyncCallback) error {
	f.written = append(f.written, b...)
	if cb != nil {
		_ = cb(f, nil)
	}
	return nil
}

func (f *fakeGnetConn) Wake(cb gnet.AsyncCallback) error {
	if cb != nil {
		_ = cb(f, nil)
	}
	return nil
}

func (f *fakeGnetConn) Close() error { f.closed = true; return nil }

// receive is what gnet's read does: append the bytes read, then OnTraffic.
func (f *fakeGnetConn) receive(s *Server, b []byte) {
	if f.closed {
		return
	}
	f.in = append(f.in, b...)
	s.OnTraffic(f)
}
