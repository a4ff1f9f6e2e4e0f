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
	proctest.WaitFor(t, 10*time.Second, "renew and flush timers", func() bool { return fake.Waiters() == 2 })

	table.Apply(online(1, 1, 1000))
	time.Sleep(200 * time.Millisecond) // real time passes, fake time does not
	if got, _ := presenceInConsul(t, c, "gw-fake"); len(got) != 0 {
		t.Fatal("written before the flush window ended")
	}
	fake.Advance(199 * time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	if got, _ := presenceInConsul(t, c, "gw-fake"); len(got) != 0 {
		t.Fatal("written 1ms before the flush window ended")
	}
	fake.Advance(time.Millisecond)
	proctest.WaitFor(t, 10*time.Second, "the flush at 200ms", func() bool { got, _ := presenceInConsul(t, c, "gw-fake"); return len(got) == 1 })

	// The session is destroyed behind the agent's back; the renew at TTL/3 notices.
	old, _, _ := sess.Current()
	if _, err := c.Session().Destroy(old, nil); err != nil {
		t.Fatal(err)
	}
	fake.Advance(4 * time.Second)
	time.Sleep(100 * time.Millisecond)
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
