package main

import (
	"sync"
	"testing"
	"time"
)

// TestConcurrentCallsOnOneHandle: an app calling from several threads at once (UI, network
// callbacks, lifecycle) gets a code from every call, never a deadlock or a crash, and the
// handle ends where the last call left it. Run with -race (make test does).
func TestConcurrentCallsOnOneHandle(t *testing.T) {
	g := newFakeGateway(t, 20*time.Millisecond)
	s := newTestSession(t, g, 100007, tuning{})
	if err := s.setBackgroundPolicy(policyByeAfter, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	calls := []func() error{
		s.start, s.stop,
		func() error { return s.setActive(false) }, func() error { return s.setActive(true) },
		func() error { return s.setBackgroundPolicy(policyKeep, 0) },
		func() error { return s.setBackgroundPolicy(policyByeAfter, time.Millisecond) },
		func() error { s.status(); return nil },
		func() error { s.events.pop(); return nil },
	}
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				err := calls[(w+i)%len(calls)]()
				if c := codeOf(err); c != codeOK && c != codeState && c != codeNetwork {
					t.Errorf("call %d: code %d: %v", (w+i)%len(calls), c, err)
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("concurrent calls did not finish within 60 s: deadlock")
	}
	// Whatever state that left: foreground, started, online; then a logout ends it.
	if err := s.setActive(true); err != nil && codeOf(err) != codeNetwork {
		t.Fatal(err)
	}
	if err := s.start(); err != nil && codeOf(err) != codeState {
		t.Fatal(err)
	}
	waitState(t, s, stateOnline)
	if err := s.logout(); err != nil {
		t.Fatal(err)
	}
	if st := s.currentState(); st != stateLoggedOut {
		t.Fatalf("state %s after logout", stateName(st))
	}
}
