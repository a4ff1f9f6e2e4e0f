package model

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"heartline/scripts/consultest"
)

// Helpers of the targeted (non-random) tests: a small world on one gateway.

// newSmallWorld is a one-gateway cluster with apps 0..n-1; only the apps in active are alive
// and logged in (the others exist so that app indexes, hence ingest loops, are as chosen:
// apps 0 and 2 share loop 0, so their sessions use the same slot indexes).
func newSmallWorld(t *testing.T, prefix string, n int, active ...int) *world {
	t.Helper()
	return newSmallWorldOn(t, prefix, 1, n, active...)
}

// newSmallWorldOn is newSmallWorld with gateways gateways.
func newSmallWorldOn(t *testing.T, prefix string, gateways, n int, active ...int) *world {
	t.Helper()
	consul := consultest.Start(t, nil)
	c := newCluster(t, consul, prefix, gateways, modelStart)
	w := &world{t: t, c: c, rng: rand.New(rand.NewPCG(uint64(len(prefix)), 20)), sessions: map[sessionRef]*sessionRecord{}}
	for i := 0; i < n; i++ {
		w.apps = append(w.apps, newApp(t, c.keys, i, modelStart))
	}
	for _, i := range active {
		w.apps[i].alive, w.apps[i].loggedIn, w.apps[i].wantedSince = true, true, c.now
	}
	return w
}

// failOnViolation fails the test with the model's violations, if any.
func (w *world) failOnViolation(when string) {
	w.t.Helper()
	if len(w.violations) > 0 {
		msg := strings.Join(w.violations, "\n")
		w.t.Fatalf("%s: %s%s", when, msg, w.traces(msg))
	}
}

// settled fails the test unless the views show what the model expects within the bound.
func (w *world) settled(when string) {
	w.t.Helper()
	must, may := w.expectations()
	if took, wrong := w.c.settle(w.users(), must, may); wrong != "" {
		w.t.Fatalf("%s: after %v: %s%s", when, took.Round(time.Millisecond), wrong, w.traces(wrong))
	}
}

// helloUntilSlot has app i say HELLO to gateway 0 until its session holds slot (each
// re-HELLO moves the session to the next generation of the same index), whatever the
// process's first generation. It returns the number of HELLOs.
func (w *world) helloUntilSlot(i int, slot uint32) int {
	w.t.Helper()
	a := w.apps[i]
	tries := 0
	for ; tries == 0 || a.slot != slot; tries++ {
		if tries == 600 {
			w.t.Fatalf("%s never got slot %x in %d HELLOs (last %x): the collision was not forced", a, slot, tries, a.slot)
		}
		w.c.advance(250*time.Millisecond, nil) // within the per-source HELLO rate
		w.hello(i, 0)
		w.failOnViolation(a.String() + "'s HELLO")
	}
	return tries
}
