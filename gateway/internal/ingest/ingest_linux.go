//go:build linux

package ingest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"time"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

const (
	bufSize   = 4096 // one page per datagram buffer; hl1.MaxFrame fits, bigger datagrams are flagged MSG_TRUNC
	replySize = 2048 // WELCOME (29), REHELLO (6) and a relay's REHELLOS (up to hl1.MaxRehellosSize) fit
)

// Loop is one UDP socket with its own shard, run on a locked OS thread.
type Loop struct {
	g     *Group
	id    int
	fd    int
	h     *Handler
	inbox chan Handoff
	local netip.AddrPort

	// Receive side. arena holds batch page-aligned 4096-byte buffers.
	arena []byte
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	addrs []Addr

	// Send side: replies queued during a batch go out in one sendmmsg.
	sendArena []byte
	sendHdrs  []unix.Mmsghdr
	sendIovs  []unix.Iovec
	sendAddrs []Addr
	nsend     int

	ho Handoff // receive slot for the inbox (a field, so taking its address never allocates)
}

func openLoop(g *Group, id int, addr string) (*Loop, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("ingest: bad UDP address %q: %w (use host:port, e.g. :7946)", addr, err)
	}
	family := unix.AF_INET6
	if ua.IP == nil || ua.IP.To4() != nil {
		family = unix.AF_INET
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, fmt.Errorf("ingest: socket: %w", err)
	}
	l := &Loop{g: g, id: id, fd: fd, inbox: g.inboxes[id]}
	fail := func(what string, err error) (*Loop, error) {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("ingest: %s: %w", what, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		return fail("SO_REUSEPORT", err)
	}
	// SO_RCVBUFFORCE passes net.core.rmem_max when we have CAP_NET_ADMIN; otherwise the
	// kernel caps SO_RCVBUF at rmem_max. Either way log what we got.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, g.opts.RecvBuffer); err != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, g.opts.RecvBuffer)
	}
	granted, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
	tv := unix.NsecToTimeval(g.opts.TickEvery.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fail("SO_RCVTIMEO", err)
	}
	var sa unix.Sockaddr
	if family == unix.AF_INET {
		s4 := &unix.SockaddrInet4{Port: ua.Port}
		if ua.IP != nil {
			copy(s4.Addr[:], ua.IP.To4())
		}
		sa = s4
	} else {
		s6 := &unix.SockaddrInet6{Port: ua.Port}
		copy(s6.Addr[:], ua.IP.To16())
		sa = s6
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind "+addr, err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		return fail("getsockname", err)
	}
	switch a := got.(type) {
	case *unix.SockaddrInet4:
		l.local = netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		l.local = netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port))
	}
	if err := l.buffers(g.opts.Batch); err != nil {
		return fail("mmap buffers", err)
	}
	l.h = NewHandler(g.tb, id, l, g, g.opts.Handler)
	g.opts.Log.Info("udp loop listening", zap.Int("loop", id), zap.Stringer("addr", l.local),
		zap.Int("rcvbuf_requested", g.opts.RecvBuffer), zap.Int("rcvbuf_granted", granted), zap.Int("batch", g.opts.Batch))
	return l, nil
}

// buffers sets up the receive and send vectors. The datagram buffers are one anonymous
// mmap: page-aligned (each 4096-byte buffer is exactly one page, so a datagram never
// straddles pages), outside the Go heap (the GC never scans, moves or frees them), and
// allocated once for the life of the loop — the "pooled buffers" of the design without a
// sync.Pool on the hot path.
func (l *Loop) buffers(batch int) error {
	arena, err := unix.Mmap(-1, 0, batch*bufSize+batch*replySize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return err
	}
	l.arena, l.sendArena = arena[:batch*bufSize], arena[batch*bufSize:]
	l.hdrs, l.iovs, l.addrs = make([]unix.Mmsghdr, batch), make([]unix.Iovec, batch), make([]Addr, batch)
	l.sendHdrs, l.sendIovs, l.sendAddrs = make([]unix.Mmsghdr, batch), make([]unix.Iovec, batch), make([]Addr, batch)
	for i := 0; i < batch; i++ {
		l.iovs[i].Base = &l.arena[i*bufSize]
		l.iovs[i].SetLen(bufSize)
		h := &l.hdrs[i].Hdr
		h.Name = &l.addrs[i].Raw[0]
		h.Iov = &l.iovs[i]
		h.SetIovlen(1)
		l.sendIovs[i].Base = &l.sendArena[i*replySize]
		s := &l.sendHdrs[i].Hdr
		s.Name = &l.sendAddrs[i].Raw[0]
		s.Iov = &l.sendIovs[i]
		s.SetIovlen(1)
	}
	return nil
}

// LocalAddr is the bound address.
func (l *Loop) LocalAddr() netip.AddrPort { return l.local }

// Handler returns the loop's frame handler (stats, shard).
func (l *Loop) Handler() *Handler { return l.h }

func (l *Loop) close() {
	if l.fd >= 0 {
		_ = unix.Close(l.fd)
		l.fd = -1
	}
	if l.arena != nil {
		_ = unix.Munmap(l.arena[:cap(l.arena)]) // arena and sendArena are one mapping
		l.arena, l.sendArena = nil, nil
	}
}

func (l *Loop) run() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	g := l.g
	tickEvery := uint32(g.opts.TickEvery / (10 * time.Millisecond))
	if tickEvery == 0 {
		tickEvery = 1
	}
	var nextTick uint32
	for !g.stop.Load() {
		n, err := l.recv()
		now := Now{Time: g.opts.Clock.Now()}
		now.Tick = g.tb.Tick(now.Time)
		if n > 0 {
			l.h.Stats.Batches.Add(1)
			if g.opts.OnRecvBatch != nil {
				g.opts.OnRecvBatch(n)
			}
			for i := 0; i < n; i++ {
				l.datagram(i, now)
			}
		} else if err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
			g.opts.Log.Warn("recvmmsg failed", zap.Int("loop", l.id), zap.Error(err))
			time.Sleep(10 * time.Millisecond)
		}
		l.drainInbox(now)
		l.flush()
		// Tick when the table clock has moved on, or when the socket was idle for a whole
		// TickEvery (so publishing never waits for a clock that does not move, e.g. a fake one).
		if int32(now.Tick-nextTick) >= 0 || n == 0 {
			l.h.Tick(now)
			nextTick = now.Tick + tickEvery
		}
		if n > 0 && n < len(l.hdrs) && g.opts.Coalesce > 0 {
			// nanosleep on this locked thread, not time.Sleep: parking a locked goroutine on a
			// Go timer costs a thread hand-off each time.
			ts := unix.NsecToTimespec(g.opts.Coalesce.Nanoseconds())
			_ = unix.Nanosleep(&ts, nil)
		}
	}
	l.drainInbox(Now{Time: g.opts.Clock.Now(), Tick: g.tb.Tick(g.opts.Clock.Now())})
	l.flush()
}

func (l *Loop) datagram(i int, now Now) {
	h := &l.hdrs[i]
	a := &l.addrs[i]
	a.Len = h.Hdr.Namelen
	if h.Hdr.Flags&unix.MSG_TRUNC != 0 || h.Len > bufSize {
		l.h.Stats.Datagrams.Add(1)
		l.h.Stats.Drop(ReasonTooLarge)
		return
	}
	l.h.Frame(l.arena[i*bufSize:i*bufSize+int(h.Len)], a, nil, now)
}

func (l *Loop) drainInbox(now Now) {
	for {
		select {
		case l.ho = <-l.inbox:
			l.h.Handoff(&l.ho, now)
			l.ho.Conn = nil
		default:
			return
		}
	}
}

// recv runs one recvmmsg: it blocks until at least one datagram arrives (MSG_WAITFORONE)
// or the SO_RCVTIMEO tick passes (EAGAIN), then returns up to Batch datagrams.
func (l *Loop) recv() (int, error) {
	for i := range l.hdrs {
		l.hdrs[i].Hdr.Namelen = uint32(len(l.addrs[i].Raw))
		l.hdrs[i].Hdr.Flags = 0
	}
	n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(l.fd), uintptr(unsafe.Pointer(&l.hdrs[0])),
		uintptr(len(l.hdrs)), unix.MSG_WAITFORONE, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// Send queues a reply for the next sendmmsg (Sender).
func (l *Loop) Send(frame []byte, to *Addr) {
	if l.nsend == len(l.sendHdrs) {
		l.flush()
	}
	i := l.nsend
	n := copy(l.sendArena[i*replySize:(i+1)*replySize], frame)
	l.sendIovs[i].SetLen(n)
	l.sendAddrs[i] = *to
	l.sendHdrs[i].Hdr.Namelen = to.Len
	l.nsend++
}

// flush sends the queued replies with sendmmsg. It never blocks (MSG_DONTWAIT): a reply
// the socket cannot take now is dropped and counted; the client retries.
func (l *Loop) flush() {
	off := 0
	for off < l.nsend {
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(l.fd), uintptr(unsafe.Pointer(&l.sendHdrs[off])),
			uintptr(l.nsend-off), unix.MSG_DONTWAIT, 0, 0)
		if errno != 0 || n == 0 {
			l.h.Stats.SendErrors.Add(uint64(l.nsend - off)) // the failed reply and the rest
			break
		}
		off += int(n)
	}
	l.nsend = 0
}
