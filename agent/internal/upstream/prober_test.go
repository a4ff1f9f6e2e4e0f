package upstream

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"heartline/agent/shared/clock"
	"heartline/scripts/proctest"
)

// TestCutOffAfterFailuresInARowAndBackAtTheFirstSuccess drives Run on a fake clock with a
// scripted probe: isolated failures change nothing, FailAfter in a row report the host cut
// off once, and the first success reports it reachable once.
func TestCutOffAfterFailuresInARowAndBackAtTheFirstSuccess(t *testing.T) {
	down := errors.New("no route to the servers")
	script := []error{nil, down, down, nil, down, down, down, down, nil, nil}
	var step atomic.Int32
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	changes := make(chan bool, len(script))
	probed := make(chan struct{}, len(script))
	p, err := New(Options{
		Probe: func(context.Context) error {
			defer func() { probed <- struct{}{} }()
			return script[step.Add(1)-1]
		},
		FailAfter: 3, Clock: clk,
		OnChange: func(cutOff bool) { changes <- cutOff },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)

	var got []bool
	for i := range script {
		proctest.WaitFor(t, 10*time.Second, "Run waiting for its next probe", func() bool { return clk.Waiters() == 1 })
		clk.Advance(time.Second)
		<-probed
		// Run reports a change before it waits again; collect what probe i caused.
		proctest.WaitFor(t, 10*time.Second, "Run done with the probe", func() bool { return clk.Waiters() == 1 || i == len(script)-1 })
		for len(changes) > 0 {
			got = append(got, <-changes)
		}
	}
	want := []bool{true, false} // cut off at the 3rd failure in a row (probe 7), back at probe 9
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("changes %v, want %v", got, want)
	}
}

func TestNewNeedsAProbe(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("New without a probe succeeded")
	}
}
