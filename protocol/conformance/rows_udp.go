package conformance

import (
	"testing"
	"time"

	"heartline/protocol/hl1"
)

// udpRows checks the UDP column of PROTOCOL.md's error table, one subtest per row.
func (s *suite) udpRows(t *testing.T) {
	t.Run("empty, over 4096 bytes, version not 1, unknown type: drop", func(t *testing.T) {
		p := dialUDP(t, s.UDP, s.Source)
		p.expectSilence("empty datagram", nil)
		p.expectSilence("4097 bytes (a heartbeat padded)", append(strangerBeat(), make([]byte, hl1.MaxFrame+1-hl1.HeartbeatSize)...))
		for _, f := range framingErrors() {
			p.expectSilence(f.name, f.frame)
		}
	})
	t.Run("type not valid here: drop", func(t *testing.T) {
		p := dialUDP(t, s.UDP, s.Source)
		for _, f := range append(gatewayOnlyFrames(t), appOnlyFrames(t)...) {
			p.expectSilence(f.name+" over UDP", f.frame)
		}
	})
	t.Run("fails to parse: drop", func(t *testing.T) {
		p := dialUDP(t, s.UDP, s.Source)
		for _, f := range unparsable(s.newCreds(t)) {
			p.expectSilence(f.name, f.frame)
		}
		if s.Source == "" {
			t.Log("no relay Source: BATCH parse errors not checked")
			return
		}
		for _, f := range unparsableBatches(t) {
			p.expectSilence(f.name+" from a relay", f.frame)
		}
	})
	t.Run("HELLO: token invalid or expired, tag invalid, clock skew, replayed HELLO: drop", func(t *testing.T) {
		p := dialUDP(t, s.UDP, s.Source)
		for _, f := range s.refusedHellos(t) {
			p.expectSilence(f.name, f.frame)
		}
		c := s.newCreds(t)
		first, h := c.helloFrame(hl1.FlagActive)
		p.send(first)
		sess := welcomed(t, c, h, p.readAnswer("a valid HELLO"))
		p.expectSilence("first heartbeat", sess.beat(false))
		p.expectSilence("the session's HELLO again, after its first heartbeat (replayed)", first)
	})
	t.Run("HELLO: gateway full: REHELLO 3 (slot 0)", s.udpFull)
	t.Run("HELLO over the rate limits: drop", s.udpRateLimited)
	t.Run("HELLO with the logout flag: nothing", func(t *testing.T) {
		p := dialUDP(t, s.UDP, s.Source)
		c := s.newCreds(t)
		logout, _ := c.helloFrame(hl1.FlagLogout)
		p.expectSilence("logout HELLO with no session here", logout)
		sess := p.online(c)
		logout, _ = c.helloFrame(hl1.FlagLogout)
		p.expectSilence("logout HELLO ending a live session", logout)
		p.expectRehello("heartbeat of the session the logout ended", sess.beat(false), sess.w.Slot, hl1.RehelloExpired)
	})
	t.Run("HEARTBEAT/BYE: unknown slot: REHELLO 1", func(t *testing.T) {
		p := dialUDP(t, s.UDP, s.Source)
		p.expectRehello("HEARTBEAT on an unknown slot", strangerBeat(), strangerSlot, hl1.RehelloUnknownSlot)
		bye := strangerBeat()
		bye[0] = byte(hl1.TypeBye)
		p.expectRehello("BYE on an unknown slot", bye, strangerSlot, hl1.RehelloUnknownSlot)
		t.Run("on the slot of a session started over TCP", s.udpOnTCPSlot)
	})
	t.Run("HEARTBEAT/BYE: session expired: REHELLO 2", func(t *testing.T) {
		t.Run("ended by BYE", func(t *testing.T) {
			p := dialUDP(t, s.UDP, s.Source)
			sess := p.online(s.newCreds(t))
			p.expectSilence("BYE", sess.beat(true))
			p.expectRehello("HEARTBEAT after BYE", sess.beat(false), sess.w.Slot, hl1.RehelloExpired)
			p.expectRehello("BYE after BYE", sess.beat(true), sess.w.Slot, hl1.RehelloExpired)
		})
		t.Run("ended by silence", func(t *testing.T) {
			s.skipKnown(t)
			if s.SessionTimeout == 0 {
				t.Skip("no SessionTimeout given")
			}
			p := dialUDP(t, s.UDP, s.Source)
			quiet := p.online(s.newCreds(t))
			waitPast(s.expiry())
			p.expectRehello("HEARTBEAT after interval x misses + grace + debounce (+2 s) of silence", quiet.beat(false), quiet.w.Slot, hl1.RehelloExpired)
		})
	})
	t.Run("HEARTBEAT/BYE: bad_mac on a live slot: REHELLO 1", func(t *testing.T) {
		p := dialUDP(t, s.UDP, s.Source)
		sess := p.online(s.newCreds(t))
		p.expectRehello("forged HEARTBEAT", sess.forged(), sess.w.Slot, hl1.RehelloUnknownSlot)
		bye := sess.forged()
		bye[0] = byte(hl1.TypeBye)
		p.expectRehello("forged BYE", bye, sess.w.Slot, hl1.RehelloUnknownSlot)
		p.expectSilence("the next real heartbeat (the session lives on)", sess.beat(false))
	})
	t.Run("HEARTBEAT/BYE: replay: drop", func(t *testing.T) {
		p := dialUDP(t, s.UDP, s.Source)
		sess := p.online(s.newCreds(t))
		second := sess.beat(false)
		p.expectSilence("second heartbeat", second)
		p.expectSilence("second heartbeat replayed", second)
		older := sess.beat(false)
		p.expectSilence("third heartbeat", sess.beat(false))
		p.expectSilence("an older heartbeat after a newer one", older)
	})
	t.Run("BATCH from a source not in -relays: drop", func(t *testing.T) {
		if s.NonRelaySource == "" {
			t.Skip("no NonRelaySource given")
		}
		p := dialUDP(t, s.UDP, s.NonRelaySource)
		if got := p.exchangeBatch(strangerBatch(t, 4), false); len(got) != 0 {
			t.Errorf("BATCH of 4 unknown slots from %s (not a relay): want a drop, got %x", s.NonRelaySource, got)
		}
	})
	t.Run("BATCH entry: as a lone HEARTBEAT, all its REHELLOs in one REHELLOS", s.batchEntries)
	skipOffWire(t, offWireRows)
}

// readAnswer waits for the next datagram that is not a marker's answer.
func (p *udpProbe) readAnswer(what string) []byte {
	p.t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if f := p.read(time.Until(deadline)); f != nil && !p.isOldMarker(f) {
			return f
		}
	}
	p.t.Fatalf("no answer to %s within 5 s", what)
	return nil
}

// expiry is how long after its last frame a silent session is surely ended: the session
// timeout, the debounce window and a margin for the gateway's timer tick.
func (s *suite) expiry() time.Time {
	return time.Now().Add(s.SessionTimeout + s.Debounce + 2*time.Second)
}

// waitPast blocks until deadline: the documented timer must have run out before the
// answer is checked.
func waitPast(deadline time.Time) {
	<-time.After(time.Until(deadline))
}
