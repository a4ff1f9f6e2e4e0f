package tcp

import (
	"bytes"
	"testing"

	"heartline/protocol/hl1"
)

// The event loop's part of a TCP heartbeat (framing, rules, queueing for the worker) does
// not allocate, whether the frame comes whole or in two reads.
func TestTCPHeartbeatFramingDoesNotAllocate(t *testing.T) {
	s, _ := newFuzzServer(t)
	fc := &fakeGnetConn{in: make([]byte, 0, 64)}
	s.OnOpen(fc)
	c := fc.ctx.(*conn)
	c.welcomed()
	beat := mustTCP(append([]byte{0x13}, bytes.Repeat([]byte{2}, hl1.HeartbeatSize-1)...))
	allocs := testing.AllocsPerRun(1000, func() {
		fc.receive(s, beat[:7])
		fc.receive(s, beat[7:])
		w := <-s.work
		w.c.queued.Add(-1)
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per heartbeat", allocs)
	}
	if fc.closed {
		t.Fatal("the connection was closed")
	}
}
