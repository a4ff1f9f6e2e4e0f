package model

import (
	"testing"
)

// TestAgentWritesPresenceWhileMergingLastSeen: members move back and forth between two
// gateways and log out and in, so both agents' writer lanes commit presence and change
// records while their last-seen merges (members with no session left there, CAS on the
// same last-seen keys from both agents) run beside them. Every round must show exactly
// who is online. Run with -race (as make test does), it also checks that the two share no
// unsynchronised state: at e4125b8 they shared the lane's presencekv.Codec (its scratch
// buffers), which the model found at its first seed (fixed in 5a9575c).
func TestAgentWritesPresenceWhileMergingLastSeen(t *testing.T) {
	const apps = 16
	all := make([]int, apps)
	for i := range all {
		all[i] = i
	}
	w := newSmallWorldOn(t, "lastseen-race", 2, apps, all...)
	for round := 0; round < 8; round++ {
		g := round % 2
		for i, a := range w.apps {
			a.loggedIn = true
			if a.state != stOnline || a.gw != g {
				a.state = stIdle
				w.hello(i, g)
			}
		}
		w.c.advance(interval, w.tickApps)
		w.failOnViolation("moves")
		w.settled("everyone online")
		for i, a := range w.apps {
			if (round+i)%3 == 0 {
				w.beat(i, true)
				a.state, a.loggedIn, a.lastBeatAccepted = stIdle, false, false
			}
		}
		w.c.advance(shownFor+2*wheelSlack, w.tickApps) // the sessions left behind expire
		w.failOnViolation("logouts and expiry")
		w.settled("one in three logged out, the others on one gateway")
	}
}
