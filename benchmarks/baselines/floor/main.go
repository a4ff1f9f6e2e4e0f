// Command floor is the comparator that sets the lower bound: a bare Go recvmmsg loop that
// only touches the bytes of each datagram. Its flags switch off, one at a time, the
// optimisations the seed credits for its 4.2x (the ablation):
//
//	-batch 1      one datagram per syscall instead of 64 (recvmmsg batching)
//	-recvfrom     net.UDPConn.ReadFromUDPAddrPort, one datagram per call through Go's netpoller
//	-alloc        a fresh 2 KiB buffer per datagram, copied into (no buffer pooling / zero-copy)
//
// GC tuning is the GOGC / GOMEMLIMIT environment of this process.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"

	"heartline/benchmarks/mmsg"
	"heartline/benchmarks/wire"
)

var sink atomic.Uint64

// toucher is one loop's byte toucher; with -alloc its last 1024 buffers stay reachable,
// as a naive server's in-flight buffers would.
type toucher struct {
	alloc bool
	keep  [][]byte
	i     int
}

func main() {
	listen := flag.String("listen", "127.0.0.1:7950", "UDP listen address")
	batch := flag.Int("batch", 64, "datagrams per recvmmsg")
	loops := flag.Int("loops", 1, "SO_REUSEPORT sockets, one locked thread each")
	recvfrom := flag.Bool("recvfrom", false, "read with net.UDPConn, one datagram per call")
	alloc := flag.Bool("alloc", false, "allocate a fresh buffer per datagram and copy into it")
	rcvbuf := flag.Int("rcvbuf", 16<<20, "SO_RCVBUF bytes")
	stats := flag.String("stats", "", "serve JSON counters at http://ADDR/stats")
	flag.Parse()
	ap, err := netip.ParseAddrPort(*listen)
	if err != nil {
		fail(err)
	}
	c := wire.NewCounters("datagrams", "heartbeats", "bytes")
	if err := wire.ServeStats(*stats, c.Snapshot); err != nil {
		fail(err)
	}
	dg, hb := c.Get("datagrams"), c.Get("heartbeats")
	for l := 0; l < *loops; l++ {
		if *recvfrom {
			conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
			if err != nil {
				fail(err)
			}
			if rc, err := conn.SyscallConn(); err == nil {
				_ = rc.Control(func(fd uintptr) { _ = mmsg.ForceRecvBuffer(int(fd), *rcvbuf) })
			}
			tc := &toucher{alloc: *alloc, keep: make([][]byte, 1024)}
			go func() {
				buf := make([]byte, mmsg.MaxDatagram)
				for {
					n, _, err := conn.ReadFromUDPAddrPort(buf)
					if err != nil {
						continue
					}
					tc.touch(buf[:n])
					dg.Add(1)
					hb.Add(1)
				}
			}()
			break
		}
		conn, err := mmsg.Listen(mmsg.Options{Bind: ap, Batch: *batch, ReusePort: true, RecvBuffer: *rcvbuf, RecvTimeoutMS: 100})
		if err != nil {
			fail(err)
		}
		tc := &toucher{alloc: *alloc, keep: make([][]byte, 1024)}
		go func() {
			runtime.LockOSThread()
			sizes := make([]int, conn.Batch())
			from := make([]mmsg.Sockaddr, conn.Batch())
			for {
				n, err := conn.Recv(sizes, from)
				if err != nil {
					continue
				}
				for i := 0; i < n; i++ {
					tc.touch(conn.Bufs[i][:sizes[i]])
				}
				dg.Add(uint64(n))
				hb.Add(uint64(n))
			}
		}()
	}
	fmt.Fprintf(os.Stderr, "floor: listening on %v (batch %d, recvfrom %v, alloc %v)\n", ap, *batch, *recvfrom, *alloc)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
}

// touch reads every byte (so the datagram is really brought into the cache), optionally
// through a freshly allocated copy.
func (t *toucher) touch(b []byte) {
	if t.alloc {
		c := make([]byte, 2048)
		copy(c, b)
		t.keep[t.i&1023] = c
		t.i++
		b = c[:len(b)]
	}
	var x byte
	for _, v := range b {
		x ^= v
	}
	sink.Add(uint64(x))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "floor:", err)
	os.Exit(1)
}
