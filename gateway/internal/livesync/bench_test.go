package livesync

import (
	"testing"
	"time"

	"heartline/agent/privacywatch"
	"heartline/agent/shared/clock"
	"heartline/protocol/hl1"
	"heartline/protocol/privacy"
)

// BenchmarkPublish routes one change to 100 subscribed connections (the fan-out of a
// popular member) and encodes their EVENT frames. privacy=on is the gateway as it runs: each
// connection is a different member with a sealed grant, the privacy view holds modes and
// revocations in every bucket, and each entry is checked (privacy.Allowed) and coarsened;
// privacy=off skips both. Their ratio is the privacy cost of EVENT fan-out
// (gateway/README.md).
func BenchmarkPublish(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "privacy=off"
		if on {
			name = "privacy=on"
		}
		b.Run(name, func(b *testing.B) { benchPublish(b, on) })
	}
}

func benchPublish(b *testing.B, on bool) {
	src := &fakeSource{ready: true, version: 100, state: map[uint64]hl1.Event{1: {State: hl1.StateActive, Devices: 2, LastSeenMS: 1000}}}
	clk := clock.NewFake(t0)
	o := Options{Source: src, MaxPerConn: 1000, SendWindow: 4096, Grace: time.Second, Clock: clk}
	ring := grantRing(b)
	if on {
		view := privacywatch.NewStatic()
		for bucket := range uint32(privacy.RecordBuckets) {
			var r privacy.Record
			for k := uint64(0); k < 20; k++ {
				subj := uint64(bucket) + privacy.RecordBuckets*(k*97+1)
				r.SetMode(subj, privacy.Mode(1+k%2))
				r.Revoke(subj, 5_000_000+k, 1, privacy.RevokeBlock)
			}
			view.Apply(bucket, &r, 1)
		}
		o.Privacy, o.Keys = view, ring
	}
	h := NewHub(o)
	h.SetReady()
	conns := make([]*fakeConn, 100)
	for i := range conns {
		conns[i] = &fakeConn{id: uint64(i + 1), user: uint64(1000 + i)}
		if on {
			g := grantFrame(b, ring, conns[i].user, t0, t0.Add(time.Hour), []uint64{1, 2, 3}, []privacy.Basis{privacy.BasisMember, privacy.BasisMatch, privacy.BasisNone})
			if r := h.Grant(conns[i], g); r != 0 {
				b.Fatal(r)
			}
		}
		h.Subscribe(conns[i], subscribeFrame(b, false, 1))
		conns[i].drain()
	}
	// Online and offline in turn, so every event is news for every viewer in both variants
	// (a coarse viewer gets no entry for a status change).
	evs := []hl1.Event{{UserID: 1, State: hl1.StateActive, Devices: 1}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		evs[0].Version = uint64(1000 + i)
		evs[0].State, evs[0].Devices, evs[0].LastSeenMS = hl1.StateActive, 1, 0
		if i%2 == 1 {
			evs[0].State, evs[0].Devices, evs[0].LastSeenMS = hl1.StateOffline, 0, uint64(t0.UnixMilli())
		}
		h.Publish(evs)
		for _, c := range conns {
			c.drain()
		}
	}
}
