package consulrejoin

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"heartline/agent/internal/metrics"
	"heartline/agent/shared/clock"
)

// fakeAgent is a local Consul agent: a member list and a join that succeeds or fails per
// address. A successful join marks the member alive, as serf would.
type fakeAgent struct {
	mu         sync.Mutex
	members    []*api.AgentMember
	membersErr error
	failJoin   map[string]bool
	joins      []string // addresses asked, in order
	reads      int
}

func (f *fakeAgent) Members(bool) ([]*api.AgentMember, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.membersErr != nil {
		return nil, f.membersErr
	}
	out := make([]*api.AgentMember, len(f.members))
	for i, m := range f.members {
		c := *m
		out[i] = &c
	}
	return out, nil
}

func (f *fakeAgent) Join(addr string, _ bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.joins = append(f.joins, addr)
	if f.failJoin[addr] {
		return errors.New("dial tcp " + addr + ": i/o timeout")
	}
	for _, m := range f.members {
		if m.Addr+":8301" == addr {
			m.Status = statusAlive
		}
	}
	return nil
}

func (f *fakeAgent) set(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

func (f *fakeAgent) joined() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.joins...)
}

func (f *fakeAgent) readCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

func member(name, ip, role string, status int) *api.AgentMember {
	return &api.AgentMember{Name: name, Addr: ip, Port: 8301, Tags: map[string]string{"role": role}, Status: status}
}

func newTest(t *testing.T, fa *fakeAgent, o Options) (*Rejoiner, *clock.Fake, *metrics.Agent) {
	t.Helper()
	fc := clock.NewFake(time.Unix(1000, 0))
	m := metrics.New(nil)
	o.Agent, o.Clock, o.Metrics = fa, fc, m
	r, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return r, fc, m
}

func TestJoinsOnlyFailedServers(t *testing.T) {
	fa := &fakeAgent{members: []*api.AgentMember{
		member("s1", "10.0.0.1", "consul", statusAlive),
		member("s2", "10.0.0.2", "consul", statusFailed),
		member("s3", "10.0.0.3", "consul", statusLeft),
		member("s4", "10.0.0.4", "consul", statusLeaving),
		member("g7", "10.0.1.7", "node", statusFailed), // a failed client agent is not ours to rejoin
	}}
	r, _, m := newTest(t, fa, Options{Addrs: []string{"10.0.0.9"}})
	if !r.Round() {
		t.Fatal("a failed server must make the round degraded (fast polling)")
	}
	if got := fa.joined(); len(got) != 1 || got[0] != "10.0.0.2:8301" {
		t.Fatalf("joined %v, want only the failed server s2 (configured addresses only when no server is alive)", got)
	}
	if ok := testutil.ToFloat64(m.ConsulRejoins.WithLabelValues("ok")); ok != 1 {
		t.Fatalf("rejoins{ok} = %v, want 1", ok)
	}
	if r.Round() {
		t.Fatal("all servers alive or left: the round must not be degraded")
	}
	if got := fa.joined(); len(got) != 1 {
		t.Fatalf("joined %v after recovery, want no further join", got)
	}
}

func TestConfiguredAddrsOnlyWhenNoServerAlive(t *testing.T) {
	fa := &fakeAgent{} // the local agent forgot every server
	r, _, _ := newTest(t, fa, Options{Addrs: []string{"10.0.0.1", "10.0.0.2:8311"}})
	if !r.Round() {
		t.Fatal("no server: degraded")
	}
	if got := fa.joined(); len(got) != 2 || got[0] != "10.0.0.1:8301" || got[1] != "10.0.0.2:8311" {
		t.Fatalf("joined %v, want both configured addresses (default port 8301 added)", got)
	}
	fa.set(func() { fa.members = []*api.AgentMember{member("s1", "10.0.0.1", "consul", statusAlive)} })
	r.Round()
	if got := fa.joined(); len(got) != 2 {
		t.Fatalf("joined %v with a server alive, want no more joins", got)
	}
}

func TestFailingJoinEndsRoundAndOthersAreTriedNext(t *testing.T) {
	fa := &fakeAgent{
		members: []*api.AgentMember{
			member("s1", "10.0.0.1", "consul", statusFailed),
			member("s2", "10.0.0.2", "consul", statusFailed),
			member("s3", "10.0.0.3", "consul", statusFailed),
		},
		failJoin: map[string]bool{"10.0.0.1:8301": true, "10.0.0.2:8301": true, "10.0.0.3:8301": true},
	}
	r, fc, m := newTest(t, fa, Options{})
	r.Round()
	if got := fa.joined(); len(got) != 1 {
		t.Fatalf("round 1 tried %v, want one join (a failure ends the round)", got)
	}
	fc.Advance(DefaultBackoffMax) // even with every backoff over, the least recently tried goes first
	r.Round()
	got := fa.joined()
	if len(got) != 2 || got[1] == got[0] {
		t.Fatalf("round 2 tried %v, want one join of another server (the first is backing off)", got)
	}
	if f := testutil.ToFloat64(m.ConsulRejoins.WithLabelValues("failed")); f != 2 {
		t.Fatalf("rejoins{failed} = %v, want 2", f)
	}
	fc.Advance(DefaultBackoffMax)
	r.Round()
	if got := fa.joined(); len(got) != 3 || got[2] == got[0] || got[2] == got[1] {
		t.Fatalf("round 3 tried %v, want the third server", got)
	}
}

// While joins keep failing (a partition), attempts back off with jitter but never wait more
// than BackoffMax + one polling period; once the server is reachable the next attempt
// succeeds within that bound and the backoff is forgotten.
func TestFailedJoinsBackOffButStayPrompt(t *testing.T) {
	fa := &fakeAgent{
		members:  []*api.AgentMember{member("s1", "10.0.0.1", "consul", statusFailed)},
		failJoin: map[string]bool{"10.0.0.1:8301": true},
	}
	r, fc, _ := newTest(t, fa, Options{})
	const step = 100 * time.Millisecond
	var attemptsAt []time.Duration
	elapsed := time.Duration(0)
	nextRound := time.Duration(0)
	for elapsed < 10*time.Minute {
		if elapsed >= nextRound {
			before := len(fa.joined())
			if !r.Round() {
				t.Fatal("failed server: degraded")
			}
			if len(fa.joined()) > before {
				attemptsAt = append(attemptsAt, elapsed)
			}
			nextRound = elapsed + DefaultFastEvery
		}
		fc.Advance(step)
		elapsed += step
	}
	rounds := int(10 * time.Minute / DefaultFastEvery)
	if len(attemptsAt) >= rounds*3/4 {
		t.Fatalf("%d join attempts in %d rounds: failing joins are not backing off", len(attemptsAt), rounds)
	}
	for i := 1; i < len(attemptsAt); i++ {
		if gap := attemptsAt[i] - attemptsAt[i-1]; gap > DefaultBackoffMax+DefaultFastEvery {
			t.Fatalf("attempts %s apart, want at most BackoffMax+FastEvery = %s", gap, DefaultBackoffMax+DefaultFastEvery)
		}
	}
	// Heal: the next attempt (within the bound) succeeds.
	fa.set(func() { fa.failJoin = nil })
	for i := 0; i*int(DefaultFastEvery) <= int(DefaultBackoffMax+DefaultFastEvery) && r.Stats().JoinsOK == 0; i++ {
		fc.Advance(DefaultFastEvery)
		r.Round()
	}
	if r.Stats().JoinsOK != 1 {
		t.Fatalf("no successful join within %s of the heal", DefaultBackoffMax+DefaultFastEvery)
	}
	if r.Round() {
		t.Fatal("server alive again: the round must not be degraded")
	}
	if len(r.backoff) != 0 || len(r.failedSince) != 0 {
		t.Fatalf("state not forgotten after recovery: backoff %v, failedSince %v", r.backoff, r.failedSince)
	}
}

func TestRunPollsFastOnlyWhileDegraded(t *testing.T) {
	fa := &fakeAgent{members: []*api.AgentMember{member("s1", "10.0.0.1", "consul", statusAlive)}}
	r, fc, _ := newTest(t, fa, Options{Every: 5 * time.Second, FastEvery: 2 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitRounds := func(n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for fa.readCount() < n || fc.Waiters() == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("Run did not reach round %d (reads %d)", n, fa.readCount())
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitRounds(1)
	// Healthy: the next read is at 5s, not 2s. Run waits only on the clock, so a timer that
	// did not fire means it has not moved.
	if n := fc.Advance(2 * time.Second); n != 0 {
		t.Fatalf("%d timers fired 2s into a healthy period, want 0 (next read at 5s)", n)
	}
	if fa.readCount() != 1 {
		t.Fatalf("%d reads 2s into a healthy period, want 1", fa.readCount())
	}
	fa.set(func() { fa.members[0].Status = statusFailed; fa.failJoin = map[string]bool{"10.0.0.1:8301": true} })
	fc.Advance(3 * time.Second)
	waitRounds(2)
	if len(fa.joined()) != 1 {
		t.Fatalf("joins %v after the server failed, want 1", fa.joined())
	}
	fc.Advance(2 * time.Second) // degraded: the next read comes after FastEvery
	waitRounds(3)
}

func TestMembersErrorIsDegradedAndWarningsAreRateLimited(t *testing.T) {
	fa := &fakeAgent{membersErr: errors.New("connection refused")}
	core, logs := observer.New(zapcore.InfoLevel)
	r, fc, m := newTest(t, fa, Options{Log: zap.New(core), WarnEvery: time.Minute})
	for i := 0; i < 150; i++ { // 5 minutes of rounds every 2s
		if !r.Round() {
			t.Fatal("unreadable members must be degraded")
		}
		fc.Advance(2 * time.Second)
	}
	if n := logs.FilterLevelExact(zapcore.WarnLevel).Len(); n < 4 || n > 6 {
		t.Fatalf("%d warnings over 5 minutes with WarnEvery 1m, want about 5", n)
	}
	if f := testutil.ToFloat64(m.ConsulRejoins.WithLabelValues("failed")); f != 0 {
		t.Fatalf("rejoins{failed} = %v: an unreadable member list is not a join", f)
	}
}

func TestSuccessfulJoinIsLoggedWithHowLongTheServerWasFailed(t *testing.T) {
	fa := &fakeAgent{
		members:  []*api.AgentMember{member("s1", "10.0.0.1", "consul", statusFailed)},
		failJoin: map[string]bool{"10.0.0.1:8301": true},
	}
	core, logs := observer.New(zapcore.InfoLevel)
	r, fc, _ := newTest(t, fa, Options{Log: zap.New(core)})
	r.Round()
	fa.set(func() { fa.failJoin = nil })
	fc.Advance(DefaultBackoffMax + time.Second)
	r.Round()
	infos := logs.FilterLevelExact(zapcore.InfoLevel).All()
	if len(infos) != 1 {
		t.Fatalf("%d info lines, want 1 for the join", len(infos))
	}
	f := infos[0].ContextMap()
	if f["member"] != "s1" || f["addr"] != "10.0.0.1:8301" || f["failed_for_at_least"] != DefaultBackoffMax+time.Second {
		t.Fatalf("join log fields %v", f)
	}
}

func TestNewRequiresAgent(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("New without an Agent must fail")
	}
}
