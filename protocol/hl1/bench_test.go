package hl1

import (
	"crypto/hmac"
	"crypto/sha256"
	"testing"
)

// Per-frame encode/decode costs and the heartbeat verification the gateway runs for every
// datagram. Run: go test -run '^$' -bench . -benchmem ./protocol/hl1

var sinkErr error

func BenchmarkHeartbeatEncode(b *testing.B) {
	buf := make([]byte, 0, HeartbeatSize)
	beat := Beat{Slot: 3, Epoch: 77, Seq: 1, TS: 1000, Active: true}
	for b.Loop() {
		beat.Seq++
		buf = AppendHeartbeat(buf[:0], beat.Seal(testKey))
	}
}

func BenchmarkHeartbeatDecode(b *testing.B) {
	frame := AppendHeartbeat(nil, sampleHeartbeat())
	for b.Loop() {
		_, sinkErr = ParseHeartbeat(frame)
	}
}

// BenchmarkHeartbeatVerify is the gateway hot path: parse, reconstruct seq/ts, SipHash tag.
func BenchmarkHeartbeatVerify(b *testing.B) {
	frame := AppendHeartbeat(nil, sampleHeartbeat())
	for b.Loop() {
		h, err := ParseHeartbeat(frame)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := h.Open(testKey, 77, 69_999, 123_400); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHelloEncode(b *testing.B) {
	buf := make([]byte, 0, HelloSize)
	h := sampleHello()
	for b.Loop() {
		buf = AppendHello(buf[:0], h.Seal(testKey))
	}
}

func BenchmarkHelloDecode(b *testing.B) {
	frame := AppendHello(nil, sampleHello())
	for b.Loop() {
		h, err := ParseHello(frame)
		if err != nil || !h.Verify(testKey) {
			b.Fatal(err)
		}
	}
}

func BenchmarkWelcomeEncode(b *testing.B) {
	buf := make([]byte, 0, WelcomeSize)
	w := sampleWelcome()
	for b.Loop() {
		buf = AppendWelcome(buf[:0], w.Seal(testKey, 1))
	}
}

func BenchmarkWelcomeDecode(b *testing.B) {
	frame := AppendWelcome(nil, sampleWelcome())
	for b.Loop() {
		w, err := ParseWelcome(frame)
		if err != nil || !w.Verify(testKey, 0xA1B2C3D4) {
			b.Fatal(err)
		}
	}
}

func BenchmarkRehelloEncode(b *testing.B) {
	buf := make([]byte, 0, RehelloSize)
	for b.Loop() {
		buf = AppendRehello(buf[:0], Rehello{Slot: 5, Reason: RehelloUnknownSlot})
	}
}

func BenchmarkRehelloDecode(b *testing.B) {
	frame := AppendRehello(nil, Rehello{Slot: 5, Reason: RehelloUnknownSlot})
	for b.Loop() {
		_, sinkErr = ParseRehello(frame)
	}
}

func BenchmarkCloseEncode(b *testing.B) {
	buf := make([]byte, 0, CloseSize)
	for b.Loop() {
		buf = AppendClose(buf[:0], CloseIdleTimeout)
	}
}

func BenchmarkCloseDecode(b *testing.B) {
	frame := AppendClose(nil, CloseIdleTimeout)
	for b.Loop() {
		_, sinkErr = ParseClose(frame)
	}
}

func fullEvents() []Event {
	evs := make([]Event, MaxEvents)
	for i := range evs {
		evs[i] = Event{UserID: uint64(i) * 7919, State: State(i % 3), Devices: 1, LastSeenMS: 1_750_000_000_000 + uint64(i), Version: uint64(1000 + i)}
	}
	return evs
}

// EVENT benchmarks use a full frame (MaxEvents entries); divide by 157 for per-entry cost.
func BenchmarkEventEncode(b *testing.B) {
	buf := make([]byte, 0, MaxFrame)
	evs := fullEvents()
	for b.Loop() {
		buf, sinkErr = AppendEvents(buf[:0], evs)
	}
}

func BenchmarkEventDecode(b *testing.B) {
	frame, _ := AppendEvents(nil, fullEvents())
	dst := make([]Event, 0, MaxEvents)
	for b.Loop() {
		dst, sinkErr = ParseEvents(frame, dst[:0])
	}
}

func BenchmarkNextTCP(b *testing.B) {
	stream, _ := AppendTCP(nil, AppendHeartbeat(nil, sampleHeartbeat()))
	for b.Loop() {
		_, _, sinkErr = NextTCP(stream)
	}
}

// The MAC choice (PROTOCOL.md "Tags"): SipHash-2-4 over the 26-byte heartbeat input
// against the baseline it was chosen over, HMAC-SHA256 truncated to 64 bits, measured in
// the same run. Compare the two ns/op lines.
var sinkTag uint64

func BenchmarkTagSipHash(b *testing.B) {
	for b.Loop() {
		sinkTag = HeartbeatTag(testKey, TypeHeartbeat, 42, 3, 70_000, 123_456, true)
	}
}

func BenchmarkTagHMACSHA256Baseline(b *testing.B) {
	m := hmac.New(sha256.New, make([]byte, 16))
	in := make([]byte, heartbeatMACInput)
	sum := make([]byte, 0, sha256.Size)
	for b.Loop() {
		m.Reset()
		m.Write(in)
		sum = m.Sum(sum[:0])
		sinkTag = uint64(sum[0])<<56 | uint64(sum[7])
	}
}
