//go:build linux

package ingest

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"

	"heartline/agent/shared/clock"
	"heartline/gateway/internal/table"
)

// gnetUDP is baseline (a): gnet's own UDP path (one recvfrom per epoll wake-up, a conn
// object per datagram) feeding the same Handler, so decode, MAC and table update are equal.
type gnetUDP struct {
	gnet.BuiltinEventEngine
	h      *Handler
	tb     *table.Table
	clk    clock.Clock
	from   Addr
	booted chan gnet.Engine
	gate   chan struct{}
	armed  atomic.Bool
	count  atomic.Int64
	target atomic.Int64
	done   chan struct{}
}

func (g *gnetUDP) OnBoot(eng gnet.Engine) gnet.Action { g.booted <- eng; return gnet.None }

func (g *gnetUDP) OnTraffic(c gnet.Conn) gnet.Action {
	if g.armed.CompareAndSwap(true, false) {
		<-g.gate // hold the loop while the socket is being filled
	}
	buf, _ := c.Next(-1)
	if ua, ok := c.RemoteAddr().(*net.UDPAddr); ok {
		g.from.SetAddrPort(ua.AddrPort())
	}
	t := g.clk.Now()
	g.h.Frame(buf, &g.from, nil, Now{Time: t, Tick: g.tb.Tick(t)})
	if g.count.Add(1) == g.target.Load() {
		g.done <- struct{}{}
	}
	return gnet.None
}

// BenchmarkDrainGnetRatio alternates chunks drained by the bare recvmmsg floor and by gnet's
// UDP path with the gateway's handler, and reports gnet's cost against the floor. (gnet's
// socket buffer is capped by net.core.rmem_max, hence the smaller chunks.)
//
//	go test -run XXX -bench DrainGnetRatio -benchtime 200000x ./gateway/ingest
func BenchmarkDrainGnetRatio(b *testing.B) {
	const chunk = 2048
	floor := floorDrainer(b)
	gw := gatewayDrainer(b) // sessions and frames; its own loop is not used for draining
	port := gw.l.LocalAddr().Port()
	gw.l.close() // free the port for gnet
	addr := net.JoinHostPort("127.0.0.1", itoa(int(port)))
	g := &gnetUDP{h: gw.l.h, tb: gw.l.g.tb, clk: gw.l.g.opts.Clock, booted: make(chan gnet.Engine, 1), gate: make(chan struct{}), done: make(chan struct{})}
	go func() {
		_ = gnet.Run(g, "udp://"+addr, gnet.WithSocketRecvBuffer(16<<20), gnet.WithLockOSThread(true), gnet.WithLogger(quietLog{}))
	}()
	var eng gnet.Engine
	select {
	case eng = <-g.booted:
	case <-time.After(5 * time.Second):
		b.Fatal("gnet did not start")
	}
	defer eng.Stop(context.Background()) //nolint:errcheck
	conn, err := net.Dial("udp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	var tFloor, tGnet time.Duration
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(chunk, b.N-done)
		b.StopTimer()
		floor.fill(b, n)
		gw.prepare(n)
		g.count.Store(0)
		g.target.Store(int64(n))
		g.armed.Store(true)
		for _, f := range gw.frames[:n] {
			if _, err := conn.Write(f); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		tFloor += timed(func() { floor.drain(n) })
		tGnet += timed(func() {
			g.gate <- struct{}{}
			<-g.done
		})
		b.StopTimer()
		gw.check(n)
		b.StartTimer()
		done += n
	}
	b.ReportMetric(float64(tFloor.Nanoseconds())/float64(b.N), "floor-ns/dgram")
	b.ReportMetric(float64(tGnet.Nanoseconds())/float64(b.N), "gnet-ns/dgram")
	b.ReportMetric(float64(tGnet)/float64(tFloor), "x-floor")
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

type quietLog struct{}

func (quietLog) Debugf(string, ...any) {}
func (quietLog) Infof(string, ...any)  {}
func (quietLog) Warnf(string, ...any)  {}
func (quietLog) Errorf(string, ...any) {}
func (quietLog) Fatalf(string, ...any) {}
