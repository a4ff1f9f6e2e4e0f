package consulrejoin

import (
	"errors"
	"time"

	"go.uber.org/zap"

	"heartline/agent/internal/metrics"
	"heartline/agent/shared/clock"
)

// Defaults of Options.
const (
	DefaultEvery      = 5 * time.Second
	DefaultFastEvery  = 2 * time.Second
	DefaultBackoffMax = 8 * time.Second
	DefaultMaxJoins   = 3
	DefaultWarnEvery  = time.Minute
)

// Options configure a Rejoiner. Only Agent is required.
type Options struct {
	// Agent is the local Consul agent (see Agent for the ACL and timeout it needs).
	Agent Agent
	// Every is how often the members are read while every server is alive. Default 5s.
	Every time.Duration
	// FastEvery is how often they are read while a server is failed, none is alive, or the
	// members cannot be read. Default 2s (capped at Every).
	FastEvery time.Duration
	// Addrs are extra server serf LAN addresses ("host:port", default port 8301) joined when
	// no server in the member list is alive — for a local agent that has forgotten its
	// servers (restarted without its serf snapshot). Empty by default.
	Addrs []string
	// BackoffMax caps the jittered backoff of a server whose joins keep failing (each
	// failure doubles the ceiling, starting at FastEvery). Keep it small: after a partition
	// heals, the next attempt comes at most this long later. Default 8s.
	BackoffMax time.Duration
	// MaxJoins bounds the joins tried per round (a failing join also ends the round).
	// Default 3.
	MaxJoins int
	// WarnEvery rate-limits the warning logged while joins keep failing. Default 1m.
	WarnEvery time.Duration
	// Clock drives the polling and backoff. Default clock.Real{}.
	Clock clock.Clock
	// Log gets an info line per successful join and rate-limited warnings. Default: no logs.
	Log *zap.Logger
	// Metrics, when set, counts joins in heartline_agent_consul_rejoins_total{result}.
	Metrics *metrics.Agent
}

func (o *Options) setDefaults() error {
	if o.Agent == nil {
		return errors.New("consulrejoin: Options.Agent is nil: pass the local Consul agent (client.Agent())")
	}
	if o.Every <= 0 {
		o.Every = DefaultEvery
	}
	if o.FastEvery <= 0 {
		o.FastEvery = DefaultFastEvery
	}
	o.FastEvery = min(o.FastEvery, o.Every)
	if o.BackoffMax <= 0 {
		o.BackoffMax = DefaultBackoffMax
	}
	o.BackoffMax = max(o.BackoffMax, o.FastEvery)
	if o.MaxJoins <= 0 {
		o.MaxJoins = DefaultMaxJoins
	}
	if o.WarnEvery <= 0 {
		o.WarnEvery = DefaultWarnEvery
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	return nil
}
