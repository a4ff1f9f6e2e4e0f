// Command ingestgw runs the Heartline gateway's UDP hot path (gateway/ingest on a
// gateway/table, exactly the code the gateway process runs) as a process of its own, with
// a feed consumer that takes and discards the table's outbox batches. The harness measures
// it when the gateway binary does not serve UDP yet; once it does, the harness runs the
// gateway itself (bench runner flag -gateway bin).
//
// It imports gateway/ingest and gateway/table because there was no other way to put the
// ingest path under load from outside a test: it is a measurement stand-in, not a product
// process, and it must not grow features of its own.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"heartline/benchmarks/wire"
	"heartline/gateway/ingest"
	"heartline/gateway/table"
	"heartline/protocol/token"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:7946", "UDP listen address")
	keysFile := flag.String("keys", "", "key file (token.LoadKeyRing format)")
	loops := flag.Int("loops", 1, "ingest loops (SO_REUSEPORT sockets)")
	batch := flag.Int("batch", 64, "datagrams per recvmmsg")
	perShard := flag.Int("sessions-per-shard", 1<<20, "table capacity per shard")
	interval := flag.Duration("interval", 10*time.Second, "heartbeat interval announced in WELCOME")
	rcvbuf := flag.Int("rcvbuf", 16<<20, "SO_RCVBUF bytes per socket")
	stats := flag.String("stats", "", "serve JSON counters at http://ADDR/stats")
	flag.Parse()
	if *keysFile == "" {
		fmt.Fprintln(os.Stderr, "ingestgw: -keys <file> is required (the same file the loadgen uses)")
		os.Exit(2)
	}
	keys, err := token.LoadKeyRing(*keysFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingestgw:", err)
		os.Exit(2)
	}
	tb, err := table.New(table.Options{Shards: *loops, SessionsPerShard: *perShard, Interval: *interval})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingestgw:", err)
		os.Exit(2)
	}
	g, err := ingest.NewGroup(tb, ingest.Options{Addr: *listen, Loops: *loops, Batch: *batch, RecvBuffer: *rcvbuf, Log: zap.NewNop(),
		Handler: ingest.HandlerOptions{Keys: keys, Epoch: uint32(time.Now().Unix()), HelloPerSource: 1e9, HelloBurst: 1e9, HelloPerLoop: 1e9}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingestgw:", err)
		os.Exit(1)
	}
	var records atomic.Uint64
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go consumeFeed(ctx, tb, &records)
	snap := func() map[string]uint64 {
		var d, h, he, re, by uint64
		for _, s := range g.Stats() {
			d += s.Datagrams.Load()
			h += s.Heartbeats.Load()
			he += s.Hellos.Load()
			re += s.Rehellos.Load()
			by += s.Byes.Load()
		}
		m := map[string]uint64{"datagrams": d, "heartbeats": h, "hellos": he, "rehellos": re, "byes": by, "online": uint64(tb.Online()), "records": records.Load()}
		for _, r := range ingest.DropReasons {
			var n uint64
			for _, s := range g.Stats() {
				n += s.Drops(r)
			}
			if n > 0 {
				m["drop_"+r] = n
			}
		}
		return m
	}
	if err := wire.ServeStats(*stats, snap); err != nil {
		fmt.Fprintln(os.Stderr, "ingestgw:", err)
		os.Exit(1)
	}
	g.Start()
	fmt.Fprintf(os.Stderr, "ingestgw: listening on %v (%d loops, batch %d)\n", g.LocalAddr(), *loops, *batch)
	<-ctx.Done()
	g.Stop()
}

// consumeFeed plays the feed writer: it takes every ready outbox batch and gives it back.
func consumeFeed(ctx context.Context, tb *table.Table, records *atomic.Uint64) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for i := 0; i < tb.Shards(); i++ {
			o := tb.Shard(i).Outbox()
			if o.Ready() {
				records.Add(uint64(len(o.Records) + len(o.Snapshot)))
				o.Done()
			}
		}
	}
}
