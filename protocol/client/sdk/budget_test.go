package main

import (
	"fmt"
	"testing"
	"time"

	"heartline/protocol/hl1"
	"heartline/scripts/proctest"
)

// The mobile budget (protocol/APPS.md, "Mobile budget"): what one handle puts on the air in
// an hour at the default 10 s interval, counted from the datagrams the real client sends and
// receives (a fake gateway records them), with time compressed budgetScale times: the
// gateway announces 10 s / budgetScale, and every other client timer (the 2 min confirm
// HELLO, the 30 s background linger, the radio's 1 s burst window) is scaled the same way.
const (
	budgetScale     = 200
	defaultInterval = 10 * time.Second
	ipv4UDPHeaders  = 20 + 8 // IPv4 + UDP header bytes per datagram (IPv6: 40 + 8)
	radioBurst      = time.Second
)

// airtime summarises packets over one (compressed) hour.
type airtime struct {
	up, down, bytes, wakeups int
}

// measure counts packets; a wake-up is a burst: packets closer than radioBurst/scale belong
// to the one radio wake-up that the first of them caused.
func measure(ps []packet) airtime {
	var a airtime
	var last time.Time
	for i, p := range ps {
		if p.up {
			a.up++
		} else {
			a.down++
		}
		a.bytes += p.size + ipv4UDPHeaders
		if i == 0 || p.at.Sub(last) > radioBurst/budgetScale {
			a.wakeups++
		}
		last = p.at
	}
	return a
}

func (a airtime) String() string {
	return fmt.Sprintf("%d datagrams up, %d down, %d bytes on the air (IPv4), %d radio wake-ups", a.up, a.down, a.bytes, a.wakeups)
}

// TestMobileBudget measures one compressed hour each in the foreground, in the background
// with HL_BG_KEEP and in the background with the default HL_BG_BYE_AFTER, and checks the
// counts the schedule implies: 360 beats an hour plus a confirm HELLO every 2 minutes (30
// an hour) while beating, and nothing after the background BYE.
func TestMobileBudget(t *testing.T) {
	proctest.SkipShort(t) // three compressed hours: 3 × 18 s
	hour := time.Hour / budgetScale
	g := newFakeGateway(t, defaultInterval/budgetScale)
	s := newTestSession(t, g, 100001, tuning{confirmEvery: 2 * time.Minute / budgetScale})
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, stateOnline)

	window := func(name string) airtime {
		from := time.Now()
		proctest.WaitFor(t, 2*hour, "a compressed hour", func() bool { return time.Since(from) >= hour })
		a := measure(g.since(from))
		t.Logf("%s, per hour: %v", name, a)
		return a
	}
	inRange := func(name string, got, lo, hi int) {
		t.Helper()
		if got < lo || got > hi {
			t.Errorf("%s: %d, want %d..%d", name, got, lo, hi)
		}
	}

	fg := window("foreground")
	// 360 beats + 30 confirms (HELLO up, WELCOME down, the session's first beat up, in one
	// burst); a loaded machine (make test runs packages in parallel, with -race) may skip a
	// grid point now and then (a timer more than a compressed interval late: the schedule
	// never bursts to catch up), and a confirm may fall within a second of a beat (one wake-up
	// for both). The upper bounds are the schedule's: no extra sends.
	inRange("foreground datagrams up", fg.up, 360, 430)
	inRange("foreground WELCOMEs", fg.down, 27, 32)
	inRange("foreground wake-ups", fg.wakeups, 320, 395)

	if err := s.setBackgroundPolicy(policyKeep, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.setActive(false); err != nil {
		t.Fatal(err)
	}
	keep := window("background, HL_BG_KEEP")
	inRange("HL_BG_KEEP datagrams up", keep.up, 360, 430)

	if err := s.setActive(true); err != nil {
		t.Fatal(err)
	}
	if err := s.setBackgroundPolicy(policyByeAfter, defaultLinger/budgetScale); err != nil {
		t.Fatal(err)
	}
	if err := s.setActive(false); err != nil {
		t.Fatal(err)
	}
	bye := window("background, HL_BG_BYE_AFTER (30 s linger)")
	if s.currentState() != statePaused {
		t.Fatalf("state %s after an hour in the background, want paused", stateName(s.currentState()))
	}
	// The linger (3 beats, perhaps a confirm), the BYE; then silence.
	inRange("HL_BG_BYE_AFTER datagrams up", bye.up, 2, 8)
	if n := g.count(hl1.TypeBye); n != 1 {
		t.Errorf("%d BYEs, want 1", n)
	}
}
