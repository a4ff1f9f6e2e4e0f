//go:build !linux

package mmsg

import (
	"errors"
	"net/netip"
)

// MaxDatagram is the buffer size per datagram.
const MaxDatagram = 4096

// ErrWouldBlock mirrors the Linux API.
var ErrWouldBlock = errors.New("mmsg: would block")

var errUnsupported = errors.New("mmsg: recvmmsg/sendmmsg need Linux; run the benchmark harness on Linux")

// Sockaddr mirrors the Linux API.
type Sockaddr struct {
	Raw [28]byte
	Len uint32
}

// SockaddrOf mirrors the Linux API.
func SockaddrOf(ap netip.AddrPort) Sockaddr { return Sockaddr{} }

// Options mirrors the Linux API.
type Options struct {
	Bind          netip.AddrPort
	Batch         int
	NonBlock      bool
	ReusePort     bool
	RecvBuffer    int
	SendBuffer    int
	RecvTimeoutMS int
}

// Conn mirrors the Linux API.
type Conn struct{ Bufs [][]byte }

// Listen fails on this OS.
func Listen(o Options) (*Conn, error) { return nil, errUnsupported }

func (c *Conn) FD() int                                          { return -1 }
func (c *Conn) Batch() int                                       { return 0 }
func (c *Conn) LocalAddr() netip.AddrPort                        { return netip.AddrPort{} }
func (c *Conn) RecvBufferSize() int                              { return 0 }
func (c *Conn) Close() error                                     { return nil }
func (c *Conn) Recv(sizes []int, from []Sockaddr) (int, error)   { return 0, errUnsupported }
func (c *Conn) Send(frames [][]byte, to []Sockaddr) (int, error) { return 0, errUnsupported }

// ForceRecvBuffer fails on this OS.
func ForceRecvBuffer(fd, bytes int) error { return errUnsupported }
