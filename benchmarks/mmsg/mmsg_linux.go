//go:build linux

package mmsg

import (
	"errors"
	"fmt"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// MaxDatagram is the buffer size per datagram (HL1 frames are at most 4096 bytes).
const MaxDatagram = 4096

// Sockaddr is a raw sockaddr_in/sockaddr_in6 as the kernel reads and writes it.
type Sockaddr struct {
	Raw [unix.SizeofSockaddrInet6]byte
	Len uint32
}

// SockaddrOf converts ap to the kernel layout.
func SockaddrOf(ap netip.AddrPort) Sockaddr {
	var s Sockaddr
	port := ap.Port()
	if ap.Addr().Is4() || ap.Addr().Is4In6() {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&s.Raw[0]))
		sa.Family = unix.AF_INET
		sa.Port = port<<8 | port>>8
		sa.Addr = ap.Addr().Unmap().As4()
		s.Len = unix.SizeofSockaddrInet4
		return s
	}
	sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&s.Raw[0]))
	sa.Family = unix.AF_INET6
	sa.Port = port<<8 | port>>8
	sa.Addr = ap.Addr().As16()
	s.Len = unix.SizeofSockaddrInet6
	return s
}

// Conn is one UDP socket with pre-allocated batch headers.
type Conn struct {
	fd    int
	v6    bool
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []Sockaddr
	Bufs  [][]byte // receive buffers, MaxDatagram each
}

// Options configures a socket.
type Options struct {
	Bind          netip.AddrPort // local address; port 0 picks one
	Batch         int            // datagrams per syscall; default 64
	NonBlock      bool           // recv returns at once when empty (senders); servers block
	ReusePort     bool
	RecvBuffer    int // SO_RCVBUFFORCE bytes (falls back to SO_RCVBUF); 0 leaves the default
	SendBuffer    int // SO_SNDBUFFORCE bytes; 0 leaves the default
	RecvTimeoutMS int // SO_RCVTIMEO for blocking receivers; 0 = none
}

// Listen opens a UDP socket bound to o.Bind.
func Listen(o Options) (*Conn, error) {
	if o.Batch <= 0 {
		o.Batch = 64
	}
	family := unix.AF_INET
	v6 := o.Bind.Addr().Is6() && !o.Bind.Addr().Is4In6()
	if v6 {
		family = unix.AF_INET6
	}
	typ := unix.SOCK_DGRAM | unix.SOCK_CLOEXEC
	if o.NonBlock {
		typ |= unix.SOCK_NONBLOCK
	}
	fd, err := unix.Socket(family, typ, 0)
	if err != nil {
		return nil, fmt.Errorf("mmsg: socket: %w", err)
	}
	if o.ReusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("mmsg: SO_REUSEPORT: %w", err)
		}
	}
	if o.RecvBuffer > 0 {
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, o.RecvBuffer) != nil {
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, o.RecvBuffer)
		}
	}
	if o.SendBuffer > 0 {
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, o.SendBuffer) != nil {
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, o.SendBuffer)
		}
	}
	if o.RecvTimeoutMS > 0 {
		tv := unix.NsecToTimeval(int64(o.RecvTimeoutMS) * 1e6)
		_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	}
	var sa unix.Sockaddr
	if v6 {
		sa = &unix.SockaddrInet6{Port: int(o.Bind.Port()), Addr: o.Bind.Addr().As16()}
	} else {
		sa = &unix.SockaddrInet4{Port: int(o.Bind.Port()), Addr: o.Bind.Addr().Unmap().As4()}
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mmsg: bind %v: %w (is the port in use?)", o.Bind, err)
	}
	c := &Conn{fd: fd, v6: v6, hdrs: make([]unix.Mmsghdr, o.Batch), iovs: make([]unix.Iovec, o.Batch), names: make([]Sockaddr, o.Batch), Bufs: make([][]byte, o.Batch)}
	// One slab for all receive buffers: allocated once, reused for every batch.
	slab := make([]byte, o.Batch*MaxDatagram)
	for i := range c.Bufs {
		c.Bufs[i] = slab[i*MaxDatagram : (i+1)*MaxDatagram : (i+1)*MaxDatagram]
	}
	return c, nil
}

// FD returns the socket descriptor.
func (c *Conn) FD() int { return c.fd }

// Batch returns the number of datagrams per syscall.
func (c *Conn) Batch() int { return len(c.hdrs) }

// LocalAddr returns the bound address.
func (c *Conn) LocalAddr() netip.AddrPort {
	sa, err := unix.Getsockname(c.fd)
	if err != nil {
		return netip.AddrPort{}
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port))
	}
	return netip.AddrPort{}
}

// RecvBufferSize returns the granted SO_RCVBUF.
func (c *Conn) RecvBufferSize() int {
	n, _ := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
	return n
}

// ForceRecvBuffer sets SO_RCVBUFFORCE (falling back to SO_RCVBUF) on any socket fd: the
// comparators built on net.UDPConn or gnet use it so every server gets the same queue.
func ForceRecvBuffer(fd, bytes int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, bytes); err != nil {
		return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, bytes)
	}
	return nil
}

// Close closes the socket.
func (c *Conn) Close() error { return unix.Close(c.fd) }

// ErrWouldBlock is returned by Recv on a non-blocking socket with nothing queued, and by
// Send when the send buffer is full.
var ErrWouldBlock = errors.New("mmsg: would block")

// Recv receives up to len(c.Bufs) datagrams into c.Bufs; sizes[i] is the length of
// datagram i and from[i] its source (when from is non-nil). A timeout or an empty
// non-blocking socket returns ErrWouldBlock.
func (c *Conn) Recv(sizes []int, from []Sockaddr) (int, error) {
	n := min(len(c.hdrs), len(sizes))
	for i := 0; i < n; i++ {
		c.iovs[i].Base = &c.Bufs[i][0]
		c.iovs[i].SetLen(MaxDatagram)
		h := &c.hdrs[i].Hdr
		h.Iov = &c.iovs[i]
		h.SetIovlen(1)
		if from != nil {
			h.Name = &from[i].Raw[0]
			h.Namelen = uint32(len(from[i].Raw))
		} else {
			h.Name = nil
			h.Namelen = 0
		}
		c.hdrs[i].Len = 0
	}
	for {
		// MSG_WAITFORONE: a blocking receive returns as soon as one datagram is in, with
		// whatever else is queued, instead of waiting until the batch is full.
		r, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(c.fd), uintptr(unsafe.Pointer(&c.hdrs[0])), uintptr(n), unix.MSG_WAITFORONE, 0, 0)
		switch errno {
		case 0:
			for i := 0; i < int(r); i++ {
				sizes[i] = int(c.hdrs[i].Len)
				if from != nil {
					from[i].Len = c.hdrs[i].Hdr.Namelen
				}
			}
			return int(r), nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, ErrWouldBlock
		default:
			return 0, fmt.Errorf("mmsg: recvmmsg: %w", errno)
		}
	}
}

// Send sends frames[i] to to[i] (or to to[0] for all when len(to) == 1) in one sendmmsg
// per batch, retrying partial sends. On a full non-blocking socket it waits for room.
func (c *Conn) Send(frames [][]byte, to []Sockaddr) (int, error) {
	sent := 0
	for sent < len(frames) {
		n := min(len(frames)-sent, len(c.hdrs))
		for i := 0; i < n; i++ {
			f := frames[sent+i]
			c.iovs[i].Base = &f[0]
			c.iovs[i].SetLen(len(f))
			h := &c.hdrs[i].Hdr
			h.Iov = &c.iovs[i]
			h.SetIovlen(1)
			dst := &to[0]
			if len(to) > 1 {
				dst = &to[sent+i]
			}
			h.Name = &dst.Raw[0]
			h.Namelen = dst.Len
		}
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(c.fd), uintptr(unsafe.Pointer(&c.hdrs[0])), uintptr(n), 0, 0, 0)
		switch errno {
		case 0:
			sent += int(r)
		case unix.EINTR:
		case unix.EAGAIN:
			fds := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLOUT}}
			_, _ = unix.Poll(fds, 10)
		default:
			return sent, fmt.Errorf("mmsg: sendmmsg: %w", errno)
		}
	}
	return sent, nil
}
