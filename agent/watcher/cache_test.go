package watcher

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// history generates a random, version-ordered history of session updates over a few
// users, devices and gateways, as Consul would commit it.
func history(r *rand.Rand, n int) []Update {
	type sk struct {
		u  uint64
		d  uint32
		gw string
	}
	online := map[sk]bool{}
	var out []Update
	version := uint64(100)
	for i := 0; i < n; i++ {
		version += uint64(1 + r.IntN(3))
		k := sk{uint64(1 + r.IntN(20)), uint32(1 + r.IntN(3)), fmt.Sprintf("gw%d", r.IntN(3))}
		up := Update{Gateway: k.gw, User: k.u, Device: k.d, Version: version, At: int64(version) * 10, ID: fmt.Sprint(i)}
		if online[k] && r.IntN(2) == 0 {
			up.Online = false
		} else {
			up.Online = true
			up.Status = uint8(1 + r.IntN(2))
		}
		online[k] = up.Online
		out = append(out, up)
	}
	return out
}

func snapshot(c *Cache) map[uint64]Presence {
	out := map[uint64]Presence{}
	for u := uint64(1); u <= 20; u++ {
		p := c.Lookup(u)
		out[u] = p
	}
	return out
}

// Applying the same updates in any order, any number of times, yields the same cache as
// applying them once in commit order.
func TestCacheIsOrderAndDuplicateInsensitive(t *testing.T) {
	for seed := uint64(0); seed < 200; seed++ {
		r := rand.New(rand.NewPCG(seed, 99))
		h := history(r, 300)
		want := NewCache()
		for _, u := range h {
			want.Apply(u)
		}
		got := NewCache()
		deliveries := append([]Update(nil), h...)
		for i := 0; i < len(h)/2; i++ { // duplicates
			deliveries = append(deliveries, h[r.IntN(len(h))])
		}
		r.Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })
		for _, u := range deliveries {
			got.Apply(u)
		}
		if !reflect.DeepEqual(snapshot(want), snapshot(got)) {
			t.Fatalf("seed %d: shuffled+duplicated deliveries give a different cache", seed)
		}
		wu, ws := want.Counts()
		gu, gs := got.Counts()
		if wu != gu || ws != gs {
			t.Fatalf("seed %d: counts %d/%d vs in-order %d/%d", seed, gu, gs, wu, ws)
		}
	}
}

func TestCacheEventsAreUserLevel(t *testing.T) {
	c := NewCache()
	ev, ok := c.Apply(Update{Gateway: "g", User: 1, Device: 1, Online: true, Status: StatusAway, At: 10, Version: 5})
	if !ok || ev.Type != EventOnline || ev.Version != 5 || ev.Devices != 1 {
		t.Fatalf("first session: %+v %v", ev, ok)
	}
	if _, ok := c.Apply(Update{Gateway: "g", User: 1, Device: 1, Online: true, Status: StatusAway, At: 10, Version: 5}); ok {
		t.Fatal("duplicate produced an event")
	}
	ev, ok = c.Apply(Update{Gateway: "g", User: 1, Device: 2, Online: true, Status: StatusActive, At: 11, Version: 6})
	if !ok || ev.Type != EventStatus || ev.Status != StatusActive || ev.Devices != 2 {
		t.Fatalf("second device, active: %+v %v", ev, ok)
	}
	c.Apply(Update{Gateway: "g", User: 1, Device: 2, Online: false, At: 20, Version: 7})
	ev, ok = c.Apply(Update{Gateway: "g", User: 1, Device: 1, Online: false, At: 21, Version: 8})
	if !ok || ev.Type != EventOffline || ev.At != 21 {
		t.Fatalf("last device gone: %+v %v", ev, ok)
	}
	// A late ONLINE older than the OFFLINE must not resurrect the session.
	if _, ok := c.Apply(Update{Gateway: "g", User: 1, Device: 1, Online: true, Status: StatusActive, Version: 6}); ok || c.Lookup(1).Online {
		t.Fatal("stale online regressed the cache")
	}
	if p := c.Lookup(1); p.LastSeen != 21 {
		t.Fatalf("last seen %d, want 21", p.LastSeen)
	}
}

func TestSessionsOnTwoGatewaysAreIndependent(t *testing.T) {
	c := NewCache()
	c.Apply(Update{Gateway: "a", User: 1, Device: 1, Online: true, Status: 2, Version: 10})
	c.Apply(Update{Gateway: "b", User: 1, Device: 1, Online: true, Status: 2, Version: 11}) // moved gateway
	c.Apply(Update{Gateway: "a", User: 1, Device: 1, Online: false, Version: 12})           // old gateway expires it late
	if !c.Lookup(1).Online {
		t.Fatal("the session on gateway b was lost when gateway a expired its copy")
	}
}

// Applying updates to known sessions (the steady state of a watcher) does not allocate.
func TestCacheApplyOfKnownSessionsIsAllocationFree(t *testing.T) {
	c := NewCache()
	for u := uint64(1); u <= 100; u++ {
		c.Apply(Update{Gateway: "gw", User: u, Device: 1, Online: true, Status: 1, Version: 1, ID: "x"})
	}
	v := uint64(1)
	allocs := testing.AllocsPerRun(100, func() {
		for u := uint64(1); u <= 100; u++ {
			v++
			c.Apply(Update{Gateway: "gw", User: u, Device: 1, Online: v%2 == 0, Status: uint8(1 + v%2), At: int64(v), Version: v, ID: "x"})
		}
	})
	if allocs != 0 {
		t.Fatalf("Apply allocates %.1f times per 100 updates", allocs)
	}
}
