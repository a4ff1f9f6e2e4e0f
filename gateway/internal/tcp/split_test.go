package tcp

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"heartline/protocol/hl1"
	"heartline/scripts/proctest"
)

// seamLog records, in order, every frame that reaches the subscriptions seam.
type seamLog struct {
	mu      sync.Mutex
	entries []string
}

func (l *seamLog) add(kind string, f []byte) hl1.CloseReason {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, fmt.Sprintf("%s %x", kind, f))
	return 0
}
func (l *seamLog) Subscribe(_ Conn, f []byte) hl1.CloseReason   { return l.add("sub", f) }
func (l *seamLog) Unsubscribe(_ Conn, f []byte) hl1.CloseReason { return l.add("unsub", f) }
func (l *seamLog) Grant(_ Conn, f []byte) hl1.CloseReason       { return l.add("grant", f) }
func (l *seamLog) Closed(Conn)                                  {}

// all returns a copy of everything the seam saw so far.
func (l *seamLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.entries...)
}

func (l *seamLog) count() int { return len(l.all()) }

// splitBed writes byte segments to the gateway so that each arrives in its own read: after
// each segment it waits until the server has read every byte so far (Stats.Bytes), so the
// kernel cannot merge segments.
type splitBed struct {
	s    *Server
	seam *seamLog
}

func (b *splitBed) write(t *testing.T, c net.Conn, segments ...[]byte) {
	t.Helper()
	for _, seg := range segments {
		want := b.s.Stats.Bytes.Load() + uint64(len(seg))
		if _, err := c.Write(seg); err != nil {
			t.Fatal(err)
		}
		proctest.WaitFor(t, 5*time.Second, "the gateway read the segment", func() bool { return b.s.Stats.Bytes.Load() >= want })
	}
}

// Every frame type a client sends over TCP, split at every byte, has exactly the effect of
// the same frame written whole.
func TestTCPFramesSplitAtEveryPointAreReassembled(t *testing.T) {
	seam := &seamLog{}
	s, keys, clk, addr := setupSubs(t, seam)
	bed := &splitBed{s: s, seam: seam}
	device := uint32(0)
	newClient := func() *testClient {
		device++
		return dialClient(t, keys, clk, addr, 5, device)
	}
	split := func(f []byte, at int) [][]byte {
		w := mustTCP(f)
		return [][]byte{w[:at], w[at:]}
	}

	helloLen := hl1.TCPHeaderSize + hl1.HelloSize
	for at := 1; at < helloLen; at++ {
		cl := newClient()
		bed.write(t, cl.c, split(cl.helloFrame(), at)...)
		cl.welcome(t)
	}
	beatLen := hl1.TCPHeaderSize + hl1.HeartbeatSize
	for _, bye := range []bool{false, true} {
		for at := 1; at < beatLen; at++ {
			cl := newClient()
			cl.hello(t)
			hb, byes := s.HandlerStats().Heartbeats.Load(), s.HandlerStats().Byes.Load()
			bed.write(t, cl.c, split(cl.beatFrame(bye), at)...)
			proctest.WaitFor(t, 5*time.Second, fmt.Sprintf("bye=%v split at %d counted", bye, at), func() bool {
				if bye {
					return s.HandlerStats().Byes.Load() == byes+1
				}
				return s.HandlerStats().Heartbeats.Load() == hb+1
			})
		}
	}
	subFrame, _ := hl1.AppendSubscribe(nil, &hl1.Subscription{UserIDs: []uint64{7, 12345678, 1 << 40}})
	unsubFrame, _ := hl1.AppendSubscribe(nil, &hl1.Subscription{UserIDs: []uint64{12345678}, Unsubscribe: true})
	for _, f := range [][]byte{subFrame, unsubFrame, hl1.AppendGrant(nil, []byte("a sealed grant"))} {
		for at := 1; at < len(f)+hl1.TCPHeaderSize; at++ {
			cl := newClient()
			cl.hello(t)
			n := seam.count()
			bed.write(t, cl.c, split(f, at)...)
			proctest.WaitFor(t, 5*time.Second, "the seam got the frame", func() bool { return seam.count() == n+1 })
			if got := seam.all(); !bytes.Contains([]byte(got[len(got)-1]), fmt.Appendf(nil, "%x", f)) {
				t.Fatalf("split at %d: the seam got %s, want %x", at, got[len(got)-1], f)
			}
		}
	}
	if s.Stats.Closes(CauseProtocolError)+s.Stats.Closes(CauseFirstNotHello) != 0 {
		t.Fatal("a split frame was taken for a protocol error")
	}
}

// A stream of mixed frames cut at random points gives exactly what the same stream written
// at once gives: the same heartbeats and BYE accepted, the same frames at the seam in the
// same order, no answer, no close.
func TestTCPRandomSegmentationsOfAMixedStream(t *testing.T) {
	seam := &seamLog{}
	s, keys, clk, addr := setupSubs(t, seam)
	bed := &splitBed{s: s, seam: seam}
	subFrame, _ := hl1.AppendSubscribe(nil, &hl1.Subscription{UserIDs: []uint64{7, 8, 9, 1 << 33}})
	unsubFrame, _ := hl1.AppendSubscribe(nil, &hl1.Subscription{UserIDs: []uint64{8}, Unsubscribe: true})
	grant := hl1.AppendGrant(nil, bytes.Repeat([]byte{0xab}, 300))

	type outcome struct {
		heartbeats, byes uint64
		seam             []string
		closes           uint64
	}
	run := func(device uint32, cut func(stream []byte) [][]byte) outcome {
		cl := dialClient(t, keys, clk, addr, 5, device)
		cl.hello(t)
		var stream []byte
		for _, f := range [][]byte{cl.beatFrame(false), grant, subFrame, cl.beatFrame(false), unsubFrame, cl.beatFrame(false), cl.beatFrame(true)} {
			stream = append(stream, mustTCP(f)...)
		}
		hb, byes := s.HandlerStats().Heartbeats.Load(), s.HandlerStats().Byes.Load()
		seamBefore := len(seam.all())
		bed.write(t, cl.c, cut(stream)...)
		proctest.WaitFor(t, 5*time.Second, "the BYE", func() bool { return s.HandlerStats().Byes.Load() == byes+1 })
		closes := uint64(0)
		for c := CloseCause(0); c < NumCloseCauses; c++ {
			closes += s.Stats.Closes(c)
		}
		return outcome{heartbeats: s.HandlerStats().Heartbeats.Load() - hb, byes: 1, seam: seam.all()[seamBefore:], closes: closes}
	}
	whole := run(1, func(stream []byte) [][]byte { return [][]byte{stream} })
	if whole.heartbeats != 3 || len(whole.seam) != 3 || whole.closes != 0 {
		t.Fatalf("the whole stream: %+v, want 3 heartbeats, 3 seam frames, no close", whole)
	}
	rng := rand.New(rand.NewPCG(13, 1))
	for i := range 25 {
		got := run(uint32(2+i), func(stream []byte) [][]byte {
			var segs [][]byte
			for len(stream) > 0 {
				n := 1 + rng.IntN(min(len(stream), 1+rng.IntN(40)))
				segs = append(segs, stream[:n])
				stream = stream[n:]
			}
			return segs
		})
		if fmt.Sprint(got) != fmt.Sprint(whole) {
			t.Fatalf("segmentation %d: %+v, the whole stream gave %+v", i, got, whole)
		}
	}
}
