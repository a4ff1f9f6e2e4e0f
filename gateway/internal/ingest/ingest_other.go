//go:build !linux

package ingest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"go.uber.org/zap"

	"heartline/protocol/hl1"
)

// Loop is the portable UDP loop: one datagram per read through the net package. It keeps
// the same shard/handler structure as the Linux loop but has no recvmmsg, no SO_REUSEPORT
// (NewGroup on these systems should be used with Loops = 1) and no batch sends. It exists
// so the gateway builds and its tests run on developer machines; production is Linux.
type Loop struct {
	g     *Group
	id    int
	conn  *net.UDPConn
	h     *Handler
	inbox chan Handoff
	buf   []byte
	from  Addr
	ho    Handoff
}

func openLoop(g *Group, id int, addr string) (*Loop, error) {
	if id > 0 {
		return nil, fmt.Errorf("ingest: this OS has no SO_REUSEPORT loop support: run with -loops 1")
	}
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("ingest: bad UDP address %q: %w", addr, err)
	}
	c, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("ingest: listen %s: %w", addr, err)
	}
	_ = c.SetReadBuffer(g.opts.RecvBuffer)
	l := &Loop{g: g, id: id, conn: c, inbox: g.inboxes[id], buf: make([]byte, hl1.MaxFrame+1)}
	l.h = NewHandler(g.tb, id, l, g, g.opts.Handler)
	g.opts.Log.Info("udp loop listening (portable)", zap.Stringer("addr", l.LocalAddr()))
	return l, nil
}

// LocalAddr is the bound address.
func (l *Loop) LocalAddr() netip.AddrPort { return l.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Handler returns the loop's frame handler.
func (l *Loop) Handler() *Handler { return l.h }

func (l *Loop) close() { _ = l.conn.Close() }

func (l *Loop) run() {
	g := l.g
	var nextTick uint32
	for !g.stop.Load() {
		_ = l.conn.SetReadDeadline(time.Now().Add(g.opts.TickEvery))
		n, ap, err := l.conn.ReadFromUDPAddrPort(l.buf)
		now := Now{Time: g.opts.Clock.Now()}
		now.Tick = g.tb.Tick(now.Time)
		if err == nil {
			if g.opts.OnRecvBatch != nil {
				g.opts.OnRecvBatch(1)
			}
			l.from.SetAddrPort(ap)
			if n > hl1.MaxFrame {
				l.h.Stats.Datagrams.Add(1)
				l.h.Stats.Drop(ReasonTooLarge)
			} else {
				l.h.Frame(l.buf[:n], &l.from, nil, now)
			}
		} else if !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, net.ErrClosed) {
			g.opts.Log.Warn("udp read failed", zap.Error(err))
		}
		for drained := false; !drained; {
			select {
			case l.ho = <-l.inbox:
				l.h.Handoff(&l.ho, now)
				l.ho.Conn = nil
			default:
				drained = true
			}
		}
		if int32(now.Tick-nextTick) >= 0 || err != nil {
			l.h.Tick(now)
			nextTick = now.Tick + uint32(g.opts.TickEvery/(10*time.Millisecond)) + 1
		}
	}
}

// Send writes a reply at once.
func (l *Loop) Send(frame []byte, to *Addr) {
	if _, err := l.conn.WriteToUDPAddrPort(frame, to.AddrPort()); err != nil {
		l.h.Stats.SendErrors.Add(1)
	}
}
