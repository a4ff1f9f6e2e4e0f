package watcher

import (
	"math/rand/v2"
	"testing"
)

// appView is what an app keeps per user from a subscription, by PROTOCOL.md's rule: keep
// the highest version, ignore lower ones, apply equal ones.
type appView struct {
	version uint64
	online  bool
	status  uint8
}

// F2 (chaos findings): a user's event versions never go backwards, whatever the order in
// which the watcher learns about the user's sessions on different gateways (change records
// of several lanes, re-reads, sweeps), so an app that orders events by version ends with the
// watcher's view of every user.
func TestUserEventVersionsAreMonotonicAndAppsConverge(t *testing.T) {
	for seed := uint64(0); seed < 300; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		h := history(r, 300)
		deliveries := append([]Update(nil), h...)
		for i := 0; i < len(h)/3; i++ {
			deliveries = append(deliveries, h[r.IntN(len(h))])
		}
		r.Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })
		c := NewCache()
		last := map[uint64]uint64{}
		apps := map[uint64]appView{}
		deliver := func(ev Event) {
			if ev.Version < last[ev.User] {
				t.Fatalf("seed %d: user %d event %s version %d after %d", seed, ev.User, ev.Type, ev.Version, last[ev.User])
			}
			last[ev.User] = ev.Version
			if a := apps[ev.User]; ev.Version >= a.version {
				apps[ev.User] = appView{version: ev.Version, online: ev.Type != EventOffline, status: ev.Status}
			}
		}
		for i, u := range deliveries {
			if ev, ok := c.Apply(u); ok {
				deliver(ev)
			}
			if i%97 == 96 { // now and then a gateway's sessions are swept
				gw := []string{"gw0", "gw1", "gw2"}[r.IntN(3)]
				c.Sweep(func(_ uint64, g string) bool { return g == gw }, nil, u.Version, "gone", 1, deliver)
			}
		}
		for user := uint64(1); user <= 20; user++ {
			p, a := c.Lookup(user), apps[user]
			if p.Online != a.online || (p.Online && p.Status != a.status) {
				t.Fatalf("seed %d: user %d: watcher %+v, app that orders by version %+v", seed, user, p, a)
			}
		}
	}
}
