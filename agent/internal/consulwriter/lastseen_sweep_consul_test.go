package consulwriter

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"

	"heartline/agent/internal/metrics"
	"heartline/agent/internal/state"
	"heartline/agent/shared/clock"
	"heartline/protocol/presencekv"
	"heartline/scripts/consultest"
	"heartline/scripts/proctest"
)

func TestSweepPlanCoversEveryBucketOncePerCycle(t *testing.T) {
	for _, c := range []struct {
		cycle   time.Duration
		perLane int
	}{{time.Hour, 1024}, {time.Minute, 16}, {time.Second, 1024}, {time.Millisecond, 3}, {time.Hour, 0}} {
		tick, n := sweepPlan(c.cycle, c.perLane)
		if tick < 100*time.Millisecond || n < 1 {
			t.Fatalf("sweepPlan(%v, %d) = %v, %d: below the minimum tick or no bucket per tick", c.cycle, c.perLane, tick, n)
		}
		ticks := int(c.cycle / tick)
		if ticks < 1 {
			ticks = 1
		}
		if ticks*n < c.perLane {
			t.Fatalf("sweepPlan(%v, %d) = %v, %d: %d ticks per cycle sweep %d < %d buckets", c.cycle, c.perLane, tick, n, ticks, ticks*n, c.perLane)
		}
	}
}

// Issue 14: last-seen entries past the retention are dropped even from buckets nobody
// writes any more, by a sweep that runs on the writer's clock, a bounded number of buckets
// per tick, without any presence write.
func TestLastSeenPastRetentionIsPrunedWithoutWrites(t *testing.T) {
	s := consultest.Start(t, nil)
	c := s.Client()
	const buckets = 16
	if _, err := EnsureConfig(c, testPrefix, buckets); err != nil {
		t.Fatal(err)
	}
	fake := clock.NewFake(time.Now())
	retention := time.Hour
	now := fake.Now().UnixMilli()
	old := fake.Now().Add(-2 * retention).UnixMilli()

	// Bucket A: one user past the retention, one recent. Bucket B: only one past it.
	users := usersInDistinctBuckets(2, buckets)
	bA, bB := presencekv.Bucket(users[0], buckets), presencekv.Bucket(users[1], buckets)
	var fresh uint64 = users[0] + 1
	for presencekv.Bucket(fresh, buckets) != bA {
		fresh++
	}
	var codec presencekv.Codec
	put := func(b uint32, entries ...presencekv.LastSeen) {
		val, err := codec.AppendLastSeen(nil, entries)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.KV().Put(&api.KVPair{Key: presencekv.LastSeenKey(testPrefix, b), Value: val}, nil); err != nil {
			t.Fatal(err)
		}
	}
	first := []presencekv.LastSeen{{User: users[0], At: old}, {User: fresh, At: now}}
	if fresh < users[0] {
		first[0], first[1] = first[1], first[0]
	}
	put(bA, first...)
	put(bB, presencekv.LastSeen{User: users[1], At: old})

	m := metrics.New(nil)
	log := zaptest.NewLogger(t)
	table := state.New(buckets, 1, 0)
	sess := NewSession(c, SessionOptions{Name: "heartline-agent/gw-sweep", Clock: fake, Log: log, Metrics: m})
	w, err := New(Options{Client: c, Prefix: testPrefix, GatewayID: "gw-sweep", Table: table, Session: sess,
		FlushWindow: time.Hour, LastSeenRetention: retention, LastSeenSweep: 16 * time.Second, Clock: fake, Log: log, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	if w.sweepTick != time.Second || w.sweepN != 1 {
		t.Fatalf("sweep plan %v x %d, want one bucket per second (16 buckets in 16 s)", w.sweepTick, w.sweepN)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.Run(ctx) }() //nolint:errcheck
	defer func() { cancel(); wg.Wait() }()

	// Timers: the flush window (an hour) and the lane's sweep. The sweep arms its next tick
	// only once the previous tick's reads and writes are done.
	idle := func(what string) {
		proctest.WaitFor(t, 10*time.Second, what, func() bool { return fake.Waiters() == 2 })
	}
	idle("the writer and its sweep waiting on the clock")
	if got := testutil.ToFloat64(m.LastSeenSwept); got != 0 {
		t.Fatalf("%v buckets swept before the first tick", got)
	}
	for tick := 1; tick <= buckets; tick++ {
		fake.Advance(time.Second)
		idle("the sweep tick to finish")
		if got := testutil.ToFloat64(m.LastSeenSwept); got != float64(tick) {
			t.Fatalf("after %d ticks %v buckets swept, want %d (one per tick)", tick, got, tick)
		}
	}
	if got := testutil.ToFloat64(m.LastSeenExpired); got != 2 {
		t.Fatalf("%v entries found past the retention, want 2", got)
	}
	proctest.WaitFor(t, 10*time.Second, "the expired entries gone from Consul", func() bool {
		pa, _, errA := c.KV().Get(presencekv.LastSeenKey(testPrefix, bA), &api.QueryOptions{RequireConsistent: true})
		pb, _, errB := c.KV().Get(presencekv.LastSeenKey(testPrefix, bB), &api.QueryOptions{RequireConsistent: true})
		if errA != nil || errB != nil || pa == nil || pb != nil {
			return false
		}
		ls, err := codec.DecodeLastSeen(nil, pa.Value)
		return err == nil && len(ls) == 1 && ls[0] == presencekv.LastSeen{User: fresh, At: now}
	})
}
