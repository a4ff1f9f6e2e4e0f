package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"heartline/benchmarks/procstat"
	"heartline/protocol/presencekv"
)

// store is what a phase needs from Consul or etcd.
type store interface {
	name() string
	serverPID() int
	wireBytes() (out, in int64)
	// newOwner creates a session (Consul) or lease (etcd) with ttl; with renew it is kept
	// alive until release.
	newOwner(ctx context.Context, ttl time.Duration, renew bool) (owner string, release func(), err error)
	// txn writes keys[i]=vals[i] bound to owner in one transaction.
	txn(ctx context.Context, owner string, keys []string, vals [][]byte) error
	count(ctx context.Context, prefix string) (int, error)
}

func main() {
	consulBin := flag.String("consul", os.Getenv("HEARTLINE_CONSUL_BIN"), "consul binary (scripts/install-consul.sh prints it)")
	etcdBin := flag.String("etcd", "etcd", "etcd binary (Debian package etcd-server)")
	out := flag.String("out", "-", "JSON result path (- = stdout)")
	d := flag.Duration("duration", 8*time.Second, "how long each store × shape phase writes")
	ops := flag.Int("ops", 128, "ops per batched transaction (both stores' default maximum is 128)")
	inflight := flag.Int("inflight", 4, "transactions in flight per phase (the agent runs several lanes)")
	buckets := flag.Int("buckets", presencekv.DefaultBuckets, "presence buckets (keys written round-robin, one per bucket)")
	gateways := flag.Int("gateways", 10, "gateways the online members are spread over (sets the value size)")
	online := flag.Int("online", 10_000_000, "members online (sets the value size: online/gateways/buckets sessions per value)")
	ttl := flag.Duration("ttl", 10*time.Second, "session / lease TTL (Consul's minimum is 10s)")
	flag.Parse()
	if *consulBin == "" {
		fail(fmt.Errorf("-consul <path> is required (scripts/install-consul.sh prints it, or set HEARTLINE_CONSUL_BIN)"))
	}
	etcdPath, err := exec.LookPath(*etcdBin)
	if err != nil {
		fail(fmt.Errorf("etcd binary %q not found: install the Debian package etcd-server (scripts/bench.sh does) or pass -etcd", *etcdBin))
	}
	dir, err := os.MkdirTemp("", "storepeer-")
	if err != nil {
		fail(err)
	}
	p := &procs{dir: dir}
	cleanup := func() { p.stopAll(); _ = os.RemoveAll(dir) }
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-sig; cleanup(); os.Exit(1) }()
	defer cleanup()

	vals, err := bucketValues(*buckets, *gateways, *online, 1)
	if err != nil {
		fail(err)
	}
	res := &Result{Settings: map[string]string{
		"duration": d.String(), "ops_per_txn": strconv.Itoa(*ops), "inflight": strconv.Itoa(*inflight), "buckets": strconv.Itoa(*buckets),
		"sessions_per_value": strconv.Itoa(max(1, *online / *gateways / *buckets)), "value_bytes_bucket0": strconv.Itoa(len(vals[0])),
		"ttl": ttl.String(), "consul": "single durable server, raft_multiplier 1", "etcd": "single durable member, default fsync",
	}}
	cs, err := startConsul(p, *consulBin)
	if err != nil {
		fail(err)
	}
	es, err := startEtcd(p, etcdPath)
	if err != nil {
		fail(err)
	}
	if v, err := exec.Command(*consulBin, "version").Output(); err == nil {
		res.Settings["consul_version"] = firstLine(string(v))
	}
	if v, err := exec.Command(etcdPath, "--version").Output(); err == nil {
		res.Settings["etcd_version"] = firstLine(string(v))
	}
	stores := []store{es, cs}
	// Interleaved: batched on both, then one op per txn on both, so each pair shares the
	// machine's state of the moment.
	for _, shape := range []string{"batched", "single"} {
		n := *ops
		if shape == "single" {
			n = 1
		}
		for _, s := range stores {
			ph, err := runPhase(s, shape, n, *inflight, *d, *ttl, vals)
			if err != nil {
				res.Errors = append(res.Errors, fmt.Sprintf("%s %s: %v", s.name(), shape, err))
			}
			res.Phases = append(res.Phases, ph)
			fmt.Fprintf(os.Stderr, "storepeer: %-6s %-7s %8.0f ops/s %7.0f txns/s p50 %6.2f ms p99 %6.2f ms wire %6.0f+%4.0f B/op\n", s.name(), shape, ph.OpsPerS, ph.TxnsPerS, ph.P50ms, ph.P99ms, ph.WireOut, ph.WireIn)
		}
	}
	// Expiry: both at once (it is mostly waiting).
	var wg sync.WaitGroup
	res.Expiry = make([]*Expiry, len(stores))
	for i, s := range stores {
		wg.Add(1)
		go func() { defer wg.Done(); res.Expiry[i] = measureExpiry(s, *ttl, vals) }()
	}
	wg.Wait()
	for _, e := range res.Expiry {
		fmt.Fprintf(os.Stderr, "storepeer: %-6s keys gone %.1fs after the last renewal (TTL %.0fs) %s\n", e.Store, e.Seconds, e.TTL, e.Err)
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	b = append(b, '\n')
	if *out == "-" {
		_, _ = os.Stdout.Write(b)
	} else if err := os.WriteFile(*out, b, 0o644); err != nil {
		fail(err)
	}
}

// runPhase writes bucket values round-robin in transactions of n ops, inflight at a time,
// for d, under one renewed session/lease.
func runPhase(s store, shape string, n, inflight int, d, ttl time.Duration, vals [][]byte) (*Phase, error) {
	ph := &Phase{Store: s.name(), Shape: shape}
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	owner, release, err := s.newOwner(ctx, ttl, true)
	if err != nil {
		return ph, err
	}
	defer release()
	prefix := "storepeer/" + shape
	keys := make([]string, len(vals))
	for b := range keys {
		keys[b] = presencekv.PresenceKey(prefix, uint32(b), "gw-01")
	}
	sizes := make([]int, len(vals))
	for i, v := range vals {
		sizes[i] = len(v)
	}
	// The agent's limits: <= n ops and <= 512 KiB minus a margin of values per txn.
	plan := batches(sizes, n, 448<<10)
	var next, txns, opsDone, failed, valueBytes atomic.Int64
	var firstErr atomic.Value
	hists := make([]*hdrhistogram.Histogram, inflight)
	cpu0, _ := procstat.CPUNanos(s.serverPID())
	wo0, wi0 := s.wireBytes()
	t0 := time.Now()
	stop := t0.Add(d)
	var wg sync.WaitGroup
	for w := range inflight {
		h := hdrhistogram.New(1, 60_000_000, 3) // µs
		hists[w] = h
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				r := plan[int(next.Add(1)-1)%len(plan)]
				start := time.Now()
				if err := s.txn(ctx, owner, keys[r[0]:r[1]], vals[r[0]:r[1]]); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					if ctx.Err() != nil {
						return
					}
					continue
				}
				_ = h.RecordValue(max(1, time.Since(start).Microseconds()))
				txns.Add(1)
				opsDone.Add(int64(r[1] - r[0]))
				vb := 0
				for _, sz := range sizes[r[0]:r[1]] {
					vb += sz
				}
				valueBytes.Add(int64(vb))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	cpu1, _ := procstat.CPUNanos(s.serverPID())
	wo1, wi1 := s.wireBytes()
	all := hdrhistogram.New(1, 60_000_000, 3)
	for _, h := range hists {
		all.Merge(h)
	}
	ph.Txns, ph.Ops, ph.Failed = txns.Load(), opsDone.Load(), failed.Load()
	summarize(ph, elapsed, all, valueBytes.Load(), wo1-wo0, wi1-wi0, cpu1-cpu0)
	if rss, err := procstat.RSSBytes(s.serverPID()); err == nil {
		ph.ServerRSSEnd = float64(rss)
	}
	if e, ok := firstErr.Load().(string); ok {
		return ph, fmt.Errorf("%d failed txns, first: %s", ph.Failed, e)
	}
	return ph, nil
}

// measureExpiry writes every bucket key under a fresh session/lease that is never renewed
// and polls until the store has deleted them all; the time counts from the session's/lease's
// creation (its last renewal).
func measureExpiry(s store, ttl time.Duration, vals [][]byte) *Expiry {
	e := &Expiry{Store: s.name(), TTL: ttl.Seconds(), Keys: len(vals)}
	ctx, cancel := context.WithTimeout(context.Background(), 3*ttl+15*time.Second)
	defer cancel()
	t0 := time.Now()
	owner, _, err := s.newOwner(ctx, ttl, false)
	if err != nil {
		e.Err = err.Error()
		return e
	}
	prefix := "storepeer/expiry/"
	keys := make([]string, len(vals))
	sizes := make([]int, len(vals))
	for b := range keys {
		keys[b] = presencekv.PresenceKey("storepeer/expiry", uint32(b), "gw-01")
		sizes[b] = len(vals[b])
	}
	for _, r := range batches(sizes, 128, 448<<10) {
		if err := s.txn(ctx, owner, keys[r[0]:r[1]], vals[r[0]:r[1]]); err != nil {
			e.Err = "write: " + err.Error()
			return e
		}
	}
	for ctx.Err() == nil {
		n, err := s.count(ctx, prefix)
		if err == nil && n == 0 {
			e.Seconds = time.Since(t0).Seconds()
			return e
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.Err = fmt.Sprintf("keys still present after %v", 3*ttl+15*time.Second)
	return e
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "storepeer:", err)
	os.Exit(1)
}
