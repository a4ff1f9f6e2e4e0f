package conformance

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"heartline/protocol/hl1"
)

// ipv4UDPHeaders is what every datagram adds on the wire (20 bytes IPv4, 8 bytes UDP).
const ipv4UDPHeaders = 28

// amplification: for every unauthenticated datagram the suite can think of (junk of every
// type and several lengths, frames of the wrong type, malformed and refused HELLOs,
// heartbeats and BYEs on unknown slots, BATCHes from a relay and from a stranger), the
// answers are at most one datagram, no larger on the wire than the datagram itself, and
// none at all for a frame under 17 bytes.
func (s *suite) amplification(t *testing.T) {
	relay := dialUDP(t, s.UDP, s.Source)
	var stranger *udpProbe
	if s.NonRelaySource != "" {
		stranger = dialUDP(t, s.UDP, s.NonRelaySource)
	}
	var in, out, inBytes, outBytes int
	check := func(p *udpProbe, what string, frame []byte, batch bool) {
		t.Helper()
		var got [][]byte
		if batch {
			got = p.exchangeBatch(frame, false)
		} else {
			got = p.exchange(frame)
		}
		in, inBytes = in+1, inBytes+len(frame)+ipv4UDPHeaders
		sent := len(frame) + ipv4UDPHeaders
		for _, g := range got {
			out, outBytes = out+1, outBytes+len(g)+ipv4UDPHeaders
			if len(g)+ipv4UDPHeaders > sent {
				t.Errorf("%s: %d bytes on the wire answered with %d (%x)", what, sent, len(g)+ipv4UDPHeaders, g)
			}
		}
		if len(got) > 1 {
			t.Errorf("%s: one datagram answered with %d", what, len(got))
		}
		if len(got) > 0 && len(frame) < hl1.HeartbeatSize {
			t.Errorf("%s: a %d-byte frame (under 17) was answered with %x", what, len(frame), got[0])
		}
	}

	rng := rand.New(rand.NewPCG(13, 8))
	for vt := 0x10; vt <= 0x1f; vt++ {
		for _, n := range []int{1, 6, 16, 17, 18, 66} {
			junk := make([]byte, n)
			for i := range junk {
				junk[i] = byte(rng.Uint32())
			}
			junk[0] = byte(vt)
			check(relay, fmt.Sprintf("%d random bytes of type %#x", n, vt), junk, vt == int(hl1.TypeBatch))
		}
	}
	c := s.newCreds(t)
	for _, group := range [][]namedFrame{framingErrors(), gatewayOnlyFrames(t), appOnlyFrames(t), unparsable(c), s.refusedHellos(t)} {
		for _, f := range group {
			check(relay, f.name, f.frame, false)
		}
	}
	check(relay, "HEARTBEAT on an unknown slot", strangerBeat(), false)
	bye := strangerBeat()
	bye[0] = byte(hl1.TypeBye)
	check(relay, "BYE on an unknown slot", bye, false)
	for _, f := range unparsableBatches(t) {
		check(relay, f.name, f.frame, true)
	}
	for _, n := range []int{1, 2, 4, 40, 255} {
		check(relay, fmt.Sprintf("BATCH of %d unknown slots from a relay", n), strangerBatch(t, n), true)
		if stranger != nil {
			check(stranger, fmt.Sprintf("BATCH of %d unknown slots from a stranger", n), strangerBatch(t, n), true)
		}
	}
	t.Logf("%d unauthenticated datagrams (%d bytes on the wire) got %d answers (%d bytes)", in, inBytes, out, outBytes)
	if out > in || outBytes > inBytes {
		t.Errorf("in all: %d datagrams of %d bytes answered with %d of %d bytes", in, inBytes, out, outBytes)
	}
}
