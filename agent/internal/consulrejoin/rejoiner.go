package consulrejoin

import (
	"context"
	"sort"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"heartline/agent/shared/clock"
)

// Rejoiner polls the local Consul agent's members and joins failed servers. Create it with
// New and run it with Run; Round does one pass (tests, or a caller that wants to nudge).
type Rejoiner struct {
	opts  Options
	addrs []string

	// Touched only by the goroutine running rounds.
	failedSince map[string]time.Time // member name -> first round that saw it failed
	backoff     map[string]*retryState
	lastWarn    time.Time
	suppressed  int // failures not warned about since lastWarn

	joinsOK, joinsFailed atomic.Uint64
}

type retryState struct {
	b       clock.Backoff
	next    time.Time // no attempt before this
	lastTry time.Time
}

// Stats are the rejoiner's counters since New.
type Stats struct {
	JoinsOK, JoinsFailed uint64
}

// New checks the options and returns a Rejoiner.
func New(opts Options) (*Rejoiner, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	r := &Rejoiner{opts: opts, failedSince: map[string]time.Time{}, backoff: map[string]*retryState{}}
	for _, a := range opts.Addrs {
		r.addrs = append(r.addrs, normalizeAddr(a))
	}
	return r, nil
}

// Stats returns the join counters; safe from any goroutine.
func (r *Rejoiner) Stats() Stats {
	return Stats{JoinsOK: r.joinsOK.Load(), JoinsFailed: r.joinsFailed.Load()}
}

// Run does a round every Every (every FastEvery while degraded) until ctx ends.
func (r *Rejoiner) Run(ctx context.Context) {
	for {
		wait := r.opts.Every
		if r.Round() {
			wait = r.opts.FastEvery
		}
		select {
		case <-ctx.Done():
			return
		case <-r.opts.Clock.After(wait):
		}
	}
}

// Round reads the members once and joins failed servers: at most MaxJoins, skipping those
// still in backoff, and stopping at the first failing join (during a partition every join
// fails, and each may block for the client's timeout). It reports whether the local agent
// looks degraded (members unreadable, a server failed, or none alive), so Run polls faster.
func (r *Rejoiner) Round() (degraded bool) {
	now := r.opts.Clock.Now()
	members, err := r.opts.Agent.Members(false)
	if err != nil {
		r.warn(now, "cannot read the local Consul agent's members (GET /v1/agent/members); is the local agent up?", err)
		return true
	}
	v := plan(members, r.addrs)
	r.track(now, v)
	if v.alive == 0 && len(v.targets) == 0 {
		r.warn(now, "no Consul server in the local agent's member list: the token may lack node:read, "+
			"or the agent forgot its servers (set -consul-rejoin-addrs)", nil)
		return true
	}
	// Least recently tried first, so a failing server does not starve the others.
	sort.SliceStable(v.targets, func(i, j int) bool {
		return r.lastTry(v.targets[i].addr).Before(r.lastTry(v.targets[j].addr))
	})
	joins := 0
	for _, tg := range v.targets {
		if joins >= r.opts.MaxJoins {
			break
		}
		st := r.backoff[tg.addr]
		if st != nil && now.Before(st.next) {
			continue
		}
		joins++
		start := r.opts.Clock.Now()
		if err := r.opts.Agent.Join(tg.addr, false); err != nil {
			r.joinsFailed.Add(1)
			if m := r.opts.Metrics; m != nil {
				m.ConsulRejoins.WithLabelValues("failed").Inc()
			}
			if st == nil {
				st = &retryState{b: clock.Backoff{Min: r.opts.FastEvery, Max: r.opts.BackoffMax}}
				r.backoff[tg.addr] = st
			}
			after := r.opts.Clock.Now()
			st.next, st.lastTry = after.Add(st.b.Next()), after
			r.warn(after, "the local Consul agent could not join a Consul server; retrying with backoff", err,
				zap.String("member", tg.name), zap.String("addr", tg.addr))
			break
		}
		r.joinsOK.Add(1)
		if m := r.opts.Metrics; m != nil {
			m.ConsulRejoins.WithLabelValues("ok").Inc()
		}
		delete(r.backoff, tg.addr)
		fields := []zap.Field{zap.String("member", tg.name), zap.String("addr", tg.addr),
			zap.Duration("join_took", r.opts.Clock.Now().Sub(start))}
		if since, ok := r.failedSince[tg.name]; ok && tg.name != "" {
			fields = append(fields, zap.Duration("failed_for_at_least", now.Sub(since)))
		}
		if tg.name == "" {
			fields = append(fields, zap.String("source", "-consul-rejoin-addrs"))
		}
		r.opts.Log.Info("local Consul agent rejoined a Consul server it had marked failed", fields...)
	}
	return v.degraded()
}

func (r *Rejoiner) lastTry(addr string) time.Time {
	if st := r.backoff[addr]; st != nil {
		return st.lastTry
	}
	return time.Time{}
}

// track remembers since when each server has been failed, and forgets the backoff of
// addresses that are no longer targets; both maps stay bounded by the servers listed.
func (r *Rejoiner) track(now time.Time, v view) {
	still := make(map[string]time.Time, len(v.failed))
	for _, f := range v.failed {
		if since, ok := r.failedSince[f.name]; ok {
			still[f.name] = since
		} else {
			still[f.name] = now
		}
	}
	r.failedSince = still
	want := make(map[string]bool, len(v.targets))
	for _, tg := range v.targets {
		want[tg.addr] = true
	}
	for a := range r.backoff {
		if !want[a] {
			delete(r.backoff, a)
		}
	}
}

// warn logs at most once per WarnEvery, saying how many problems were not logged.
func (r *Rejoiner) warn(now time.Time, msg string, err error, fields ...zap.Field) {
	if !r.lastWarn.IsZero() && now.Sub(r.lastWarn) < r.opts.WarnEvery {
		r.suppressed++
		return
	}
	if err != nil {
		fields = append(fields, zap.Error(err))
	}
	if r.suppressed > 0 {
		fields = append(fields, zap.Int("similar_since_last_warning", r.suppressed))
	}
	r.opts.Log.Warn(msg, fields...)
	r.lastWarn, r.suppressed = now, 0
}
