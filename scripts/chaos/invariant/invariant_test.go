package invariant

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"heartline/protocol/presencekv"
	"heartline/scripts/chaos/driver"
	"heartline/scripts/consultest"
)

const prefix = "chaostest"

// writePresence stores sessions as gateway gw's presence in their buckets.
func writePresence(t *testing.T, c *api.Client, buckets uint32, gw string, sessions []presencekv.Session) {
	t.Helper()
	byBucket := map[uint32][]presencekv.Session{}
	for _, s := range sessions {
		b := presencekv.Bucket(s.User, buckets)
		byBucket[b] = append(byBucket[b], s)
	}
	var codec presencekv.Codec
	for b, ss := range byBucket {
		val, err := codec.AppendSessions(nil, ss)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.KV().Put(&api.KVPair{Key: presencekv.PresenceKey(prefix, b, gw), Value: val}, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCheckFindsLostAndGhostSessionsInBothViews runs the checker against a real Consul and
// a real watcher: one session shown correctly, one alive but missing (lost), one dead but
// shown (ghost), one too young to judge, and one whose truth changes during the check.
func TestCheckFindsLostAndGhostSessionsInBothViews(t *testing.T) {
	srv := consultest.Start(t, nil)
	c := srv.Client()
	const buckets = 16
	if _, err := c.KV().Put(&api.KVPair{Key: presencekv.ConfigKey(prefix), Value: presencekv.EncodeConfig(presencekv.Config{Version: 1, Buckets: buckets})}, nil); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	old := now - 60_000
	writePresence(t, c, buckets, "gwA", []presencekv.Session{
		{User: 1, Device: 1, Status: 2, Since: old}, // alive and shown: fine
		{User: 3, Device: 1, Status: 2, Since: old}, // dead for a minute but shown: ghost
		{User: 5, Device: 1, Status: 2, Since: old}, // its truth flips during the check: not judged
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	chk, err := New(ctx, func() *api.Client { return c }, prefix)
	if err != nil {
		t.Fatal(err)
	}
	truth := []driver.Truth{
		{User: 1, Device: 1, Alive: true, Since: old},
		{User: 2, Device: 1, Alive: true, Since: old},            // alive a minute, not shown: lost
		{User: 3, Device: 1, Alive: false, DiedAt: old, Kind: 1}, // ghost
		{User: 4, Device: 1, Alive: true, Since: now},            // too young to judge
		{User: 5, Device: 1, Alive: false, DiedAt: old, Kind: 1}, // would be a ghost...
	}
	calls := 0
	snapshot := func() []driver.Truth {
		calls++
		out := append([]driver.Truth(nil), truth...)
		if calls%2 == 0 { // ...but it came back while the views were read
			out[4] = driver.Truth{User: 5, Device: 1, Alive: true, Since: now}
		}
		return out
	}
	b := Bounds{Birth: 8 * time.Second, Silent: 20 * time.Second, Bye: 5 * time.Second}
	r := chk.Check(snapshot, b)
	if r.KVErr != nil {
		t.Fatal(r.KVErr)
	}
	for name, m := range map[string]Mismatch{"KV": r.KV, "watcher": r.Watcher} {
		if m.Lost != 1 || m.Ghost != 1 {
			t.Errorf("%s view: got %v (%v), want lost=1 ghost=1", name, m, m.Samples)
		}
	}
	if r.InFlux != 1 || r.Expected != 2 {
		t.Errorf("in flux %d (want 1), expected online %d (want 2)", r.InFlux, r.Expected)
	}
	if r.KeysByGW["gwA"] == 0 {
		t.Errorf("keys by gateway %v: want gwA counted", r.KeysByGW)
	}
	if r.Clean() {
		t.Error("a check with mismatches reported clean")
	}
}
