package conformance

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"heartline/protocol/hl1"
)

// writeSplit writes b in pieces ending at the given offsets, pausing briefly between them
// so that each piece leaves in its own segment (the pause only shapes the traffic; the
// answers are what is checked).
func (p *tcpProbe) writeSplit(b []byte, cuts ...int) {
	from := 0
	for _, c := range append(cuts, len(b)) {
		p.write(b[from:c])
		from = c
		if c < len(b) {
			time.Sleep(time.Millisecond)
		}
	}
}

func (p *tcpProbe) close() { p.conn.Close() }

// splitPoints: a frame written in two writes, cut at any byte, and a stream of mixed frames
// cut at random, get the same answers as unsplit writes.
func (s *suite) splitPoints(t *testing.T) {
	t.Run("HELLO cut at every byte", func(t *testing.T) {
		for k := range hl1.TCPHeaderSize + hl1.HelloSize {
			p := dialTCP(t, s.TCP)
			c := s.newCreds(t)
			frame, h := c.helloFrame(hl1.FlagActive)
			p.writeSplit(framed(t, frame), k) // k = 0: one write, the reference
			f := p.next(5 * time.Second)
			if f == nil {
				t.Fatalf("HELLO cut after byte %d: the gateway closed the connection", k)
			}
			welcomed(t, c, h, f)
			p.close()
		}
	})
	t.Run("HEARTBEAT and BYE cut at every byte", func(t *testing.T) {
		p := dialTCP(t, s.TCP)
		sess := p.online(s.newCreds(t))
		for k := range hl1.TCPHeaderSize + hl1.HeartbeatSize {
			// A valid heartbeat (no answer) then a forged one (REHELLO 1), both cut at k:
			// the REHELLO must be the next frame.
			p.writeSplit(framed(t, sess.beat(false)), k)
			p.writeSplit(framed(t, sess.forged()), k)
			p.expectRehello(fmt.Sprintf("heartbeats cut after byte %d", k), sess.w.Slot, hl1.RehelloUnknownSlot)
		}
		p.writeSplit(framed(t, sess.beat(true)), 10)
		p.send(sess.beat(false))
		p.expectRehello("heartbeat after a BYE cut after byte 10", sess.w.Slot, hl1.RehelloExpired)
	})
	t.Run("mixed frames cut at random", func(t *testing.T) {
		for seed := range uint64(24) {
			s.segmentedStream(t, seed)
		}
	})
}

// segmentedStream sends a HELLO and then heartbeats, a forgery, a replay, an unknown slot,
// a BYE and a heartbeat after it, as one byte stream cut at random (seed 0: not cut), and
// wants the answers an unsplit stream gets.
func (s *suite) segmentedStream(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	p := dialTCP(t, s.TCP)
	defer p.close()
	c := s.newCreds(t)
	frame, h := c.helloFrame(hl1.FlagActive)
	hello := framed(t, frame)
	p.writeSplit(hello, randomCuts(rng, len(hello), seed)...)
	f := p.next(5 * time.Second)
	if f == nil {
		t.Fatalf("seed %d: HELLO cut at random: the gateway closed the connection", seed)
	}
	sess := welcomed(t, c, h, f)

	var stream bytes.Buffer
	b1 := sess.beat(false)
	forged := sess.forged()
	b2 := sess.beat(false)
	b3 := sess.beat(false)
	bye := sess.beat(true)
	after := sess.beat(false)
	for _, f := range [][]byte{b1, forged, b2, b2, strangerBeat(), b3, bye, after} {
		stream.Write(framed(t, f))
	}
	p.writeSplit(stream.Bytes(), randomCuts(rng, stream.Len(), seed)...)
	// Answers about different slots may come from different parts of a gateway, so they
	// are compared as a set; those about the connection's own slot come in order.
	want := []hl1.Rehello{{Slot: sess.w.Slot, Reason: hl1.RehelloUnknownSlot}, {Slot: strangerSlot, Reason: hl1.RehelloUnknownSlot}, {Slot: sess.w.Slot, Reason: hl1.RehelloExpired}}
	var got, own []hl1.Rehello
	for range want {
		f := p.next(5 * time.Second)
		r, err := hl1.ParseRehello(f)
		if err != nil {
			t.Fatalf("seed %d, stream of %d bytes: want a REHELLO, got %x", seed, stream.Len(), f)
		}
		got = append(got, r)
		if r.Slot == sess.w.Slot {
			own = append(own, r)
		}
	}
	if !sameRehellos(got, want) || len(own) != 2 || own[0].Reason != hl1.RehelloUnknownSlot {
		t.Errorf("seed %d, stream of %d bytes: answers %+v, want %+v", seed, stream.Len(), got, want)
	}
}

// sameRehellos compares two lists of REHELLOs as multisets.
func sameRehellos(a, b []hl1.Rehello) bool {
	count := map[hl1.Rehello]int{}
	for _, r := range a {
		count[r]++
	}
	for _, r := range b {
		count[r]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return len(a) == len(b)
}

// randomCuts returns increasing cut offsets inside 1..n-1: pieces of 1 to 24 bytes, none
// for seed 0.
func randomCuts(rng *rand.Rand, n int, seed uint64) []int {
	if seed == 0 {
		return nil
	}
	var cuts []int
	for at := 1 + rng.IntN(24); at < n; at += 1 + rng.IntN(24) {
		cuts = append(cuts, at)
	}
	return cuts
}
