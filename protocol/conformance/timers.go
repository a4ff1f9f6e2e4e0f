package conformance

import (
	"testing"
	"time"

	"heartline/protocol/hl1"
)

// timerSlack is how much earlier than its documented time a gateway's timer may fire (its
// tick) and how much later the suite waits for it.
const timerSlack = 250 * time.Millisecond

// tcpAuthTimeout: a connection without a WELCOME is closed AuthTimeout after it opened,
// whatever it sends: logout HELLOs (answered with nothing, leaving it unauthenticated) keep
// coming and do not extend it.
func (s *suite) tcpAuthTimeout(t *testing.T) {
	if s.AuthTimeout == 0 {
		t.Skip("no AuthTimeout given")
	}
	start := time.Now()
	p := dialTCP(t, s.TCP)
	c := s.newCreds(t)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(s.AuthTimeout / 4)
		defer tick.Stop()
		for {
			logout, _ := c.helloFrame(hl1.FlagLogout)
			b, _ := hl1.AppendTCP(nil, logout) // a valid 66-byte frame: no error
			p.write(b)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	p.expectTimerClose("unauthenticated connection sending logout HELLOs", start, s.AuthTimeout)
}

// tcpIdle: an authenticated connection that sends nothing is closed after the session
// timeout (interval x misses + grace) with CLOSE 5.
func (s *suite) tcpIdle(t *testing.T) {
	if s.SessionTimeout == 0 {
		t.Skip("no SessionTimeout given")
	}
	p := dialTCP(t, s.TCP)
	p.online(s.newCreds(t))
	lastFrame := time.Now() // the marker, answered just now, was the connection's last frame
	p.expectTimerClose("silent authenticated connection", lastFrame, s.SessionTimeout)
}

// expectTimerClose wants CLOSE 5, then the end of the connection, no earlier than timeout
// after since (less the timer's slack) and within 3 s after it.
func (p *tcpProbe) expectTimerClose(what string, since time.Time, timeout time.Duration) {
	p.t.Helper()
	f := p.next(timeout + 3*time.Second)
	after := time.Since(since)
	if r, err := hl1.ParseClose(f); err != nil || r != hl1.CloseIdleTimeout {
		p.t.Fatalf("%s: want CLOSE 5, got %x", what, f)
	}
	if after < timeout-timerSlack {
		p.t.Errorf("%s: CLOSE 5 after %v, before its timeout %v", what, after, timeout)
	}
	p.expectEnd(what + ", after CLOSE 5")
}
