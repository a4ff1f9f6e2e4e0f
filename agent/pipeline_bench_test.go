package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/hashicorp/consul/api"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"

	"heartline/agent/internal/consulwriter"
	"heartline/agent/internal/metrics"
	"heartline/agent/internal/state"
	"heartline/agent/watcher"
	"heartline/protocol/presencekv"
	"heartline/scripts/consultest"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func counterValue(c interface{ Write(*dto.Metric) error }) float64 {
	var m dto.Metric
	c.Write(&m) //nolint:errcheck
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Histogram.GetSampleSum()
}

// BenchmarkPresencePipeline measures, against one durable Consul server (fsync on):
//
//   - batched: the agent's writer (coalescing per bucket, <=128-op transactions, 4 lanes)
//     fed at HEARTLINE_BENCH_RATE transitions/s (default 10000) for HEARTLINE_BENCH_SECONDS
//     (default 5) on top of HEARTLINE_BENCH_PRELOAD sessions (default 200000, so bucket
//     values have a realistic size), with a watcher measuring ONLINE propagation latency
//     (transition applied to the agent's table -> watcher event) in an HdrHistogram;
//   - one-write-per-transition: 4 concurrent writers doing one KV PUT per transition for
//     the same duration, the baseline the design replaces.
//
// Run: HEARTLINE_CONSUL_BIN=... go test -run XXX -bench PresencePipeline -benchtime 1x ./agent/
func BenchmarkPresencePipeline(b *testing.B) {
	rate := envInt("HEARTLINE_BENCH_RATE", 10000)
	seconds := envInt("HEARTLINE_BENCH_SECONDS", 5)
	preload := envInt("HEARTLINE_BENCH_PRELOAD", 200000)
	const buckets, lanes = 4096, 4
	for i := 0; i < b.N; i++ {
		s := consultest.Start(b, nil)
		c := s.Client()
		batched := runBatched(b, c, rate, seconds, preload, buckets, lanes)
		single := runOnePerTransition(b, c, seconds, lanes)
		b.ReportMetric(batched.offeredPerSec, "transitions/s")
		b.ReportMetric(batched.committedPerSec, "committed/s")
		b.ReportMetric(batched.perTxn, "transitions/txn")
		b.ReportMetric(batched.opsPerTransition, "ops/transition")
		b.ReportMetric(batched.bytesPerTransition, "valuebytes/transition")
		b.ReportMetric(batched.watcherBytes, "watcherbytes/transition")
		b.ReportMetric(batched.p50, "p50_ms")
		b.ReportMetric(batched.p99, "p99_ms")
		b.ReportMetric(single.perSec, "baseline_writes/s")
		b.ReportMetric(single.p50, "baseline_p50_ms")
		b.ReportMetric(single.p99, "baseline_p99_ms")
		b.ReportMetric(batched.offeredPerSec/single.perSec, "speedup_x")
		b.Logf("batched: offered %.0f/s for %ds on %d preloaded sessions (final flush took %.2fs): committed %.0f transitions/s after coalescing (generation + final flush), %.1f transitions/txn, %.3f ops and %.0f value bytes per transition, watcher %.1f bytes/transition, ONLINE propagation p50 %.0f ms p99 %.0f ms max %.0f ms (%d samples)",
			batched.offeredPerSec, seconds, preload, batched.drainSeconds, batched.committedPerSec, batched.perTxn, batched.opsPerTransition, batched.bytesPerTransition, batched.watcherBytes, batched.p50, batched.p99, batched.max, batched.samples)
		b.Logf("one write per transition: %.0f writes/s, write latency p50 %.1f ms p99 %.1f ms; batched/baseline = %.1fx",
			single.perSec, single.p50, single.p99, batched.offeredPerSec/single.perSec)
	}
}

type batchedResult struct {
	drainSeconds, offeredPerSec, committedPerSec, perTxn, opsPerTransition, bytesPerTransition, watcherBytes, p50, p99, max float64
	samples                                                                                                                 int64
}

func runBatched(b *testing.B, c *api.Client, rate, seconds, preload int, buckets uint32, lanes int) batchedResult {
	const prefix = "bench"
	if _, err := consulwriter.EnsureConfig(c, prefix, buckets); err != nil {
		b.Fatal(err)
	}
	log := zap.NewNop()
	table := state.New(buckets, lanes, int(buckets)/4) // as the agent: flush early at a quarter of the buckets dirty
	m := metrics.New(nil)
	sess := consulwriter.NewSession(c, consulwriter.SessionOptions{Name: "heartline-agent/bench", Log: log, Metrics: m})
	w, err := consulwriter.New(consulwriter.Options{Client: c, Prefix: prefix, GatewayID: "gw-bench", Table: table, Session: sess, Log: log, Metrics: m})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := sess.Create(ctx); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); sess.Run(ctx) }()
	go func() { defer wg.Done(); w.Run(ctx) }() //nolint:errcheck
	defer wg.Wait()
	defer cancel()

	// Preload: a gateway that already holds many sessions.
	now := time.Now().UnixMilli()
	pre := make([]presencekv.Session, 0, preload)
	for u := 0; u < preload; u++ {
		pre = append(pre, presencekv.Session{User: uint64(1_000_000 + u), Device: 1, Status: 2, Since: now})
	}
	table.Replace(pre, now)
	fctx, fcancel := context.WithTimeout(ctx, 5*time.Minute)
	if err := w.Flush(fctx); err != nil {
		b.Fatal(err)
	}
	fcancel()
	heapTable := heapMiB()

	wt, err := watcher.New(watcher.Options{Client: c, Prefix: prefix, WaitTime: 10 * time.Second, Log: log})
	if err != nil {
		b.Fatal(err)
	}
	go wt.Run(ctx) //nolint:errcheck
	for !wt.Ready() {
		time.Sleep(10 * time.Millisecond)
	}
	heapBoth := heapMiB()
	b.Logf("live heap after GC: %.1f MiB with the table of %d sessions, %.1f MiB with the watcher cache too", heapTable, preload, heapBoth)
	sub := wt.Subscribe(1<<20, func(u uint64) bool { return u >= 100_000_000 })
	hist := hdrhistogram.New(1, 60_000, 3)
	var stamps sync.Map // user -> time applied
	var seen atomic.Int64
	evDone := make(chan struct{})
	go func() {
		defer close(evDone)
		for ev := range sub.C {
			if ev.Type != watcher.EventOnline {
				continue
			}
			if t0, ok := stamps.Load(ev.User); ok {
				hist.RecordValue(time.Since(t0.(time.Time)).Milliseconds()) //nolint:errcheck
				seen.Add(1)
			}
		}
	}()

	txns0 := counterValue(m.TxnOps.(interface{ Write(*dto.Metric) error }))
	var h0 dto.Metric
	m.TxnOps.Write(&h0) //nolint:errcheck
	tr0, bytes0 := counterValue(m.TransitionsOut), counterValue(m.TxnBytes)
	wst0 := wt.Stats()
	_ = txns0

	// Offered load: every 10 ms, rate/100 transitions: half new users online, a quarter
	// status changes, a quarter preloaded users going offline.
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	nextNew, nextOld := uint64(100_000_000), uint64(1_000_000)
	sent := 0
	for time.Since(start) < time.Duration(seconds)*time.Second {
		<-tick.C
		at := time.Now()
		due := int(time.Since(start).Seconds()*float64(rate)) - sent // ticks missed on a busy host are made up
		trs := make([]presencekv.Transition, 0, due)
		for k := 0; k < due; k++ {
			switch k % 4 {
			case 0, 1:
				stamps.Store(nextNew, at)
				trs = append(trs, presencekv.Transition{Kind: presencekv.KindOnline, User: nextNew, Device: 1, Status: 2, At: at.UnixMilli()})
				nextNew++
			case 2:
				// a user that came online a second or more ago goes away
				if u := nextNew - uint64(rate); u >= 100_000_000 {
					trs = append(trs, presencekv.Transition{Kind: presencekv.KindStatus, User: u, Device: 1, Status: 1, At: at.UnixMilli()})
				} else {
					trs = append(trs, presencekv.Transition{Kind: presencekv.KindStatus, User: nextOld + 100_000, Device: 1, Status: 1, At: at.UnixMilli()})
				}
			case 3:
				trs = append(trs, presencekv.Transition{Kind: presencekv.KindOffline, User: nextOld, Device: 1, Status: 2, At: at.UnixMilli()})
				nextOld++
			}
		}
		table.ApplyAll(trs)
		sent += len(trs)
	}
	tick.Stop()
	genElapsed := time.Since(start)
	fctx, fcancel = context.WithTimeout(ctx, 5*time.Minute)
	if err := w.Flush(fctx); err != nil {
		b.Fatal(err)
	}
	fcancel()
	elapsed := time.Since(start)
	want := int64(nextNew - 100_000_000)
	deadline := time.Now().Add(60 * time.Second)
	for seen.Load() < want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	wt.Unsubscribe(sub)
	<-evDone
	if seen.Load() < want {
		b.Fatalf("watcher saw %d of %d ONLINE events (dropped %d)", seen.Load(), want, sub.Dropped())
	}
	var h1 dto.Metric
	m.TxnOps.Write(&h1) //nolint:errcheck
	txns := float64(h1.Histogram.GetSampleCount() - h0.Histogram.GetSampleCount())
	ops := h1.Histogram.GetSampleSum() - h0.Histogram.GetSampleSum()
	committed := counterValue(m.TransitionsOut) - tr0
	wst := wt.Stats()
	return batchedResult{
		offeredPerSec:      float64(sent) / genElapsed.Seconds(),
		committedPerSec:    committed / elapsed.Seconds(),
		drainSeconds:       (elapsed - genElapsed).Seconds(),
		perTxn:             committed / txns,
		opsPerTransition:   ops / committed,
		bytesPerTransition: (counterValue(m.TxnBytes) - bytes0) / committed,
		watcherBytes:       float64(wst.ChangeBytes-wst0.ChangeBytes) / float64(max(wst.Transitions-wst0.Transitions, 1)),
		p50:                float64(hist.ValueAtQuantile(50)),
		p99:                float64(hist.ValueAtQuantile(99)),
		max:                float64(hist.Max()),
		samples:            hist.TotalCount(),
	}
}

type singleResult struct{ perSec, p50, p99 float64 }

// runOnePerTransition is the naive design: one KV write per transition, `workers` at once.
func runOnePerTransition(b *testing.B, c *api.Client, seconds, workers int) singleResult {
	hist := hdrhistogram.New(1, 60_000_000, 3) // microseconds
	var mu sync.Mutex
	var n atomic.Int64
	stop := time.Now().Add(time.Duration(seconds) * time.Second)
	var wg sync.WaitGroup
	start := time.Now()
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stop); i++ {
				t0 := time.Now()
				_, err := c.KV().Put(&api.KVPair{Key: fmt.Sprintf("bench1/presence/%d/%d", g, i), Value: []byte{2}}, nil)
				if err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				hist.RecordValue(time.Since(t0).Microseconds()) //nolint:errcheck
				mu.Unlock()
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	return singleResult{perSec: float64(n.Load()) / el.Seconds(), p50: float64(hist.ValueAtQuantile(50)) / 1000, p99: float64(hist.ValueAtQuantile(99)) / 1000}
}

func heapMiB() float64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
}
