//go:build linux

package ingest

import (
	"net"
	"testing"
	"time"

	"heartline/agent/shared/clock"
	"heartline/gateway/internal/table"
	"heartline/protocol/hl1"
)

// Drain-mode benchmarks: a loopback socket is pre-filled with heartbeats (timer stopped),
// then drained (timer running). ns/op is receive-side time per datagram.
//
//	Floor:   a bare recvmmsg loop that only touches the bytes (the lower bound)
//	Gateway: the gateway's loop: recvmmsg + decode + slot lookup + seq/ts reconstruction +
//	         SipHash tag + table update
//	Ratio:   both, chunk by chunk in alternation (so machine noise hits both alike); reports
//	         floor-ns/dgram, gw-ns/dgram and x-floor (the target is <= 1.25)
//
//	go test -run XXX -bench Drain -benchtime 1000000x ./gateway/ingest

const drainChunk = 8192 // datagrams per fill: well inside a 16 MiB receive buffer

type drainer struct {
	l       *Loop
	conn    *net.UDPConn
	frames  [][]byte
	prepare func(n int) // fills frames[:n]
	drain   func(n int) // receives n datagrams
	check   func(n int) // verifies after a drain (untimed)
}

func (d *drainer) fill(b *testing.B, n int) {
	d.prepare(n)
	for _, f := range d.frames[:n] {
		if _, err := d.conn.Write(f); err != nil {
			b.Fatal(err)
		}
	}
}

func newBenchLoop(b *testing.B, tb *table.Table, clk clock.Clock, h HandlerOptions) *drainer {
	g := &Group{opts: Options{Batch: 64, RecvBuffer: 16 << 20, TickEvery: time.Second, Clock: clk, Handler: h}, tb: tb, inboxes: make([]chan Handoff, tb.Shards())}
	g.opts.defaults()
	l, err := openLoop(g, 0, "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(l.close)
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(l.LocalAddr()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return &drainer{l: l, conn: conn, frames: make([][]byte, drainChunk)}
}

var sink byte

func floorDrainer(b *testing.B) *drainer {
	tb, _ := table.New(table.Options{Shards: 1, SessionsPerShard: 16})
	d := newBenchLoop(b, tb, clock.Real{}, HandlerOptions{})
	frame := make([]byte, hl1.HeartbeatSize)
	d.prepare = func(n int) {
		for i := 0; i < n; i++ {
			d.frames[i] = frame
		}
	}
	d.drain = func(n int) {
		l := d.l
		for got := 0; got < n; {
			k, err := l.recv()
			if err != nil {
				b.Fatal(err)
			}
			for i := 0; i < k; i++ {
				for _, c := range l.arena[i*bufSize : i*bufSize+int(l.hdrs[i].Len)] {
					sink ^= c
				}
			}
			got += k
		}
	}
	d.check = func(int) {}
	return d
}

func gatewayDrainer(b *testing.B) *drainer {
	const sessions = 4096
	clk := clock.NewFake(t0.Add(time.Second))
	tb, err := table.New(table.Options{Shards: 1, SessionsPerShard: sessions, Start: t0})
	if err != nil {
		b.Fatal(err)
	}
	keys := testKeys(b)
	d := newBenchLoop(b, tb, clk, HandlerOptions{Keys: keys, Epoch: 9, HelloBurst: 1e9, HelloPerLoop: 1e9})
	rec := &recorder{}
	h := NewHandler(tb, 0, rec, nil, d.l.g.opts.Handler)
	d.l.h = h
	var from Addr
	from.SetAddrPort(mustAddrPort("127.0.0.1:9"))
	clients := make([]*testClient, sessions)
	now := Now{Time: clk.Now(), Tick: tb.Tick(clk.Now())}
	for i := range clients {
		clients[i] = newTestClient(b, keys, uint64(i), 1)
		h.Frame(clients[i].hello(now.Time, true), &from, nil, now)
		clients[i].welcome(b, rec.last())
	}
	next := 0
	var before uint64
	d.prepare = func(n int) {
		for i := 0; i < n; i++ {
			d.frames[i] = clients[next%sessions].beat(now.Time, true, false)
			next++
		}
		before = h.Stats.Heartbeats.Load()
	}
	d.drain = func(n int) {
		l := d.l
		for got := 0; got < n; {
			k, err := l.recv()
			if err != nil {
				b.Fatal(err)
			}
			now := Now{Time: clk.Now()}
			now.Tick = tb.Tick(now.Time)
			for i := 0; i < k; i++ {
				l.datagram(i, now)
			}
			l.flush()
			got += k
		}
	}
	d.check = func(n int) {
		if acc := h.Stats.Heartbeats.Load() - before; acc != uint64(n) {
			b.Fatalf("accepted %d of %d heartbeats (drops: bad_mac %d replay %d)", acc, n, h.Stats.Drops(ReasonBadMAC), h.Stats.Drops(ReasonReplay))
		}
	}
	return d
}

func runDrain(b *testing.B, d *drainer) {
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(drainChunk, b.N-done)
		b.StopTimer()
		d.fill(b, n)
		b.StartTimer()
		d.drain(n)
		b.StopTimer()
		d.check(n)
		b.StartTimer()
		done += n
	}
}

func BenchmarkDrainFloor(b *testing.B)   { runDrain(b, floorDrainer(b)) }
func BenchmarkDrainGateway(b *testing.B) { runDrain(b, gatewayDrainer(b)) }

// BenchmarkDrainRatio alternates floor and gateway chunks and reports the ratio.
func BenchmarkDrainRatio(b *testing.B) {
	floor, gw := floorDrainer(b), gatewayDrainer(b)
	var tFloor, tGw time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(drainChunk, b.N-done)
		b.StopTimer()
		floor.fill(b, n)
		gw.fill(b, n)
		b.StartTimer()
		// Alternate which goes first, so cache and scheduler effects fall on both alike.
		if (done/drainChunk)%2 == 0 {
			tFloor += timed(func() { floor.drain(n) })
			tGw += timed(func() { gw.drain(n) })
		} else {
			tGw += timed(func() { gw.drain(n) })
			tFloor += timed(func() { floor.drain(n) })
		}
		b.StopTimer()
		gw.check(n)
		b.StartTimer()
		done += n
	}
	b.ReportMetric(float64(tFloor.Nanoseconds())/float64(b.N), "floor-ns/dgram")
	b.ReportMetric(float64(tGw.Nanoseconds())/float64(b.N), "gw-ns/dgram")
	b.ReportMetric(float64(tGw)/float64(tFloor), "x-floor")
}

func timed(f func()) time.Duration {
	t := time.Now()
	f()
	return time.Since(t)
}
