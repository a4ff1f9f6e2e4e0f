package upstream

import (
	"context"
	"testing"
	"time"

	"heartline/scripts/consultest"
)

// TestLeaderProbeAgainstARealConsul: a client agent (the gateway host's local Consul) whose
// server is killed is reported cut off; once the server is back, reachable again.
func TestLeaderProbeAgainstARealConsul(t *testing.T) {
	srv := consultest.Start(t, nil)
	local := consultest.StartClient(t, srv, nil)
	probe := LeaderProbe(local.Client())
	if err := probe(context.Background()); err != nil {
		t.Fatalf("probe through a healthy local agent: %v", err)
	}

	changes := make(chan bool, 4)
	p, err := New(Options{Probe: probe, Every: 200 * time.Millisecond, FailAfter: 3,
		OnChange: func(cutOff bool) { changes <- cutOff }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)

	expect := func(want bool, within time.Duration) {
		t.Helper()
		select {
		case got := <-changes:
			if got != want {
				t.Fatalf("prober reported cut off = %v, want %v", got, want)
			}
		case <-time.After(within):
			t.Fatalf("prober did not report cut off = %v within %v", want, within)
		}
	}
	srv.Kill()
	expect(true, 30*time.Second)
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	expect(false, 90*time.Second)
}
