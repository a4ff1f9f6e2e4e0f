package conformance

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"heartline/protocol/hl1"
)

// markerBase is below the marker slots: small numbers, which a gateway that puts a
// generation in a slot's high bits (Heartline does) never hands out.
const markerBase = 0x100

// udpProbe is one UDP socket talking to a gateway. Frames from one socket reach one of the
// gateway's loops, which answers them in order: that is what the marker relies on.
type udpProbe struct {
	t       testing.TB
	conn    *net.UDPConn
	gw      *net.UDPAddr
	markers map[uint32]bool // slots of the markers sent so far (late duplicates are ignored)
	next    uint32
	buf     []byte
}

// dialUDP opens a socket on source (an IP, or "" for any) towards the gateway at addr.
func dialUDP(t testing.TB, addr, source string) *udpProbe {
	t.Helper()
	gw, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatalf("gateway UDP address %q: %v", addr, err)
	}
	local := &net.UDPAddr{}
	if source != "" {
		if local.IP = net.ParseIP(source); local.IP == nil {
			t.Fatalf("source %q is not an IP", source)
		}
	}
	conn, err := net.ListenUDP("udp", local)
	if err != nil {
		t.Fatalf("binding a UDP socket on %q: %v", source, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &udpProbe{t: t, conn: conn, gw: gw, markers: map[uint32]bool{}, next: markerBase, buf: make([]byte, 65536)}
}

func (p *udpProbe) send(frame []byte) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDP(frame, p.gw); err != nil {
		p.t.Fatalf("sending %d bytes: %v", len(frame), err)
	}
}

// read returns the next datagram, or nil after d.
func (p *udpProbe) read(d time.Duration) []byte {
	p.t.Helper()
	_ = p.conn.SetReadDeadline(time.Now().Add(d))
	n, err := p.conn.Read(p.buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	if err != nil {
		p.t.Fatalf("reading from the gateway: %v", err)
	}
	return append([]byte(nil), p.buf[:n]...)
}

// isOldMarker reports an answer to a marker sent earlier (a retried marker answered twice).
func (p *udpProbe) isOldMarker(frame []byte) bool {
	r, err := hl1.ParseRehello(frame)
	return err == nil && p.markers[r.Slot]
}

// exchange sends frame, then a marker, and returns every datagram that arrived before the
// marker's answer: what the gateway answered to frame. The marker (a heartbeat on a slot no
// session holds) is sent again every 300 ms while unanswered, in case the gateway's REHELLO
// rate limit held its answer back.
func (p *udpProbe) exchange(frame []byte) [][]byte {
	p.t.Helper()
	p.send(frame)
	return p.untilMarker()
}

// untilMarker sends a marker and collects what arrives before its answer.
func (p *udpProbe) untilMarker() [][]byte {
	p.t.Helper()
	p.next++
	slot := p.next
	marker := hl1.AppendHeartbeat(nil, hl1.Heartbeat{Slot: slot, Word: 1, Tag: uint64(slot)})
	var got [][]byte
	deadline := time.Now().Add(10 * time.Second)
	p.send(marker)
	for time.Now().Before(deadline) {
		f := p.read(300 * time.Millisecond)
		if f == nil {
			p.send(marker)
			continue
		}
		if r, err := hl1.ParseRehello(f); err == nil && r.Slot == slot {
			if r.Reason != hl1.RehelloUnknownSlot {
				p.t.Fatalf("marker (heartbeat on unknown slot %#x) answered with REHELLO %d, want 1", slot, r.Reason)
			}
			p.markers[slot] = true
			return got
		}
		if !p.isOldMarker(f) {
			got = append(got, f)
		}
	}
	p.t.Fatalf("no answer to the marker (heartbeat on unknown slot %#x) within 10 s: the gateway answers nothing over UDP from this source", slot)
	return nil
}

// expectSilence sends frame and fails if anything answered it.
func (p *udpProbe) expectSilence(what string, frame []byte) {
	p.t.Helper()
	if got := p.exchange(frame); len(got) != 0 {
		p.t.Errorf("%s (%d bytes): want no answer, got %d answers, first %x", what, len(frame), len(got), got[0])
	}
}

// expectRehello sends frame and wants exactly one REHELLO (slot, reason) in answer.
func (p *udpProbe) expectRehello(what string, frame []byte, slot uint32, reason hl1.RehelloReason) {
	p.t.Helper()
	got := p.exchange(frame)
	if len(got) != 1 {
		p.t.Errorf("%s: want one REHELLO %d for slot %d, got %d answers %x", what, reason, slot, len(got), got)
		return
	}
	r, err := hl1.ParseRehello(got[0])
	if err != nil || r.Slot != slot || r.Reason != reason {
		p.t.Errorf("%s: want REHELLO %d for slot %d, got %x (%+v, %v)", what, reason, slot, got[0], r, err)
	}
}

// hello sends a HELLO for c and returns the session its WELCOME starts. The WELCOME may
// come from another of the gateway's loops (the session's owner), so it is awaited on its
// own, without a marker.
func (p *udpProbe) hello(c *creds) *session {
	p.t.Helper()
	frame, h := c.helloFrame(hl1.FlagActive)
	p.send(frame)
	return welcomed(p.t, c, h, p.readAnswer("a valid HELLO over UDP"))
}

// online says HELLO and sends the first heartbeat (seq 1), as an app does.
func (p *udpProbe) online(c *creds) *session {
	p.t.Helper()
	s := p.hello(c)
	p.expectSilence("first heartbeat after WELCOME", s.beat(false))
	return s
}

// exchangeBatch sends a BATCH and returns what answered it. A gateway whose BATCH entries
// live in several loops answers once their verdicts are in, maybe after the marker: so with
// wantAnswer it reads on until one answer has come, then sends a second marker, before
// which anything else the BATCH caused must have arrived.
func (p *udpProbe) exchangeBatch(frame []byte, wantAnswer bool) [][]byte {
	p.t.Helper()
	got := p.exchange(frame)
	for deadline := time.Now().Add(5 * time.Second); wantAnswer && len(got) == 0 && time.Now().Before(deadline); {
		if f := p.read(time.Until(deadline)); f != nil && !p.isOldMarker(f) {
			got = append(got, f)
		}
	}
	return append(got, p.untilMarker()...)
}
