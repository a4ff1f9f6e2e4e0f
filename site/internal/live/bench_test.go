package live

import (
	"testing"

	"heartline/agent/privacywatch"
	"heartline/agent/watcher"
	"heartline/protocol/privacy"
)

// BenchmarkPublish: one watcher event fanned out while 10,000 SSE clients (each a different
// signed-in member) each watch a page of 24 members (each member watched by 10 clients).
// Queues are drained by the benchmark so it measures the hub, not overflow handling.
// privacy=on is the hub as it runs (privacy.Allowed per watcher, with a privacy view holding
// modes and revocations); privacy=off skips the checks: their ratio is the privacy cost of
// SSE fan-out (site/README.md, "Presence privacy").
func BenchmarkPublish(b *testing.B) {
	for _, enforce := range []bool{false, true} {
		name := "privacy=off"
		if enforce {
			name = "privacy=on"
		}
		b.Run(name, func(b *testing.B) { benchPublish(b, enforce) })
	}
}

func benchPublish(b *testing.B, enforce bool) {
	view := privacywatch.NewStatic()
	for bucket := range uint32(privacy.RecordBuckets) {
		var r privacy.Record
		for k := uint64(0); k < 20; k++ { // some hidden members and revocations in every bucket
			subj := uint64(bucket) + privacy.RecordBuckets*(k*97+1)
			r.SetMode(subj, privacy.Mode(1+k%2))
			r.Revoke(subj, 5_000_000+k, 1, privacy.RevokeBlock)
		}
		view.Apply(bucket, &r, 1)
	}
	hub := NewHub(Options{Source: newFake(), Privacy: view})
	hub.enforce = enforce
	clients := make([]*client, 10000)
	for i := range clients {
		ids := make([]uint64, 24)
		basis := make([]privacy.Basis, 24)
		for j := range ids {
			ids[j] = uint64((i/10)*24 + j + 1)
			basis[j] = privacy.BasisMember
		}
		clients[i] = &client{viewer: uint64(1_000_000 + i), issued: 2, ids: ids, basis: basis, shown: make([]bool, 24),
			q: make(chan []byte, 64), kick: make(chan struct{}, 1)}
		if err := hub.add(clients[i]); err != nil {
			b.Fatal(err)
		}
	}
	ev := watcher.Event{Type: watcher.EventOnline, Status: 2, Devices: 1, At: 1, Version: 1}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev.User = uint64(i%24000 + 1)
		hub.Publish(ev)
		if i%1000 == 999 {
			b.StopTimer()
			for _, c := range clients {
				for len(c.q) > 0 {
					<-c.q
				}
			}
			b.StartTimer()
		}
	}
}
