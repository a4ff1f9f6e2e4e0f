// Command gnetudp is the comparator for gnet v2's stock UDP path: gnet's event loops read
// the datagrams, and OnTraffic runs the same HL1 per-heartbeat work the gateway does
// (decode, seq/ts reconstruction, SipHash tag, table update; BATCH entries one by one)
// against a pre-shared session table (the loadgen runs with -handshake none).
package main

import (
	"flag"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"

	"heartline/benchmarks/mmsg"
	"heartline/benchmarks/wire"
)

type server struct {
	gnet.BuiltinEventEngine
	tb     *wire.PresharedTable
	c      *wire.Counters
	dg, ok *atomic.Uint64
	bad    *atomic.Uint64
	rcvbuf int
}

// OnBoot gives the listening socket the same SO_RCVBUFFORCE queue as the other servers
// (gnet's WithSocketRecvBuffer uses SO_RCVBUF, which net.core.rmem_max caps).
func (s *server) OnBoot(eng gnet.Engine) gnet.Action {
	if fd, err := eng.Dup(); err == nil {
		_ = mmsg.ForceRecvBuffer(fd, s.rcvbuf)
		_ = syscall.Close(fd)
	}
	return gnet.None
}

func (s *server) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Next(-1)
	ok, bad := s.tb.Apply(buf, time.Now().UnixMilli())
	s.dg.Add(1)
	s.ok.Add(uint64(ok))
	if bad > 0 {
		s.bad.Add(uint64(bad))
	}
	return gnet.None
}

func main() {
	listen := flag.String("listen", "127.0.0.1:7952", "UDP listen address")
	sessions := flag.Int("sessions", 100000, "pre-shared sessions (slots 1..n)")
	loops := flag.Int("loops", 1, "gnet event loops")
	epoch := flag.Uint("epoch", 0, "epoch the loadgen seals with")
	startMS := flag.Int64("start-ms", 0, "ts 0 of the pre-shared sessions (default: now)")
	rcvbuf := flag.Int("rcvbuf", 16<<20, "SO_RCVBUF bytes")
	stats := flag.String("stats", "", "serve JSON counters at http://ADDR/stats")
	flag.Parse()
	if *loops != 1 {
		fail(fmt.Errorf("-loops %d: the pre-shared table has one writer per slot only with one loop; run one", *loops))
	}
	if *startMS == 0 {
		*startMS = time.Now().UnixMilli()
	}
	c := wire.NewCounters("datagrams", "heartbeats", "bad")
	s := &server{tb: wire.NewPresharedTable(*sessions, uint32(*epoch), *startMS), c: c, dg: c.Get("datagrams"), ok: c.Get("heartbeats"), bad: c.Get("bad"), rcvbuf: *rcvbuf}
	if err := wire.ServeStats(*stats, c.Snapshot); err != nil {
		fail(err)
	}
	fmt.Fprintf(os.Stderr, "gnetudp: listening on %s (%d loops)\n", *listen, *loops)
	err := gnet.Run(s, "udp://"+*listen, gnet.WithNumEventLoop(*loops), gnet.WithReusePort(*loops > 1),
		gnet.WithSocketRecvBuffer(*rcvbuf), gnet.WithLockOSThread(true))
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gnetudp:", err)
	os.Exit(1)
}
