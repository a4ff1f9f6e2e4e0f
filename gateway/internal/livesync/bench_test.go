package livesync

import (
	"testing"

	"heartline/protocol/hl1"
)

// BenchmarkPublish routes one change to 100 subscribed connections (the fan-out of a
// popular member) and encodes their EVENT frames.
func BenchmarkPublish(b *testing.B) {
	h, _, _ := newTestHub(1000)
	conns := make([]*fakeConn, 100)
	for i := range conns {
		conns[i] = &fakeConn{id: uint64(i + 1)}
		h.Subscribe(conns[i], subscribeFrame(b, false, 1))
	}
	evs := []hl1.Event{{UserID: 1, State: hl1.StateActive, Devices: 1}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		evs[0].Version = uint64(1000 + i)
		h.Publish(evs)
		for _, c := range conns {
			c.drain()
		}
	}
}
