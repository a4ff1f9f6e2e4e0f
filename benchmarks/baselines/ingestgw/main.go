// Command ingestgw runs the Heartline gateway's UDP hot path (gateway/ingest on a
// gateway/table, exactly the code the gateway process runs) as a process of its own, with
// a feed consumer that takes and discards the table's outbox batches. The harness measures
// it when the gateway binary does not serve UDP yet; once it does, the harness runs the
// gateway itself (bench runner flag -gateway bin).
//
// The gateway's packages are internal to it; this command reaches the ingest path through
// the gateway's narrow seam, gateway/gatewaytest.StartIngest, because there is no other way
// to put that path under load from outside a test: it is a measurement stand-in, not a
// product process, and it must not grow features of its own.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"heartline/benchmarks/wire"
	"heartline/gateway/gatewaytest"
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
	gw, err := gatewaytest.StartIngest(gatewaytest.IngestOptions{Addr: *listen, Loops: *loops, Batch: *batch, RecvBuffer: *rcvbuf,
		SessionsPerShard: *perShard, Interval: *interval, Keys: keys, Epoch: uint32(time.Now().Unix()), Unlimited: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingestgw:", err)
		os.Exit(1)
	}
	defer gw.Stop()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := wire.ServeStats(*stats, gw.Stats); err != nil {
		fmt.Fprintln(os.Stderr, "ingestgw:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "ingestgw: listening on %v (%d loops, batch %d)\n", gw.LocalAddr(), *loops, *batch)
	<-ctx.Done()
}
