package live

import (
	"testing"

	"heartline/agent/watcher"
)

// BenchmarkPublish: one watcher event fanned out while 10,000 SSE clients each watch a
// page of 24 members (each member watched by 10 clients). Queues are drained by the
// benchmark so it measures the hub, not overflow handling.
func BenchmarkPublish(b *testing.B) {
	hub := NewHub(Options{Source: newFake()})
	clients := make([]*client, 10000)
	for i := range clients {
		ids := make([]uint64, 24)
		for j := range ids {
			ids[j] = uint64((i/10)*24 + j + 1)
		}
		clients[i] = &client{ids: ids, q: make(chan []byte, 64), kick: make(chan struct{}, 1)}
		hub.add(clients[i])
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
