package hl1

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// The SipHash-2-4 reference vector (Aumasson & Bernstein, appendix A): key 00..0f,
// message 00..0e -> a129ca6149be45e5. It pins the key convention (k0, k1 little-endian).
func TestMACKeyConvention(t *testing.T) {
	var key [16]byte
	msg := make([]byte, 15)
	for i := range key {
		key[i] = byte(i)
	}
	for i := range msg {
		msg[i] = byte(i)
	}
	if got := NewMACKey(key).Sum(msg); got != 0xa129ca6149be45e5 {
		t.Fatalf("SipHash-2-4 reference vector: got %016x", got)
	}
}

func TestHeartbeatTagInput(t *testing.T) {
	// The tag is SipHash over exactly vt|slot|epoch|seq|ts|status, big-endian.
	in := []byte{0x14, 0, 0, 0, 9, 0, 0, 0, 77}
	in = binary.BigEndian.AppendUint64(in, 5)
	in = binary.BigEndian.AppendUint64(in, 1234)
	in = append(in, 1)
	if got, want := HeartbeatTag(testKey, TypeBye, 9, 77, 5, 1234, true), testKey.Sum(in); got != want {
		t.Fatalf("tag %016x, want SipHash of the 26-byte input %016x", got, want)
	}
}

// session is a receiver's view of one session, as the gateway keeps it.
type session struct {
	epoch        uint32
	lastSeq      uint64
	lastTS       uint64
	lastAcceptMS int64
}

func (s *session) accept(h Heartbeat, nowMS int64) error {
	seq, ts, err := h.Open(testKey, s.epoch, s.lastSeq, s.lastTS+TicksSince(s.lastAcceptMS, nowMS))
	if err != nil {
		return err
	}
	s.lastSeq, s.lastTS, s.lastAcceptMS = seq, ts, nowMS
	return nil
}

// Replayed frames fail however old they are, including when the seq has wrapped so the
// old frame's seq15 matches what the receiver expects next.
func TestReplayFailsByConstruction(t *testing.T) {
	const frames = 1<<15 + 1<<14 + 10
	rng := rand.New(rand.NewPCG(1, 2))
	s := &session{epoch: 77}
	sent := make([]Heartbeat, 0, frames+1)
	sent = append(sent, Heartbeat{}) // seq 0 does not exist
	clientTS := uint64(0)
	nowMS := int64(0)
	for seq := uint64(1); seq <= frames; seq++ {
		step := 950 + rng.Uint64N(100) // ~10 s intervals with jitter, in ticks
		clientTS += step
		nowMS += int64(step*TickMS) + rng.Int64N(200) - 100 // server clock, slight skew
		h := Beat{Slot: 3, Epoch: 77, Seq: seq, TS: clientTS, Active: seq%3 != 0}.Seal(testKey)
		sent = append(sent, h)
		if err := s.accept(h, nowMS); err != nil {
			t.Fatalf("fresh frame %d rejected: %v", seq, err)
		}
		if s.lastSeq != seq || s.lastTS != clientTS {
			t.Fatalf("frame %d reconstructed as seq %d ts %d, want ts %d", seq, s.lastSeq, s.lastTS, clientTS)
		}
		// Replay a few earlier frames: the previous one, one from exactly 2^15 ago (same
		// seq15 as the next expected frame), 2^15-1 and 2^16 ago, and a random one.
		for _, back := range []uint64{0, 1, 1<<15 - 1, 1 << 15, 1 << 16, rng.Uint64N(seq)} {
			if back >= seq {
				continue
			}
			old := sent[seq-back]
			saved := *s
			if err := s.accept(old, nowMS+int64(rng.IntN(20_000))); err == nil {
				t.Fatalf("replay of frame %d after frame %d accepted", seq-back, seq)
			}
			if *s != saved {
				t.Fatal("a rejected frame changed the session state")
			}
		}
	}
}

func TestForgedHeartbeatFails(t *testing.T) {
	s := &session{epoch: 77, lastSeq: 41, lastTS: 5000}
	h := Beat{Slot: 3, Epoch: 77, Seq: 42, TS: 5500, Active: true}.Seal(testKey)
	frame := AppendHeartbeat(nil, h)
	for bit := 0; bit < len(frame)*8; bit++ {
		b := bytes.Clone(frame)
		b[bit/8] ^= 1 << (bit % 8)
		got, err := ParseHeartbeat(b)
		if err != nil {
			continue // byte 0 flips: wrong version or type
		}
		// (A HEARTBEAT<->BYE flip parses, and must fail: the type is in the tag input.)
		cp := *s
		if err := cp.accept(got, 5000*TickMS); err == nil {
			t.Fatalf("frame with bit %d flipped accepted", bit)
		}
	}
	// Right frame, wrong epoch or key.
	for _, c := range []struct {
		key   MACKey
		epoch uint32
	}{{testKey, 78}, {NewMACKey([16]byte{9}), 77}} {
		if _, _, err := h.Open(c.key, c.epoch, 41, 5000); err != ErrBadMAC {
			t.Errorf("epoch %d: %v", c.epoch, err)
		}
	}
	if _, _, err := h.Open(testKey, 77, 41, 5000); err != nil {
		t.Fatalf("genuine frame: %v", err)
	}
}

func TestLossAndReorder(t *testing.T) {
	s := &session{epoch: 1}
	beat := func(seq, ts uint64) Heartbeat { return Beat{Slot: 1, Epoch: 1, Seq: seq, TS: ts}.Seal(testKey) }
	// 16383 lost frames: the next one still reconstructs.
	if err := s.accept(beat(1, 100), 1000); err != nil {
		t.Fatal(err)
	}
	if err := s.accept(beat(1+MaxSeqGap+1, 200), 2000); err != nil || s.lastSeq != 16385 {
		t.Fatalf("after %d lost frames: %v (lastSeq %d)", MaxSeqGap, err, s.lastSeq)
	}
	// 16384 lost frames: reconstructs 2^15 too low, which the tag does not cover -> bad_mac
	// (no state change; gateways answer it with REHELLO, so the client starts over at once).
	if err := s.accept(beat(s.lastSeq+MaxSeqGap+2, 300), 3000); err != ErrBadMAC {
		t.Fatalf("after %d lost frames: %v, want ErrBadMAC", MaxSeqGap+1, err)
	}
	// Reordering: frame n+2 arrives before n+1; n+1 is then a replay.
	s = &session{epoch: 1}
	_ = s.accept(beat(1, 100), 1000)
	if err := s.accept(beat(3, 300), 3000); err != nil {
		t.Fatal(err)
	}
	if err := s.accept(beat(2, 200), 3100); err != ErrReplay {
		t.Fatalf("late frame: %v, want ErrReplay", err)
	}
	// ts drift: the client clock runs up to 327 s ahead of / behind the server's estimate.
	for _, drift := range []int64{MaxTSDrift, -MaxTSDrift - 1, MaxTSDrift + 1, -MaxTSDrift - 2} {
		s = &session{epoch: 1, lastSeq: 10, lastTS: 100_000, lastAcceptMS: 0}
		ts := uint64(int64(100_000) + drift) // expected stays 100000 (no server time elapsed)
		err := s.accept(beat(11, ts), 0)
		inWindow := drift >= -MaxTSDrift-1 && drift <= MaxTSDrift
		if inWindow != (err == nil) {
			t.Errorf("drift %d ticks: %v", drift, err)
		}
		if !inWindow && err != ErrBadMAC {
			t.Errorf("drift %d ticks: %v, want ErrBadMAC", drift, err)
		}
	}
}

func TestReconstructTable(t *testing.T) {
	cases := []struct {
		last uint64
		low  uint16
		want uint64
	}{
		{0, 1, 1},             // first frame
		{0, 0, 0},             // seq 0 is never sent: reconstructs to 0 = last -> replay
		{0, 32767, 32767},     // 1-2 = -1 would be negative: lifted by 2^15
		{32767, 0, 32768},     // wrap: 32768 mod 2^15 = 0
		{32767, 32767, 32767}, // the same frame again: equals last -> replay
		{100_000, 100_001 % 32768, 100_001},
		{100_000, (100_000 + 16384) % 32768, 100_000 + 16384}, // largest forward jump
		{100_000, (100_000 + 16385) % 32768, 100_000 - 16383}, // one further: behind
		{5, 32767, 32767}, // 5+1-16384 < 0: lifted
	}
	// The worked examples of PROTOCOL.md ("Sessions, seq/ts and reconstruction").
	cases = append(cases, []struct {
		last uint64
		low  uint16
		want uint64
	}{{41, 42, 42}, {100, 5000, 5000}, {5000, 4999, 4999}, {32768, 1, 32769}, {100_000, 116_385 % 32768, 83_617}}...)
	for _, c := range cases {
		if got := ReconstructSeq(c.last, c.low); got != c.want {
			t.Errorf("ReconstructSeq(%d, %d) = %d, want %d", c.last, c.low, got, c.want)
		}
	}
	tsCases := []struct {
		exp  uint64
		low  uint16
		want uint64
	}{
		{0, 0, 0},
		{65535, 2, 65538},
		{65538, 65535, 65535},
		{1_000_000, uint16((1_000_000 + 32767) % 65536), 1_000_000 + 32767},
		{1_000_000, uint16((1_000_000 - 32768) % 65536), 1_000_000 - 32768},
		{10, 65000, 65000}, // would be negative: lifted
		{65600, 74, 65610}, // PROTOCOL.md worked examples
		{1000, 700, 700},
	}
	for _, c := range tsCases {
		if got := ReconstructTS(c.exp, c.low); got != c.want {
			t.Errorf("ReconstructTS(%d, %d) = %d, want %d", c.exp, c.low, got, c.want)
		}
	}
}

// Property: any true value within the window around the reference comes back exactly.
func FuzzReconstruct(f *testing.F) {
	f.Add(uint64(0), uint16(1), true)
	f.Add(uint64(1<<40), uint16(0xFFFF), false)
	f.Add(uint64(32767), uint16(16384), true)
	f.Fuzz(func(t *testing.T, ref uint64, off uint16, seq bool) {
		ref &= 1<<62 - 1 // far from 2^64
		if seq {
			// true seq in [ref+1-16384, ref+1+16383], not negative
			d := int64(off%(1<<15)) - 1<<14
			truth := int64(ref) + 1 + d
			if truth < 0 {
				return
			}
			if got := ReconstructSeq(ref, uint16(truth)&seqMask); got != uint64(truth) {
				t.Fatalf("ReconstructSeq(%d, low of %d) = %d", ref, truth, got)
			}
			return
		}
		d := int64(off) - 1<<15
		truth := int64(ref) + d
		if truth < 0 {
			return
		}
		if got := ReconstructTS(ref, uint16(truth)); got != uint64(truth) {
			t.Fatalf("ReconstructTS(%d, low of %d) = %d", ref, truth, got)
		}
	})
}
