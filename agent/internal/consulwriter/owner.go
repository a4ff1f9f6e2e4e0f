package consulwriter

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/consul/api"
)

// Who owns a gateway id. A session named "heartline-agent/<gateway-id>" on this agent's own
// Consul node is ours (this run's, or an earlier run's on this host: a crashed agent that
// restarts destroys it and takes over at once). A live session of that name on another
// node belongs to another agent started with the same -gateway-id: it is never destroyed
// from here (that would delete the other agent's presence keys), and the younger of the two
// agents stops.

// ErrGatewayIDHeld says that a live agent on another Consul node holds this agent's gateway
// id. Retrying cannot fix it: the agent exits with this error.
var ErrGatewayIDHeld = errors.New("gateway id held by another agent")

// heldError is ErrGatewayIDHeld with who holds the id and what the operator should do.
type heldError struct {
	name, node, session string
	createIndex         uint64
}

func (e *heldError) Error() string {
	return fmt.Sprintf("%s: session %s named %q on Consul node %q (created at index %d) is alive: another agent runs with this -gateway-id. "+
		"Stop that agent, or give this one its own -gateway-id. If node %q is gone, Consul ends that session within 2 x its TTL "+
		"(or at once: consul session destroy %s); then start this agent again",
		ErrGatewayIDHeld, e.session, e.name, e.node, e.createIndex, e.node, e.session)
}

func (e *heldError) Unwrap() error { return ErrGatewayIDHeld }

// holderElsewhere returns the oldest live session named like ours on a node other than
// node (nil when there is none). It reads consistently, so a leader that has not caught up
// cannot hide one.
func (s *Session) holderElsewhere(ctx context.Context, node string) (*api.SessionEntry, error) {
	all, _, err := s.c.Session().List((&api.QueryOptions{RequireConsistent: true}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("listing Consul sessions (to check that no other agent holds %q): %w", s.o.Name, err)
	}
	var oldest *api.SessionEntry
	for _, se := range all {
		if se.Name == s.o.Name && se.Node != node && (oldest == nil || se.CreateIndex < oldest.CreateIndex) {
			oldest = se
		}
	}
	return oldest, nil
}

func (s *Session) heldBy(se *api.SessionEntry) error {
	return &heldError{name: s.o.Name, node: se.Node, session: se.ID, createIndex: se.CreateIndex}
}

// CheckNotHeldElsewhere returns an ErrGatewayIDHeld error when a live agent on another
// Consul node holds this gateway id, nil when none does, or the error that kept it from
// asking. The agent calls it before registering the gateway's service.
func (s *Session) CheckNotHeldElsewhere(ctx context.Context) error {
	node, err := s.c.Agent().NodeName()
	if err != nil {
		return fmt.Errorf("asking the local Consul agent for its node name: %w", err)
	}
	se, err := s.holderElsewhere(ctx, node)
	if err != nil {
		return err
	}
	if se != nil {
		return s.heldBy(se)
	}
	return nil
}

// yieldIfYounger runs right after our session id was created: when another node holds a
// session of our name created before ours (two agents started at once, both found the id
// free), ours is the younger, so it is destroyed and the id left to the other agent. The
// younger session always sees the older one here: the older was committed first.
func (s *Session) yieldIfYounger(ctx context.Context, node, id string) error {
	se, err := s.holderElsewhere(ctx, node)
	if err != nil {
		return err
	}
	if se == nil {
		return nil
	}
	mine, _, err := s.c.Session().Info(id, (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx))
	if err != nil {
		return fmt.Errorf("reading our new session %s: %w", id, err)
	}
	if mine != nil && mine.CreateIndex < se.CreateIndex {
		return nil // we are the older one: the other agent yields
	}
	if _, err := s.c.Session().Destroy(id, nil); err != nil {
		s.retire(id) // destroyed later; it holds no key yet
	}
	return s.heldBy(se)
}

// fail records a fatal error (first one wins) and closes Failed.
func (s *Session) fail(err error) {
	s.failOnce.Do(func() {
		s.failErr = err
		close(s.failed)
	})
}

// Failed is closed when the session manager gave up for good (another agent holds the
// gateway id); Err then says why. The agent exits.
func (s *Session) Failed() <-chan struct{} { return s.failed }

// Err is the reason Failed was closed (nil before).
func (s *Session) Err() error {
	select {
	case <-s.failed:
		return s.failErr
	default:
		return nil
	}
}
