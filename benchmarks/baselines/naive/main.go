// Command naive is the seed's "before" server, written the way the seed's first version
// is: JSON heartbeats {user_id, ts, status, seq}, read one datagram at a time with
// net.UDPConn.ReadFromUDP, decoded with encoding/json into a struct, stored in a map
// guarded by a mutex. Nothing is pooled or batched; GC runs at the process's GOGC.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"heartline/benchmarks/mmsg"
	"heartline/benchmarks/wire"
)

type presence struct {
	TS     int64
	Status string
	Seq    uint64
}

func main() {
	listen := flag.String("listen", "127.0.0.1:7951", "UDP listen address")
	readers := flag.Int("readers", 1, "goroutines reading the socket")
	rcvbuf := flag.Int("rcvbuf", 16<<20, "SO_RCVBUF bytes")
	stats := flag.String("stats", "", "serve JSON counters at http://ADDR/stats")
	flag.Parse()
	addr, err := net.ResolveUDPAddr("udp", *listen)
	if err != nil {
		fail(err)
	}
	conn, err := net.ListenUDP("udp", addr)
	if err != nil {
		fail(err)
	}
	// Same receive queue as every other server in the comparison (SO_RCVBUFFORCE).
	if rc, err := conn.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) { _ = mmsg.ForceRecvBuffer(int(fd), *rcvbuf) })
	}
	c := wire.NewCounters("datagrams", "heartbeats", "bad")
	if err := wire.ServeStats(*stats, c.Snapshot); err != nil {
		fail(err)
	}
	var mu sync.Mutex
	online := map[uint64]presence{}
	for r := 0; r < *readers; r++ {
		go func() {
			for {
				buf := make([]byte, 1024)
				n, _, err := conn.ReadFromUDP(buf)
				if err != nil {
					continue
				}
				c.Get("datagrams").Add(1)
				var hb wire.JSONBeat
				if err := json.Unmarshal(buf[:n], &hb); err != nil {
					c.Get("bad").Add(1)
					continue
				}
				mu.Lock()
				online[hb.UserID] = presence{TS: hb.TS, Status: hb.Status, Seq: hb.Seq}
				mu.Unlock()
				c.Get("heartbeats").Add(1)
			}
		}()
	}
	fmt.Fprintf(os.Stderr, "naive: listening on %v\n", conn.LocalAddr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "naive:", err)
	os.Exit(1)
}
