package consulwriter

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
	"go.uber.org/zap"

	"heartline/agent/internal/metrics"
	"heartline/agent/shared/clock"
)

// SessionOptions describe the gateway's Consul session.
type SessionOptions struct {
	Name string        // "heartline-agent/<gateway-id>"; sessions of this name on this node are ours
	TTL  time.Duration // default 15s; renewed every TTL/3
	// ServiceCheckID ties the session to the gateway's health check (empty: only serfHealth).
	ServiceCheckID string
	Clock          clock.Clock
	Log            *zap.Logger
	Metrics        *metrics.Agent
	// OnNew runs after every new session, with the new session's generation (1 for the first).
	OnNew func(gen uint64)
}

// Session keeps one Consul session alive for the gateway.
type Session struct {
	c *api.Client
	o SessionOptions

	mu    sync.Mutex
	id    string
	gen   uint64
	epoch uint64
	// retired are sessions of ours we replaced and could not destroy yet. After a Consul
	// outage, a leader that has not replayed its log can answer "no such session" while the
	// session comes back afterwards (TTL timer reset) still holding every lock we need.
	retired []string

	invalid chan string
	backoff clock.Backoff

	node     string // this agent's Consul node, learnt at create
	failOnce sync.Once
	failed   chan struct{}
	failErr  error
}

// NewSession returns a manager; call Create, then Run.
func NewSession(c *api.Client, o SessionOptions) *Session {
	if o.TTL == 0 {
		o.TTL = 15 * time.Second
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New(nil)
	}
	return &Session{c: c, o: o, invalid: make(chan string, 1), failed: make(chan struct{}), backoff: clock.Backoff{Min: 100 * time.Millisecond, Max: o.TTL / 3}}
}

// Current returns the session id (empty when there is none), its generation, and the
// change-record epoch that goes with it.
func (s *Session) Current() (id string, gen, epoch uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id, s.gen, s.epoch
}

// Invalid reports that Consul rejected id (a lock failed with "invalid session"); the
// renew loop then creates a new session at once.
func (s *Session) Invalid(id string) {
	select {
	case s.invalid <- id:
	default:
	}
}

// Create destroys stale sessions of the same name on this node (a previous run of this
// agent that crashed: its keys would block our locks until its TTL ran out) and creates a
// new session, retrying with backoff until ctx ends. The session's checks must pass, so
// this waits for the gateway to be healthy. When a live agent on another node holds the
// gateway id (owner.go) it gives up at once with an ErrGatewayIDHeld error and closes Failed.
func (s *Session) Create(ctx context.Context) error {
	for {
		err := s.create(ctx)
		if err == nil {
			s.backoff.Reset()
			return nil
		}
		if errors.Is(err, ErrGatewayIDHeld) {
			s.fail(err)
			return err
		}
		wait := s.backoff.Next()
		s.o.Log.Warn("cannot create Consul session yet; retrying", zap.Error(err), zap.Duration("in", wait))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.o.Clock.After(wait):
		}
	}
}

func (s *Session) create(ctx context.Context) error {
	node, err := s.c.Agent().NodeName()
	if err != nil {
		return fmt.Errorf("asking the local Consul agent for its node name: %w", err)
	}
	s.mu.Lock()
	s.node = node
	s.mu.Unlock()
	// Consistent: a leader that has not caught up yet refuses instead of listing too little.
	old, _, err := s.c.Session().Node(node, &api.QueryOptions{RequireConsistent: true})
	if err != nil {
		return fmt.Errorf("listing sessions of node %s: %w", node, err)
	}
	s.mu.Lock()
	cur := s.id
	s.mu.Unlock()
	for _, se := range old {
		if se.Name == s.o.Name && se.ID != cur {
			if _, err := s.c.Session().Destroy(se.ID, nil); err == nil {
				s.o.Log.Info("destroyed a stale session of this gateway", zap.String("session", se.ID))
			}
		}
	}
	if err := s.destroyRetired(); err != nil {
		return err
	}
	if se, err := s.holderElsewhere(ctx, node); err != nil {
		return err
	} else if se != nil {
		return s.heldBy(se)
	}
	entry := &api.SessionEntry{
		Name:       s.o.Name,
		Node:       node,
		Behavior:   api.SessionBehaviorDelete,
		TTL:        s.o.TTL.String(),
		LockDelay:  time.Millisecond, // keys are per gateway: nobody else waits for them
		NodeChecks: []string{"serfHealth"},
	}
	if s.o.ServiceCheckID != "" {
		entry.ServiceChecks = []api.ServiceCheck{{ID: s.o.ServiceCheckID}}
	}
	id, _, err := s.c.Session().Create(entry, nil)
	if err != nil {
		return fmt.Errorf("creating session %s (checks serfHealth, %q must pass): %w", s.o.Name, s.o.ServiceCheckID, err)
	}
	if err := s.yieldIfYounger(ctx, node, id); err != nil {
		if !errors.Is(err, ErrGatewayIDHeld) {
			s.retire(id) // we could not tell: destroy it and try again
		}
		return err
	}
	s.mu.Lock()
	s.id = id
	s.gen++
	s.epoch = rand.Uint64()
	gen := s.gen
	s.mu.Unlock()
	s.o.Metrics.SessionsCreated.Inc()
	s.o.Log.Info("Consul session created", zap.String("session", id), zap.Uint64("generation", gen), zap.Duration("ttl", s.o.TTL))
	if s.o.OnNew != nil {
		s.o.OnNew(gen)
	}
	return nil
}

// Run renews the session every TTL/3 until ctx ends, and replaces it when Consul says it
// is gone (renew finds no session, or a writer reported it invalid).
func (s *Session) Run(ctx context.Context) {
	interval := s.o.TTL / 3
	for {
		select {
		case <-ctx.Done():
			return
		case bad := <-s.invalid:
			id, _, _ := s.Current()
			if bad != id {
				continue
			}
			s.o.Log.Warn("Consul session invalidated; creating a new one and rewriting all presence", zap.String("session", id))
			s.replace(id)
			if s.Create(ctx) != nil {
				return
			}
		case <-s.o.Clock.After(interval):
			id, _, _ := s.Current()
			entry, _, err := s.c.Session().Renew(id, (&api.WriteOptions{}).WithContext(ctx))
			switch {
			case err != nil:
				s.o.Metrics.SessionRenewFails.Inc()
				s.o.Log.Warn("session renew failed; will retry", zap.String("session", id), zap.Error(err))
			case entry == nil:
				s.o.Metrics.SessionRenewFails.Inc()
				// Confirm with a consistent read: right after a leader election (a Consul
				// outage) the leader may not have replayed its log yet and answers the renew
				// with "not found" for a session that then comes back holding our locks.
				e, _, err := s.c.Session().Info(id, (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx))
				if err != nil || e != nil {
					s.o.Log.Warn("renew says the session is gone but Consul cannot confirm it (leader catching up?); will retry",
						zap.String("session", id), zap.Bool("listed", e != nil), zap.Error(err))
					continue
				}
				s.o.Log.Warn("Consul session expired or was invalidated; creating a new one and rewriting all presence", zap.String("session", id))
				s.replace(id)
				if s.Create(ctx) != nil {
					return
				}
			}
		}
	}
}

// replace forgets the current session id and remembers it as retired: Create destroys it
// (Consul may still hold it even though it said otherwise).
func (s *Session) replace(id string) {
	s.mu.Lock()
	s.id = ""
	s.mu.Unlock()
	s.retire(id)
}

// retire remembers a session of ours for destroyRetired.
func (s *Session) retire(id string) {
	if id == "" {
		return
	}
	s.mu.Lock()
	s.retired = append(s.retired, id)
	s.mu.Unlock()
}

// destroyRetired destroys the sessions we replaced; Consul deletes the keys they still
// hold (Behavior=delete), which frees them for the current session's rewrite.
func (s *Session) destroyRetired() error {
	s.mu.Lock()
	retired := append([]string(nil), s.retired...)
	s.mu.Unlock()
	var failed []string
	var last error
	for _, id := range retired {
		if _, err := s.c.Session().Destroy(id, nil); err != nil {
			failed, last = append(failed, id), err
			continue
		}
		s.o.Log.Info("destroyed our previous session", zap.String("session", id))
	}
	s.mu.Lock()
	s.retired = failed
	s.mu.Unlock()
	if last != nil {
		return fmt.Errorf("destroying our previous session(s) %v (they would block our locks): %w", failed, last)
	}
	return nil
}

// ReleaseHeld handles a lock on one of our keys failing with "lock is already held": the
// holder is normally an earlier session of this gateway on this node (a replaced one, or a
// previous run's that the node listing missed). It destroys our retired sessions and the
// key's holder if that session carries our name and lives on our node, and reports whether
// the lock may be retried at once. A holder with another name, or with our name on another
// node (another agent runs with our gateway id: an operator error), is never destroyed:
// it is reported, and when it is older than our session we are the intruder, so Failed is
// closed and the agent stops.
func (s *Session) ReleaseHeld(ctx context.Context, key string) (bool, error) {
	if err := s.destroyRetired(); err != nil {
		return false, err
	}
	p, _, err := s.c.KV().Get(key, (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx))
	if err != nil {
		return false, fmt.Errorf("reading the holder of %s: %w", key, err)
	}
	cur, _, _ := s.Current()
	if p == nil || p.Session == "" || p.Session == cur {
		return true, nil // released meanwhile (or by destroying the retired sessions)
	}
	e, _, err := s.c.Session().Info(p.Session, (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx))
	if err != nil {
		return false, fmt.Errorf("reading session %s that holds %s: %w", p.Session, key, err)
	}
	if e == nil {
		return true, nil
	}
	if e.Name != s.o.Name {
		return false, fmt.Errorf("%s is held by session %s named %q, not ours (%q): is another agent running with this gateway id?", key, p.Session, e.Name, s.o.Name)
	}
	s.mu.Lock()
	node := s.node
	s.mu.Unlock()
	if e.Node != node {
		held := fmt.Errorf("%s is locked by another agent's session: %w", key, s.heldBy(e))
		mine, _, err := s.c.Session().Info(cur, (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx))
		if err == nil && (mine == nil || e.CreateIndex < mine.CreateIndex) {
			s.fail(held) // the other agent was there first
		}
		return false, held
	}
	if _, err := s.c.Session().Destroy(p.Session, nil); err != nil {
		return false, fmt.Errorf("destroying our earlier session %s that holds %s: %w", p.Session, key, err)
	}
	s.o.Log.Info("destroyed an earlier session of this gateway that held our key", zap.String("session", p.Session), zap.String("key", key))
	return true, nil
}

func (s *Session) clear() {
	s.mu.Lock()
	s.id = ""
	s.mu.Unlock()
}

// Destroy ends the session; Consul deletes every key it holds (Behavior=delete), so the
// gateway's presence disappears at once.
func (s *Session) Destroy() error {
	id, _, _ := s.Current()
	if id == "" {
		return nil
	}
	s.clear()
	if _, err := s.c.Session().Destroy(id, nil); err != nil {
		return fmt.Errorf("destroying session %s: %w", id, err)
	}
	return nil
}
