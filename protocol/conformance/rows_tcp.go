package conformance

import (
	"testing"
	"time"

	"heartline/protocol/hl1"
)

// tcpRows checks the TCP column of PROTOCOL.md's error table, one subtest per row. Frames
// the table closes for are sent after a WELCOME (before it, rule 2 closes for anything).
func (s *suite) tcpRows(t *testing.T) {
	closesAuthed := func(t *testing.T, what string, raw []byte, reason hl1.CloseReason) {
		t.Helper()
		p := dialTCP(t, s.TCP)
		p.online(s.newCreds(t))
		p.write(raw)
		p.expectClose(what, reason)
	}
	t.Run("empty, over 4096 bytes, version not 1, unknown type: CLOSE 2", func(t *testing.T) {
		closesAuthed(t, "length prefix 0", []byte{0, 0}, hl1.CloseProtocolError)
		closesAuthed(t, "length prefix 4097", append([]byte{0x10, 0x01}, make([]byte, 64)...), hl1.CloseProtocolError)
		for _, f := range framingErrors() {
			closesAuthed(t, f.name, framed(t, f.frame), hl1.CloseProtocolError)
		}
	})
	t.Run("type not valid here: CLOSE 2", func(t *testing.T) {
		for _, f := range append(gatewayOnlyFrames(t), namedFrame{"BATCH", strangerBatch(t, 2)}) {
			closesAuthed(t, f.name+" over TCP", framed(t, f.frame), hl1.CloseProtocolError)
		}
	})
	t.Run("fails to parse: CLOSE 2", func(t *testing.T) {
		frames := unparsable(s.newCreds(t))
		if s.Subscriptions { // without a presence source SUBSCRIBE is ignored (unsupported)
			frames = append(frames, namedFrame{"SUBSCRIBE ids not increasing", unsortedSubscribe()})
		}
		for _, f := range frames {
			closesAuthed(t, f.name, framed(t, f.frame), hl1.CloseProtocolError)
		}
	})
	t.Run("any frame but HELLO before WELCOME: CLOSE 2", func(t *testing.T) {
		bye := strangerBeat()
		bye[0] = byte(hl1.TypeBye)
		for _, f := range append([]namedFrame{{"HEARTBEAT", strangerBeat()}, {"BYE", bye}}, appOnlyFrames(t)...) {
			p := dialTCP(t, s.TCP)
			p.send(f.frame)
			p.expectClose(f.name+" as the first frame", hl1.CloseProtocolError)
		}
		p := dialTCP(t, s.TCP)
		c := s.newCreds(t)
		logout, _ := c.helloFrame(hl1.FlagLogout)
		p.send(logout) // answered with nothing: the connection stays unauthenticated
		p.send(strangerBeat())
		p.expectClose("HEARTBEAT after a logout HELLO (no WELCOME yet)", hl1.CloseProtocolError)
	})
	t.Run("HELLO on an authenticated connection after a HEARTBEAT, no REHELLO since: CLOSE 2", func(t *testing.T) {
		p := dialTCP(t, s.TCP)
		c := s.newCreds(t)
		sess := p.hello(c)
		sess = p.hello(c) // a retry that crossed the WELCOME: allowed before the first heartbeat
		p.send(sess.beat(false))
		frame, _ := c.helloFrame(hl1.FlagActive)
		p.send(frame)
		p.expectClose("HELLO after a HEARTBEAT", hl1.CloseProtocolError)

		again := dialTCP(t, s.TCP)
		sess = again.online(s.newCreds(t)) // its marker was a REHELLO 1: HELLO is allowed again
		again.hello(sess.creds)
	})
	t.Run("HELLO: token invalid or expired, tag invalid, clock skew, replayed HELLO: CLOSE 3", func(t *testing.T) {
		for _, f := range s.refusedHellos(t) {
			p := dialTCP(t, s.TCP)
			p.send(f.frame)
			p.expectClose(f.name, hl1.CloseAuthFailed)
		}
		c := s.newCreds(t)
		first, h := c.helloFrame(hl1.FlagActive)
		p := dialTCP(t, s.TCP)
		p.send(first)
		sess := welcomed(t, c, h, p.next(5*time.Second))
		p.send(sess.beat(false))
		p.marker(sess, "first heartbeat")
		replay := dialTCP(t, s.TCP)
		replay.send(first)
		replay.expectClose("the session's HELLO again after its first heartbeat, on a second connection (replayed)", hl1.CloseAuthFailed)
	})
	t.Run("HELLO: gateway full: REHELLO 3, close", s.tcpFull)
	t.Run("HELLO over the rate limits: REHELLO 3, close", s.tcpRateLimited)
	t.Run("HELLO with the logout flag: nothing", func(t *testing.T) {
		p := dialTCP(t, s.TCP)
		c := s.newCreds(t)
		logout, _ := c.helloFrame(hl1.FlagLogout)
		p.send(logout)
		p.hello(c) // the next frame is this HELLO's WELCOME: the logout got nothing
	})
	t.Run("HEARTBEAT/BYE: unknown slot: REHELLO 1", func(t *testing.T) {
		p := dialTCP(t, s.TCP)
		sess := p.online(s.newCreds(t))
		p.send(strangerBeat())
		p.expectRehello("HEARTBEAT on an unknown slot", strangerSlot, hl1.RehelloUnknownSlot)
		bye := strangerBeat()
		bye[0] = byte(hl1.TypeBye)
		p.send(bye)
		p.expectRehello("BYE on an unknown slot", strangerSlot, hl1.RehelloUnknownSlot)
		p.marker(sess, "the connection lives on")
	})
	t.Run("HEARTBEAT/BYE: session expired: REHELLO 2", func(t *testing.T) {
		p := dialTCP(t, s.TCP)
		sess := p.online(s.newCreds(t))
		p.send(sess.beat(true))
		p.send(sess.beat(false))
		p.expectRehello("HEARTBEAT after BYE", sess.w.Slot, hl1.RehelloExpired)
	})
	t.Run("HEARTBEAT/BYE: bad_mac on a live slot: REHELLO 1", func(t *testing.T) {
		p := dialTCP(t, s.TCP)
		sess := p.online(s.newCreds(t))
		p.send(sess.forged())
		p.expectRehello("forged HEARTBEAT", sess.w.Slot, hl1.RehelloUnknownSlot)
		bye := sess.forged()
		bye[0] = byte(hl1.TypeBye)
		p.send(bye)
		p.expectRehello("forged BYE", sess.w.Slot, hl1.RehelloUnknownSlot)
	})
	t.Run("HEARTBEAT/BYE: replay: drop", func(t *testing.T) {
		p := dialTCP(t, s.TCP)
		sess := p.online(s.newCreds(t))
		second := sess.beat(false)
		older := sess.beat(false)
		third := sess.beat(false)
		p.send(second)
		p.send(second)
		p.send(third)
		p.send(older)
		p.marker(sess, "a replayed heartbeat and an older one after a newer")
	})
	t.Run("no WELCOME within the auth timeout: CLOSE 5", s.tcpAuthTimeout)
	t.Run("authenticated, no frame for interval x misses + grace: CLOSE 5", s.tcpIdle)
	skipOffWire(t, append(offWireRows, offWireTCPRows...))
}
