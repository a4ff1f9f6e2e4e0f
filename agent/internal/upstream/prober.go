package upstream

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/consul/api"
	"go.uber.org/zap"

	"heartline/agent/internal/metrics"
	"heartline/agent/shared/clock"
)

// Options configure a Prober. Zero fields take the defaults.
type Options struct {
	// Probe makes one round trip to the Consul servers (LeaderProbe in production).
	Probe func(ctx context.Context) error
	// Every is the time between probes (default 1 s).
	Every time.Duration
	// Timeout bounds one probe (default Every): a partition drops packets, so a probe
	// through it hangs rather than fails.
	Timeout time.Duration
	// FailAfter is how many failed probes in a row make the host cut off (default 3): one
	// failure is a hiccup (a leader election answers "no leader" for a second or two).
	FailAfter int
	// OnChange is called from Run's goroutine with every change (true: cut off).
	OnChange func(cutOff bool)
	Clock    clock.Clock
	Log      *zap.Logger
	Metrics  *metrics.Agent
}

// Prober probes the Consul servers. Create with New, run with Run.
type Prober struct {
	o      Options
	fails  int
	cutOff bool
}

// New checks the options and returns a Prober.
func New(o Options) (*Prober, error) {
	if o.Probe == nil {
		return nil, errors.New("upstream: Options.Probe is required (use LeaderProbe(client))")
	}
	if o.Every <= 0 {
		o.Every = time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = o.Every
	}
	if o.FailAfter <= 0 {
		o.FailAfter = 3
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
	return &Prober{o: o}, nil
}

// Run probes every Every until ctx ends.
func (p *Prober) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.o.Clock.After(p.o.Every):
		}
		pctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
		err := p.o.Probe(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		p.observe(err)
	}
}

// observe counts one probe's result and reports a change.
func (p *Prober) observe(err error) {
	if err == nil {
		p.fails = 0
		if p.cutOff {
			p.set(false)
			p.o.Log.Info("Consul servers reachable again; the gateway takes new sessions")
		}
		return
	}
	p.fails++
	p.o.Metrics.ConsulProbeFails.Inc()
	if !p.cutOff && p.fails >= p.o.FailAfter {
		p.set(true)
		p.o.Log.Warn("Consul servers unreachable; the gateway refuses new sessions (REHELLO 5) until they are back",
			zap.Int("failed_probes", p.fails), zap.Error(err))
	}
}

func (p *Prober) set(cutOff bool) {
	p.cutOff = cutOff
	if cutOff {
		p.o.Metrics.ConsulCutOff.Set(1)
	} else {
		p.o.Metrics.ConsulCutOff.Set(0)
	}
	if p.o.OnChange != nil {
		p.o.OnChange(cutOff)
	}
}

// errNoLeader: the servers answered but have no leader (an election, or lost quorum).
var errNoLeader = errors.New("the Consul servers have no leader")

// LeaderProbe asks the servers for their leader through c (the local Consul agent). It
// fails when the local agent cannot reach a server, or the servers have no leader.
func LeaderProbe(c *api.Client) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		leader, err := c.Status().LeaderWithQueryOptions((&api.QueryOptions{}).WithContext(ctx))
		if err != nil {
			return err
		}
		if leader == "" {
			return errNoLeader
		}
		return nil
	}
}
