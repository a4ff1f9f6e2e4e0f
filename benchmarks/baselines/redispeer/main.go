// Command redispeer is the common industry peer: presence stored in Redis as one SETEX
// per heartbeat (key presence:<slot>, TTL = the offline timeout), written through go-redis
// with one pipeline per receive batch, as a real deployment would. Receiving and the HL1
// check are the same as the gateway's (recvmmsg batches, pre-shared session table), so the
// difference measured is where presence lives. The harness adds redis-server's CPU time to
// this process's.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"heartline/benchmarks/mmsg"
	"heartline/benchmarks/wire"
	"heartline/protocol/hl1"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:7953", "UDP listen address")
	redisAddr := flag.String("redis", "127.0.0.1:6379", "redis-server address")
	sessions := flag.Int("sessions", 100000, "pre-shared sessions (slots 1..n)")
	epoch := flag.Uint("epoch", 0, "epoch the loadgen seals with")
	ttl := flag.Duration("ttl", 32*time.Second, "SETEX TTL (interval x misses + grace)")
	batch := flag.Int("batch", 64, "datagrams per recvmmsg (and SETEXs per pipeline)")
	rcvbuf := flag.Int("rcvbuf", 16<<20, "SO_RCVBUF bytes")
	stats := flag.String("stats", "", "serve JSON counters at http://ADDR/stats")
	flag.Parse()
	ap, err := netip.ParseAddrPort(*listen)
	if err != nil {
		fail(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: *redisAddr, PoolSize: 4})
	ctx := context.Background()
	if err := rdb.Ping(ctx).Err(); err != nil {
		fail(fmt.Errorf("redis at %s: %w (start redis-server first)", *redisAddr, err))
	}
	conn, err := mmsg.Listen(mmsg.Options{Bind: ap, Batch: *batch, RecvBuffer: *rcvbuf, RecvTimeoutMS: 100})
	if err != nil {
		fail(err)
	}
	c := wire.NewCounters("datagrams", "heartbeats", "bad", "setex", "redis_errors")
	if err := wire.ServeStats(*stats, c.Snapshot); err != nil {
		fail(err)
	}
	tb := wire.NewPresharedTable(*sessions, uint32(*epoch), time.Now().UnixMilli())
	go func() {
		sizes := make([]int, conn.Batch())
		keyBuf := make([]byte, 0, 32)
		for {
			n, err := conn.Recv(sizes, nil)
			if err != nil {
				continue
			}
			now := time.Now()
			nowMS := now.UnixMilli()
			pipe := rdb.Pipeline()
			queued := 0
			for i := 0; i < n; i++ {
				f := conn.Bufs[i][:sizes[i]]
				ok, bad := tb.Apply(f, nowMS)
				c.Get("bad").Add(uint64(bad))
				if ok == 0 {
					continue
				}
				c.Get("heartbeats").Add(uint64(ok))
				h, err := hl1.ParseHeartbeat(f)
				if err != nil {
					continue // a BATCH: this peer stores single heartbeats only
				}
				keyBuf = strconv.AppendUint(append(keyBuf[:0], "presence:"...), uint64(h.Slot), 10)
				pipe.SetEx(ctx, string(keyBuf), nowMS, *ttl)
				queued++
			}
			c.Get("datagrams").Add(uint64(n))
			if queued > 0 {
				if _, err := pipe.Exec(ctx); err != nil {
					c.Get("redis_errors").Add(1)
				}
				c.Get("setex").Add(uint64(queued))
			}
		}
	}()
	fmt.Fprintf(os.Stderr, "redispeer: listening on %v, redis %s\n", ap, *redisAddr)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "redispeer:", err)
	os.Exit(1)
}
