package conformance

import (
	"testing"

	"heartline/protocol/hl1"
)

// udpOnTCPSlot: a session started over TCP has a slot like any other; a UDP heartbeat
// forged on it (bad_mac on a live slot) and one after its BYE are answered over UDP,
// REHELLO 1 and REHELLO 2, as for a session started over UDP.
func (s *suite) udpOnTCPSlot(t *testing.T) {
	s.skipKnown(t)
	if s.TCP == "" {
		t.Skip("no TCP address given")
	}
	tp := dialTCP(t, s.TCP)
	sess := tp.online(s.newCreds(t))
	p := dialUDP(t, s.UDP, s.Source)
	p.expectRehello("forged HEARTBEAT over UDP on a TCP session's live slot", sess.forged(), sess.w.Slot, hl1.RehelloUnknownSlot)
	tp.send(sess.beat(true))
	tp.send(sess.beat(false))
	tp.expectRehello("HEARTBEAT over TCP after its BYE", sess.w.Slot, hl1.RehelloExpired)
	p.expectRehello("HEARTBEAT over UDP after the TCP session's BYE", sess.beat(false), sess.w.Slot, hl1.RehelloExpired)
}
