package consulwriter

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"heartline/agent/internal/metrics"
	"heartline/agent/internal/state"
	"heartline/agent/shared/clock"
	"heartline/scripts/consultest"
	"heartline/scripts/proctest"
)

// The flush window and session renewal run on the clock they are given: nothing is
// written before the window ends, and renewal notices a lost session at TTL/3.
func TestFlushWindowAndRenewRunOnTheFakeClock(t *testing.T) {
	s := consultest.Start(t, nil)
	c := s.Client()
	if _, err := EnsureConfig(c, testPrefix, 64); err != nil {
		t.Fatal(err)
	}
	fake := clock.NewFake(time.Now())
	table := state.New(64, 1, 0)
	m := metrics.New(nil)
	log := zaptest.NewLogger(t)
	sess := NewSession(c, SessionOptions{Name: "heartline-agent/gw-fake", TTL: 15 * time.Second, Clock: fake, Log: log, Metrics: m,
		OnNew: func(uint64) { table.MarkAllDirty() }})
	w, err := New(Options{Client: c, Prefix: testPrefix, GatewayID: "gw-fake", Table: table, Session: sess,
		FlushWindow: 200 * time.Millisecond, Clock: fake, Log: log, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := sess.Create(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); sess.Run(ctx) }()
	go func() { defer wg.Done(); w.Run(ctx) }() //nolint:errcheck
	defer func() { cancel(); wg.Wait() }()
	// Timers: the renew, the flush window and the lane's last-seen sweep (first due after
	// an hour / 64 buckets = 56 s, so it never fires here).
	proctest.WaitFor(t, 10*time.Second, "renew, flush and sweep timers", func() bool { return fake.Waiters() == 3 })

	// One dirty bucket does not wake the writer (the table notifies only when many are dirty),
	// so only the flush timer can: advancing to 1ms before it fires nothing, so nothing writes.
	table.Apply(online(1, 1, 1000))
	if n := fake.Advance(199 * time.Millisecond); n != 0 {
		t.Fatalf("%d timers fired 1ms before the flush window ended, want 0", n)
	}
	if got, _ := presenceInConsul(t, c, "gw-fake"); len(got) != 0 {
		t.Fatal("written before the flush window ended")
	}
	if n := fake.Advance(time.Millisecond); n != 1 {
		t.Fatalf("%d timers fired at the end of the flush window, want 1 (the flush)", n)
	}
	proctest.WaitFor(t, 10*time.Second, "the flush at 200ms", func() bool { got, _ := presenceInConsul(t, c, "gw-fake"); return len(got) == 1 })

	// The session is destroyed behind the agent's back; the renew at TTL/3 notices.
	old, _, _ := sess.Current()
	if _, err := c.Session().Destroy(old, nil); err != nil {
		t.Fatal(err)
	}
	// 4s later only flush timers have fired, one per 200ms step; the renew timer has not, so
	// the session goroutine has not run.
	for i := 0; i < 20; i++ {
		proctest.WaitFor(t, 10*time.Second, "the writer waiting on its flush timer", func() bool { return fake.Waiters() >= 3 })
		if n := fake.Advance(200 * time.Millisecond); n != 1 {
			t.Fatalf("%d timers fired at %v, want 1 (the flush; the renew is due at TTL/3 = 5s)", n, time.Duration(i+1)*200*time.Millisecond)
		}
	}
	if id, gen, _ := sess.Current(); id != old || gen != 1 {
		t.Fatalf("session replaced before TTL/3 (id %q gen %d)", id, gen)
	}
	fake.Advance(time.Second + 10*time.Millisecond) // 5s = TTL/3
	proctest.WaitFor(t, 10*time.Second, "a new session after the renew at TTL/3", func() bool {
		id, gen, _ := sess.Current()
		return id != "" && id != old && gen == 2
	})

	// The new session rewrites the state at the next flush.
	proctest.WaitFor(t, 10*time.Second, "the rewrite", func() bool {
		fake.Advance(200 * time.Millisecond)
		got, _ := presenceInConsul(t, c, "gw-fake")
		return len(got) == 1
	})

}
