package conformance

import (
	"time"

	"testing"

	"heartline/protocol/hl1"
)

// fill says HELLO to the Full gateway with fresh sessions until it answers REHELLO 3
// (slot 0), which is the UDP cell of the "gateway full" row.
func (s *suite) fill(t *testing.T) {
	t.Helper()
	p := dialUDP(t, s.Full.UDP, s.Source)
	for range 64 {
		c := s.newCreds(t)
		frame, h := c.helloFrame(hl1.FlagActive)
		p.send(frame)
		f := p.readAnswer("a HELLO to the Full gateway")
		if r, err := hl1.ParseRehello(f); err == nil {
			if r.Slot != 0 || r.Reason != hl1.RehelloFull {
				t.Errorf("HELLO to a full gateway: want REHELLO 3 for slot 0, got %+v", r)
			}
			return
		}
		welcomed(t, c, h, f)
	}
	t.Fatal("64 HELLOs were all welcomed: the Full gateway never answered REHELLO 3 (give a gateway with room for fewer sessions)")
}

func (s *suite) udpFull(t *testing.T) {
	if s.Full == nil {
		t.Skip("no Full gateway given")
	}
	s.fill(t)
}

// tcpFull fills the Full gateway over TCP (its TCP sessions may have room of their own),
// keeping the welcomed connections open, until a HELLO is answered REHELLO 3 and closed.
func (s *suite) tcpFull(t *testing.T) {
	if s.Full == nil || s.Full.TCP == "" {
		t.Skip("no Full gateway with TCP given")
	}
	if welcomes := s.tcpHellosUntilRefused(t, s.Full.TCP, 64); welcomes < 0 {
		t.Fatal("64 HELLOs over TCP were all welcomed: the Full gateway never answered REHELLO 3")
	}
}

// The Limited gateway allows one HELLO per source: the first may be welcomed, the next
// are over the limit.
func (s *suite) udpRateLimited(t *testing.T) {
	if s.Limited == nil {
		t.Skip("no Limited gateway given")
	}
	p := dialUDP(t, s.Limited.UDP, s.Source)
	first, _ := s.newCreds(t).helloFrame(hl1.FlagActive)
	p.exchange(first) // welcomed or not, it spends the source's one HELLO
	for range 2 {
		frame, _ := s.newCreds(t).helloFrame(hl1.FlagActive)
		p.expectSilence("a HELLO over the per-source rate", frame)
	}
}

func (s *suite) tcpRateLimited(t *testing.T) {
	if s.Limited == nil || s.Limited.TCP == "" {
		t.Skip("no Limited gateway with TCP given")
	}
	if welcomes := s.tcpHellosUntilRefused(t, s.Limited.TCP, 2); welcomes < 0 {
		t.Error("two HELLOs from one source were welcomed by a gateway that allows one")
	}
}

// tcpHellosUntilRefused says HELLO with fresh sessions on new connections (the welcomed
// ones stay open) until one is answered with REHELLO 3 (slot 0), which must then end its
// connection. It returns how many were welcomed before, or -1 if all tries were.
func (s *suite) tcpHellosUntilRefused(t *testing.T, addr string, tries int) int {
	t.Helper()
	for i := range tries {
		p := dialTCP(t, addr)
		c := s.newCreds(t)
		frame, h := c.helloFrame(hl1.FlagActive)
		p.send(frame)
		f := p.next(5 * time.Second)
		if _, err := hl1.ParseWelcome(f); err == nil {
			welcomed(t, c, h, f)
			continue
		}
		if r, err := hl1.ParseRehello(f); err != nil || r.Slot != 0 || r.Reason != hl1.RehelloFull {
			t.Fatalf("HELLO refused: want REHELLO 3 for slot 0, got %x", f)
		}
		p.expectEnd("after REHELLO 3")
		return i
	}
	return -1
}
