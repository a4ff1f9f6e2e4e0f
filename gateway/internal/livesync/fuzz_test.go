package livesync

import (
	"testing"

	"heartline/protocol/hl1"
)

// FuzzHubFrames feeds arbitrary SUBSCRIBE / UNSUBSCRIBE bodies to a Hub: it must never
// panic, must close with protocol error on anything that does not decode, and must keep its
// per-connection limit and its counters consistent.
func FuzzHubFrames(f *testing.F) {
	good, _ := hl1.AppendSubscribe(nil, &hl1.Subscription{UserIDs: []uint64{1, 2, 3}})
	unsub, _ := hl1.AppendSubscribe(nil, &hl1.Subscription{Unsubscribe: true, UserIDs: []uint64{2}})
	f.Add(good, false)
	f.Add(unsub, true)
	f.Add([]byte{0x17}, false)
	f.Add([]byte{0x17, 0, 1, 0}, false)
	f.Add(append(append([]byte(nil), good...), 0xff), false) // trailing garbage
	f.Add([]byte{0x17, 0xff, 0xff, 1, 2, 3}, false)          // oversize count
	f.Fuzz(func(t *testing.T, frame []byte, unsubscribe bool) {
		h, _, _ := newTestHub(4)
		c := &fakeConn{id: 1}
		var r hl1.CloseReason
		if unsubscribe {
			h.Subscribe(c, good)
			r = h.Unsubscribe(c, frame)
		} else {
			r = h.Subscribe(c, frame)
		}
		var sub hl1.Subscription
		if err := hl1.ParseSubscribe(frame, &sub); err != nil && r != hl1.CloseProtocolError {
			t.Fatalf("undecodable frame %x answered with %d", frame, r)
		}
		if n := h.Stats.Active.Load(); n < 0 || n > 4 {
			t.Fatalf("active subscriptions %d (limit 4)", n)
		}
		h.Closed(c)
		if h.Stats.Active.Load() != 0 || len(h.users) != 0 {
			t.Fatalf("after close: active %d, users %d", h.Stats.Active.Load(), len(h.users))
		}
	})
}
