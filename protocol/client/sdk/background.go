package main

import "time"

// The app-background policy. HL1 has no way to ask a gateway for a longer interval: a
// session that beats slower than its WELCOME's interval_ms is expired after interval × 3 +
// 2 s. So in the background an app either keeps beating at the full rate (the same radio
// cost as the foreground: ~390 wake-ups an hour, APPS.md "Mobile budget") or stops. The SDK
// stops: after the app has been in the background for the linger time (default 30 s, about
// what iOS grants a backgrounded app anyway, and enough for a quick switch to the camera and
// back without an offline blip) it sends BYE, so the member shows offline with an exact last
// seen at once instead of after the ~37 s expiry, and the radio stays idle until the app
// comes back and says HELLO. HL_BG_KEEP keeps beating (status away) for apps that really
// run in the background (a call in progress); the OS may still suspend them.
const (
	policyKeep     = 0 // HL_BG_KEEP: keep heartbeating with status away while the OS lets the app run
	policyByeAfter = 1 // HL_BG_BYE_AFTER: BYE after the linger time in the background; HELLO on foreground

	defaultLinger = 30 * time.Second
	maxLinger     = 24 * time.Hour
)

// setBackgroundPolicy applies from the next switch to the background.
func (s *session) setBackgroundPolicy(policy int32, linger time.Duration) error {
	if policy != policyKeep && policy != policyByeAfter {
		return errorf(codeInvalidArgument, "heartline: background policy %d: use HL_BG_KEEP (0) or HL_BG_BYE_AFTER (1)", policy)
	}
	if linger < 0 || linger > maxLinger {
		return errorf(codeInvalidArgument, "heartline: linger %v: use 0..24h (0: BYE as soon as the app is in the background)", linger)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateLoggedOut {
		return errLoggedOut
	}
	s.policy, s.linger = policy, linger
	return nil
}

// setActive reports foreground (true) or background at once (one HEARTBEAT with the new
// status bit) and applies the background policy: a paused handle says HELLO again when the
// app comes back; a handle going to the background with HL_BG_BYE_AFTER pauses after the
// linger time.
func (s *session) setActive(active bool) error {
	s.op.Lock()
	defer s.op.Unlock()
	s.mu.Lock()
	if s.state == stateLoggedOut {
		s.mu.Unlock()
		return errLoggedOut
	}
	if s.active == active {
		s.mu.Unlock()
		return nil
	}
	s.active = active
	s.stopBackgroundTimerLocked()
	s.bgGen++
	gen, st, policy, linger := s.bgGen, s.state, s.policy, s.linger
	s.mu.Unlock()

	err := s.c.SetActive(active)
	if st != stateOnline {
		err = nil // not connected: the status goes with the next HELLO
	}
	if active {
		if st == statePaused {
			return s.startLocked()
		}
		return err
	}
	if policy != policyByeAfter || (st != stateOnline && st != stateConnecting) {
		return err
	}
	if linger == 0 {
		s.pauseLocked()
		return nil
	}
	s.mu.Lock()
	s.bgTimer = time.AfterFunc(linger, func() { s.pause(gen) })
	s.mu.Unlock()
	return err
}

// pause runs when the linger timer fires, unless the app came back (gen moved on).
func (s *session) pause(gen uint64) {
	s.op.Lock()
	defer s.op.Unlock()
	s.mu.Lock()
	current := gen == s.bgGen && !s.active && s.done != nil
	s.mu.Unlock()
	if current {
		s.pauseLocked()
	}
}

// pauseLocked sends BYE and goes quiet. Call with s.op held.
func (s *session) pauseLocked() {
	s.stopRunLocked()
	if s.c.Session().Interval != 0 {
		_ = s.c.Bye() // on error the session ends by absence
	}
	s.c.Close() //nolint:errcheck
	s.setState(statePaused)
}

func (s *session) cancelBackground() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopBackgroundTimerLocked()
	s.bgGen++
}

func (s *session) stopBackgroundTimerLocked() {
	if s.bgTimer != nil {
		s.bgTimer.Stop()
		s.bgTimer = nil
	}
}
