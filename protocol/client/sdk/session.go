package main

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"heartline/protocol/client"
	"heartline/protocol/hl1"
)

// Handle states (HL_STATE_* in api.go).
const (
	stateIdle       = 0 // created, or stopped: no session, no traffic
	stateConnecting = 1 // HELLO in progress (retrying with backoff until a gateway welcomes)
	stateOnline     = 2 // welcomed: heartbeating (protocol/client re-HELLOs by itself when needed)
	statePaused     = 3 // the background policy sent BYE; HELLO again when back in the foreground
	stateLoggedOut  = 4 // BYE sent by hl_logout: the handle only answers hl_get_status and hl_destroy
)

// tuning is what tests change; apps get the defaults.
type tuning struct {
	confirmEvery time.Duration // protocol/client's Options.ConfirmEvery (0: its default, 2 min)
	maxBackoff   time.Duration // cap of the jittered backoff between failed connects
}

// defaultMaxBackoff: APPS.md recommends a cap of about a minute on mobile.
const defaultMaxBackoff = time.Minute

// session is one handle: a protocol/client.Client plus the lifecycle the C API exposes.
type session struct {
	id        int64
	user      uint64
	transport int
	c         *client.Client
	events    eventQueue
	notify    atomic.Pointer[func()] // set while a callback is registered (dispatch.go)
	tune      tuning

	op sync.Mutex // serialises start, stop, pause, logout and destroy

	mu      sync.Mutex
	state   int32
	active  bool
	policy  int32
	linger  time.Duration
	bgGen   uint64      // invalidates a pending background timer
	bgTimer *time.Timer // the background policy's linger
	cancel  context.CancelFunc
	done    chan struct{} // closed when the running connect/Run goroutine has returned
}

func newSession(cred client.Credentials, gateways []string, transport int, tune tuning) (*session, error) {
	if tune.maxBackoff <= 0 {
		tune.maxBackoff = defaultMaxBackoff
	}
	s := &session{transport: transport, tune: tune, active: true, policy: policyByeAfter, linger: defaultLinger}
	network := "udp"
	if transport == transportTCP {
		network = "tcp"
	}
	c, err := client.New(cred, client.Options{Gateways: gateways, Network: network, Active: true,
		ConfirmEvery: tune.confirmEvery, OnEvent: func(e hl1.Event) { s.emit(presenceEvent(e)) }})
	if err != nil {
		return nil, errorf(codeInvalidArgument, "heartline: %v", err)
	}
	s.c, s.user = c, c.UserID()
	return s, nil
}

// emit queues e and wakes the event thread if a callback is registered.
func (s *session) emit(e event) {
	s.events.push(e)
	if n := s.notify.Load(); n != nil {
		(*n)()
	}
}

func (s *session) setState(st int32) {
	s.mu.Lock()
	changed := s.state != st
	s.state = st
	s.mu.Unlock()
	if changed {
		s.emit(event{kind: kindState, state: st, userID: s.user})
	}
}

func (s *session) currentState() int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// start says HELLO in the background and heartbeats from then on.
func (s *session) start() error {
	s.op.Lock()
	defer s.op.Unlock()
	return s.startLocked()
}

func (s *session) startLocked() error {
	s.mu.Lock()
	if s.state == stateLoggedOut {
		s.mu.Unlock()
		return errLoggedOut
	}
	if s.done != nil {
		s.mu.Unlock()
		return errorf(codeState, "heartline: already started (hl_stop first to start again)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.cancel, s.done = cancel, done
	s.mu.Unlock()
	s.setState(stateConnecting)
	go s.run(ctx, done)
	return nil
}

// run connects, retrying every gateway with jittered exponential backoff (a fleet of apps
// that lost the network together must not come back in lockstep), then runs the client.
func (s *session) run(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	backoff := 100 * time.Millisecond
	for s.c.Connect(ctx) != nil {
		wait := backoff/2 + time.Duration(rand.Int64N(int64(backoff/2)+1))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		backoff = min(2*backoff, s.tune.maxBackoff)
	}
	s.setState(stateOnline)
	_ = s.c.Run(ctx) // returns when ctx ends; reconnects by itself meanwhile
}

// stopRunLocked ends the connect/Run goroutine and waits for it. Call with s.op held.
func (s *session) stopRunLocked() {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.cancel, s.done = nil, nil
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// stop ends the heartbeats without BYE: the gateway expires the session by absence.
func (s *session) stop() error {
	s.op.Lock()
	defer s.op.Unlock()
	switch s.currentState() {
	case stateLoggedOut:
		return errLoggedOut
	case stateIdle:
		return errorf(codeState, "heartline: not started (nothing to stop)")
	}
	s.cancelBackground()
	s.stopRunLocked()
	s.c.Close() //nolint:errcheck // closing a socket we are done with
	s.setState(stateIdle)
	return nil
}

// logout sends BYE (also to a gateway moved away from within the last minute, as
// protocol/client does) and retires the handle. A network error sending BYE is returned,
// but the handle is logged out anyway: the session then ends by absence.
func (s *session) logout() error {
	s.op.Lock()
	defer s.op.Unlock()
	st := s.currentState()
	if st == stateLoggedOut {
		return errLoggedOut
	}
	s.cancelBackground()
	s.stopRunLocked()
	var err error
	if (st == stateOnline || st == stateConnecting) && s.c.Session().Interval != 0 {
		err = s.c.Bye()
	}
	s.c.Close() //nolint:errcheck
	s.setState(stateLoggedOut)
	return err
}

// destroy stops everything without BYE; the handle is already out of the table.
func (s *session) destroy() {
	s.notify.Store(nil)
	s.op.Lock()
	defer s.op.Unlock()
	s.cancelBackground()
	s.stopRunLocked()
	s.c.Close() //nolint:errcheck
}

// changeSubs subscribes or unsubscribes. Before the session is up the client keeps them
// and sends them after its WELCOME, so that is not an error.
func (s *session) changeSubs(ids []uint64, unsub bool) error {
	if s.transport != transportTCP {
		return errNeedsTCP
	}
	if s.currentState() == stateLoggedOut {
		return errLoggedOut
	}
	var err error
	if unsub {
		err = s.c.Unsubscribe(ids)
	} else {
		err = s.c.Subscribe(ids)
	}
	if err != nil && s.currentState() != stateOnline {
		return nil
	}
	return err
}

// grant hands the gateway the site's presence grant (kept and re-sent like subscriptions).
func (s *session) grant(sealed []byte) error {
	if s.transport != transportTCP {
		return errNeedsTCP
	}
	if s.currentState() == stateLoggedOut {
		return errLoggedOut
	}
	if err := s.c.Grant(sealed); err != nil && s.currentState() == stateOnline {
		return err
	}
	return nil
}

// statusInfo is hl_get_status's answer.
type statusInfo struct {
	state, transport, policy int32
	active                   bool
	user                     uint64
	slot, epoch              uint32
	intervalMS, lingerMS     int64
	gateway                  string
	queued                   int
	dropped                  uint64
}

func (s *session) status() statusInfo {
	sess := s.c.Session()
	s.mu.Lock()
	st := statusInfo{state: s.state, transport: int32(s.transport), policy: s.policy, active: s.active, user: s.user,
		lingerMS: s.linger.Milliseconds()}
	s.mu.Unlock()
	if st.state == stateOnline {
		st.slot, st.epoch, st.intervalMS, st.gateway = sess.Slot, sess.Epoch, sess.Interval.Milliseconds(), sess.Gateway
	}
	st.queued, st.dropped = s.events.counts()
	return st
}
