package proctest

import (
	"testing"
	"time"
)

// pollEvery is how often WaitFor checks its condition: short enough that a test never
// waits noticeably longer than the condition takes.
const pollEvery = 5 * time.Millisecond

// WaitFor polls cond until it holds and fails the test (t.Fatalf, naming what) if it does
// not within timeout. It is the replacement for a sleep followed by an assertion.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Eventually(timeout, cond) {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

// Eventually polls cond until it holds (true) or timeout passes (false).
func Eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollEvery)
	}
	return true
}
