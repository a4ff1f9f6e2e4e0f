package main

import (
	"context"
	"fmt"
	"heartline/protocol/presencekv"
	"syscall"
	"time"

	"heartline/scripts/chaos/bed"
	"heartline/scripts/chaos/driver"
	"heartline/scripts/chaos/invariant"
)

const mp = "heartline_gateway_"

// scenario is one fault with its bounds written down before it runs.
type scenario struct {
	Name   string
	Fault  string // what is done
	Expect string // the bound, in words
	// Run injects the fault (and its repair), marking each event with the bound within which
	// mismatches are excused; it returns measured facts for the report.
	Run func(ctx context.Context, s *scenarioRun) error
	// Settle is how long to keep checking after Run returns (every check must be clean).
	Settle time.Duration
}

// event is one moment of a scenario (a kill, a restart) and its recovery bound.
type event struct {
	Name     string
	At       time.Time
	Bound    time.Duration
	Recovery time.Duration // measured: until the first clean check after the last dirty one
	Dirty    bool          // some check inside the bound was not clean
}

type scenarioRun struct {
	r      *run
	events []*event
	notes  []string
}

func (s *scenarioRun) mark(name string, bound time.Duration) *event {
	e := &event{Name: name, At: time.Now(), Bound: bound}
	s.events = append(s.events, e)
	logf("  event %s (bound %v)", name, bound)
	return e
}

func (s *scenarioRun) note(format string, args ...any) {
	n := fmt.Sprintf(format, args...)
	s.notes = append(s.notes, n)
	logf("  %s", n)
}

// scenarioResult is what the report shows for one scenario.
type scenarioResult struct {
	Name, Fault, Expect string
	Start, End          time.Time
	Events              []*event
	Checks, Clean       int
	SessionChecks       int // sessions judged, summed over checks and both views
	Violations          int
	ViolationSamples    []string
	Notes               []string
	Err                 error
}

func (res *scenarioResult) recoverySummary() string {
	out := ""
	for _, e := range res.Events {
		out += fmt.Sprintf("[%s: %s] ", e.Name, dur(e.Recovery))
	}
	return out
}

func (r *run) runScenario(ctx context.Context, sc scenario) *scenarioResult {
	// A fresh watcher per scenario: a watcher fault is reported where it happens and does not
	// spill into the next scenario.
	if err := r.chk.ResetWatcher(ctx); err != nil {
		return &scenarioResult{Name: sc.Name, Fault: sc.Fault, Expect: sc.Expect, Start: time.Now(), End: time.Now(), Err: err}
	}
	res := &scenarioResult{Name: sc.Name, Fault: sc.Fault, Expect: sc.Expect, Start: time.Now()}
	s := &scenarioRun{r: r}
	var load agentLoad
	lctx, stopLoad := context.WithCancel(ctx)
	loadDone := make(chan struct{})
	go func() { defer close(loadDone); load.sampleAgents(lctx, r.bed) }()
	res.Err = sc.Run(ctx, s)
	if res.Err != nil {
		logf("  error: %v", res.Err)
	}
	sleep(ctx, sc.Settle)
	// Damage that outlives the settle time belongs to this scenario: keep checking (and
	// counting) until a clean check, so the next scenario starts from a clean state.
	if err := r.waitClean(ctx, 120*time.Second); err != nil {
		s.note("VIOLATION: still not clean 120 s after the scenario: %v", err)
	}
	res.End = time.Now()
	stopLoad()
	<-loadDone
	s.note("writers: %s", load.String())
	res.Events, res.Notes = s.events, s.notes
	samples := r.samplesBetween(res.Start, res.End)
	excused := func(t time.Time) bool {
		for _, e := range s.events {
			if !t.Before(e.At) && t.Before(e.At.Add(e.Bound)) {
				return true
			}
		}
		return false
	}
	for _, smp := range samples {
		res.Checks++
		res.SessionChecks += 2 * smp.Expected
		if smp.Clean() {
			res.Clean++
			continue
		}
		// A check that began just before a fault and read after it straddles the fault's
		// start: its reads are of the faulted system (a KV read the killed leader refused).
		if excused(smp.At) || excused(smp.At.Add(smp.Took)) {
			continue
		}
		n := smp.KV.Lost + smp.KV.Ghost + smp.Watcher.Lost + smp.Watcher.Ghost
		if smp.KVErr != nil {
			n++
		}
		res.Violations += n
		if len(res.ViolationSamples) < 8 {
			res.ViolationSamples = append(res.ViolationSamples, fmt.Sprintf("%s KV{%v err=%v %v} watcher{%v %v}",
				smp.At.Format("15:04:05"), smp.KV, smp.KVErr, smp.KV.Samples, smp.Watcher, smp.Watcher.Samples))
		}
	}
	// Recovery per event: from the event to the first clean check after the last dirty check
	// that precedes the next event (or the end).
	for k, e := range s.events {
		until := res.End
		if k+1 < len(s.events) {
			until = s.events[k+1].At
		}
		var lastDirty time.Time
		var win []invariant.Result
		for _, smp := range samples {
			if smp.At.Before(e.At) || !smp.At.Before(until) {
				continue
			}
			win = append(win, smp)
			if !smp.Clean() {
				lastDirty = smp.At
				if smp.At.Before(e.At.Add(e.Bound)) {
					e.Dirty = true
				}
			}
		}
		if lastDirty.IsZero() {
			continue
		}
		for _, smp := range win {
			if smp.At.After(lastDirty) && smp.Clean() {
				e.Recovery = smp.At.Sub(e.At)
				break
			}
		}
		if e.Recovery == 0 {
			e.Recovery = -1 // never clean again in the window
		}
	}
	return res
}

// scenarios lists the fault scenarios in the order they run.
func scenarios(r *run) []scenario {
	o := r.bed.Opts
	ttl2 := 2*o.SessionTTL + o.CheckInterval
	// A partitioned host cannot renew its session, and serf may or may not notice first, so
	// Consul's own guarantee is the bound: the last renewal was at most TTL/3 before the cut
	// (the agent renews every TTL/3) and Consul invalidates a session not renewed within
	// 2 x TTL (its TTL multiplier); plus 1 s for the Raft apply of the invalidation and the
	// 250 ms key poll that measures it.
	partitionKeys := o.SessionTTL/3 + 2*o.SessionTTL + time.Second
	return []scenario{
		{
			Name:   "steady",
			Fault:  "no fault: churn only (sessions die silently, log out with BYE and come back)",
			Expect: fmt.Sprintf("every check clean: silent deaths offline within %v, BYEs within %v, births online within %v", r.bounds.Silent, r.bounds.Bye, r.bounds.Birth),
			Run:    func(ctx context.Context, s *scenarioRun) error { sleep(ctx, 20*time.Second); return nil },
		},
		{
			Name:  "gateway-kill9",
			Fault: "kill -9 gateway gw1 (its agent and host stay up); restart it 25 s later",
			Expect: fmt.Sprintf("gw1's presence keys gone within 2xTTL + check interval = %v; its sessions online again (via gw2) within 15 s; after restart, rebalanced sessions clean within 15 s",
				ttl2),
			Run:    func(ctx context.Context, s *scenarioRun) error { return r.gatewayKill(ctx, s, 0, ttl2) },
			Settle: 10 * time.Second,
		},
		{
			Name:   "agent-kill9",
			Fault:  "kill -9 gw1's agent; restart it 5 s later",
			Expect: "gateway keeps accepting heartbeats while its agent is down; restarted agent gets a snapshot and rewrites state; clean within 15 s of the restart. What changes while the agent is down (BYEs, births) can only reach Consul once it is back, so the 5 s it is down are excused too",
			Run:    r.agentKill,
			Settle: 10 * time.Second,
		},
		{
			Name:   "leader-kill9",
			Fault:  "kill -9 the Consul leader while churn goes on; restart it 15 s later",
			Expect: "new leader elected; agents retry; clean within 15 s of the kill and within 10 s of the restart",
			Run:    r.leaderKill,
			Settle: 10 * time.Second,
		},
		{
			Name:   "consul-outage-30s",
			Fault:  "kill -9 all three Consul servers; start them again after 30 s (churn goes on during the outage)",
			Expect: "gateways keep serving; agents keep dirty buckets and retry; clean within 30 s after the servers are back; nothing stale overwrites newer state",
			Run:    r.consulOutage,
			Settle: 10 * time.Second,
		},
		{
			Name:  "partition-gw2",
			Fault: "partition gateway host g2 from every Consul node (servers and g1) for 40 s; apps can still reach it",
			Expect: fmt.Sprintf("g2's Consul session invalidated (serf failure, or at the latest Consul's TTL: TTL/3 since the last renewal + 2xTTL + 1 s = %v) and its keys gone within that; the catalog marks gw2 critical, apps move to gw1 and are online within %v of the partition; after healing, clean within 20 s",
				partitionKeys, partitionKeys+5*time.Second),
			Run:    func(ctx context.Context, s *scenarioRun) error { return r.partition(ctx, s, 1, partitionKeys) },
			Settle: 10 * time.Second,
		},
		{
			Name:  "rolling-sigterm",
			Fault: "SIGTERM gw1 (it drains: REHELLO 4 to its apps at 2000/s, then stops once no session is left), restart it, wait until passing, then the same for gw2",
			Expect: fmt.Sprintf("nobody flickers: every check clean throughout (no excuse window), so 0 members shown offline at any check; the other gateway refuses no HELLO while one drains (rate_limited 0); each drain ends by itself within the -drain-timeout (%v); total drain time reported",
				bed.DrainTimeout),
			Run:    r.rolling,
			Settle: 10 * time.Second,
		},
		{
			Name:  "fast-restart",
			Fault: "kill -9 gw1 (after the rolling restart it holds nearly every app) and start it again at once, before its check notices: its apps keep heartbeating slots of the previous run, some of which the new run hands to other members",
			Expect: fmt.Sprintf("every app of the killed gateway is told to HELLO again (REHELLO 1: an unknown slot, or a live slot whose MAC fails) and is online again within interval + birth bound + TTL/3 = %v of the restart (the agent may have to replace its Consul session first), plus the time the gateway's REHELLO budget takes to answer every stale app once (apps / (2 loops x 20000/s)); nobody stays lost",
				fastRestartBound(o, r.bounds, 0)),
			Run:    r.fastRestart,
			Settle: 10 * time.Second,
		},
		{
			Name:   "client-clock-jumps",
			Fault:  "1% of sessions jump their heartbeat clock +120 s, 1% -30 s; 0.5% re-HELLO after their wall clock stepped back 90 s (HELLO clock kept monotonic, as PROTOCOL.md requires); 0.2% abandon their session and HELLO with a clock 1 h ahead",
			Expect: fmt.Sprintf("jumps within the 327 s reconstruction window keep sessions online (no lost-online); HELLOs outside max-clock-skew are refused and counted (clock_skew), and those sessions are offline within %v", r.bounds.Silent),
			Run:    r.clockJumps,
			Settle: r.bounds.Silent + 5*time.Second,
		},
	}
}

// waitFor polls cond every 250 ms and returns the time it took, or -1 on timeout.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) time.Duration {
	start := time.Now()
	for time.Since(start) < timeout && ctx.Err() == nil {
		if cond() {
			return time.Since(start)
		}
		sleep(ctx, 250*time.Millisecond)
	}
	return -1
}

func (r *run) gatewayKill(ctx context.Context, s *scenarioRun, g int, ttl2 time.Duration) error {
	gp := r.bed.Gateways[g]
	_, byGW := r.drv.Online()
	s.note("before: %d sessions established on %s", byGW[g], bed.GatewayID(g))
	if err := gp.Kill9(); err != nil {
		return err
	}
	killed := time.Now()
	s.mark("kill -9 "+bed.GatewayID(g), 15*time.Second)
	gone := waitFor(ctx, ttl2+10*time.Second, func() bool { n, err := r.keysOf(g); return err == nil && n == 0 })
	s.note("%s presence keys gone after %v (bound %v)", bed.GatewayID(g), gone.Round(100*time.Millisecond), ttl2)
	if gone < 0 || gone > ttl2 {
		s.note("VIOLATION: keys of the killed gateway outlived the bound")
		s.events[len(s.events)-1].Dirty = true
	}
	moved := waitFor(ctx, 20*time.Second, func() bool { _, by := r.drv.Online(); return by[g] == 0 })
	if moved >= 0 {
		moved = time.Since(killed)
	}
	s.note("driver: every live session re-HELLOed away from %s %v after the kill", bed.GatewayID(g), moved.Round(100*time.Millisecond))
	if rest := 25*time.Second - time.Since(killed); rest > 0 {
		sleep(ctx, rest)
	}
	if err := gp.Start(); err != nil {
		return err
	}
	s.mark("restart "+bed.GatewayID(g), 15*time.Second)
	return r.bed.WaitGatewaysHealthy(ctx, []int{0, 1}, 30*time.Second)
}

func (r *run) agentKill(ctx context.Context, s *scenarioRun) error {
	ap := r.bed.Agents[0]
	before, err := scrape(r.bed.MetricsURL(0))
	if err != nil {
		return err
	}
	if err := ap.Kill9(); err != nil {
		return err
	}
	s.mark("kill -9 agent-g1", 5*time.Second) // changes made meanwhile wait for the restart
	sleep(ctx, 5*time.Second)
	mid, err := scrape(r.bed.MetricsURL(0))
	if err != nil {
		return fmt.Errorf("gateway gw1 stopped answering /metrics while its agent was down: %w", err)
	}
	s.note("gw1 accepted %.0f heartbeats while its agent was down (must be > 0); %.0f feed records drained unsent",
		mid.get(mp+"heartbeats_total")-before.get(mp+"heartbeats_total"),
		mid.get(mp+"feed_records_unsent_total")-before.get(mp+"feed_records_unsent_total"))
	if mid.get(mp+"heartbeats_total") <= before.get(mp+"heartbeats_total") {
		s.note("VIOLATION: gateway stopped serving without its agent")
		s.events[0].Dirty = true
	}
	if err := ap.Start(); err != nil {
		return err
	}
	s.mark("restart agent-g1", 15*time.Second)
	snap := waitFor(ctx, 15*time.Second, func() bool {
		m, err := scrape(r.bed.MetricsURL(0))
		return err == nil && m.get(mp+"feed_snapshots_total") > before.get(mp+"feed_snapshots_total")
	})
	s.note("gw1 sent the restarted agent a snapshot after %v", snap.Round(100*time.Millisecond))
	return nil
}

func (r *run) leaderKill(ctx context.Context, s *scenarioRun) error {
	l := r.bed.Leader()
	if l < 0 {
		return fmt.Errorf("no leader before the fault")
	}
	// Marked first: a check that starts while the leader is being killed cannot read KV.
	s.mark(fmt.Sprintf("kill -9 leader s%d", l+1), 15*time.Second)
	if err := r.bed.Consul[l].Kill9(); err != nil {
		return err
	}
	el := waitFor(ctx, 30*time.Second, func() bool { n := r.bed.Leader(); return n >= 0 && n != l })
	s.note("new leader after %v", el.Round(100*time.Millisecond))
	sleep(ctx, 15*time.Second-el)
	if err := r.bed.Consul[l].Start(); err != nil {
		return err
	}
	s.mark(fmt.Sprintf("restart s%d", l+1), 10*time.Second)
	return nil
}

func (r *run) consulOutage(ctx context.Context, s *scenarioRun) error {
	// Marked first: a check that starts while the servers are being killed cannot read KV.
	s.mark("kill -9 all servers", 30*time.Second)
	for _, p := range r.bed.Consul {
		if err := p.Kill9(); err != nil {
			return err
		}
	}
	sleep(ctx, 30*time.Second)
	for _, p := range r.bed.Consul {
		if err := p.Start(); err != nil {
			return err
		}
	}
	s.mark("servers back", 30*time.Second)
	el := waitFor(ctx, 60*time.Second, func() bool { return r.bed.Leader() >= 0 })
	s.note("leader after %v", el.Round(100*time.Millisecond))
	return nil
}

func (r *run) partition(ctx context.Context, s *scenarioRun, g int, keysBound time.Duration) error {
	h := r.bed.GWHosts[g]
	peers := r.bed.ServerIPs()
	for i, o := range r.bed.GWHosts {
		if i != g {
			peers = append(peers, o.IP)
		}
	}
	refusedBefore := r.drv.Stats.Unavailable.Load()
	if err := bed.Partition(h, peers); err != nil {
		return err
	}
	cut := time.Now()
	s.mark("partition "+h.Name, keysBound+5*time.Second)
	gone := waitFor(ctx, 40*time.Second, func() bool { n, err := r.keysOf(g); return err == nil && n == 0 })
	s.note("%s presence keys gone after %v (bound %v)", bed.GatewayID(g), gone.Round(100*time.Millisecond), keysBound)
	if gone < 0 || gone > keysBound {
		s.note("VIOLATION: keys of the partitioned gateway outlived the bound")
		s.events[0].Dirty = true
	}
	if rest := 40*time.Second - time.Since(cut); rest > 0 {
		sleep(ctx, rest)
	}
	if err := bed.Heal(h, peers); err != nil {
		return err
	}
	s.note("HELLOs the cut-off %s refused with REHELLO 5 (its agent could not reach Consul): %d",
		bed.GatewayID(g), r.drv.Stats.Unavailable.Load()-refusedBefore)
	s.mark("heal "+h.Name, 20*time.Second)
	return r.bed.WaitGatewaysHealthy(ctx, []int{0, 1}, 40*time.Second)
}

// rolling restarts every gateway in turn with SIGTERM, as a deploy would. Its events have no
// excuse window (bound 0): a drain that works shows nobody offline at any check.
func (r *run) rolling(ctx context.Context, s *scenarioRun) error {
	var total time.Duration
	for g := range r.bed.Gateways {
		gp := r.bed.Gateways[g]
		_, byGW := r.drv.Online()
		refusedBefore := r.rateLimited(g)
		movesBefore := r.drv.Stats.DrainMoves.Load()
		s.mark("SIGTERM "+bed.GatewayID(g), 0)
		start := time.Now()
		if err := gp.Signal(syscall.SIGTERM, bed.DrainTimeout+15*time.Second); err != nil {
			s.note("VIOLATION: %s did not stop within its drain timeout + 15 s: %v", bed.GatewayID(g), err)
			_ = gp.Kill9()
		}
		took := time.Since(start)
		total += took
		refused := r.rateLimited(g) - refusedBefore
		s.note("%s: drained %d sessions and stopped in %v; apps moved by REHELLO 4: %d; HELLOs refused by rate limits meanwhile: %.0f",
			bed.GatewayID(g), byGW[g], took.Round(100*time.Millisecond), r.drv.Stats.DrainMoves.Load()-movesBefore, refused)
		if refused > 0 {
			s.note("VIOLATION: %.0f HELLOs refused by rate limits while %s drained", refused, bed.GatewayID(g))
		}
		if took >= bed.DrainTimeout {
			s.note("VIOLATION: %s's drain ran into its timeout (%v)", bed.GatewayID(g), bed.DrainTimeout)
		}
		if err := gp.Start(); err != nil {
			return err
		}
		s.mark("restart "+bed.GatewayID(g), 0)
		if err := r.bed.WaitGatewaysHealthy(ctx, []int{0, 1}, 30*time.Second); err != nil {
			return err
		}
		sleep(ctx, 8*time.Second)
	}
	s.note("total drain time of the rolling restart: %v", total.Round(100*time.Millisecond))
	return nil
}

// rateLimited is the HELLOs the gateways other than except have refused for rate so far.
func (r *run) rateLimited(except int) float64 {
	var n float64
	for g := range r.bed.Gateways {
		if g == except {
			continue
		}
		m, _ := scrape(r.bed.MetricsURL(g))
		n += m.get(mp + `frames_dropped_total{reason="rate_limited"}`)
	}
	return n
}

func (r *run) clockJumps(ctx context.Context, s *scenarioRun) error {
	before, _ := scrape(r.bed.MetricsURL(0))
	before2, _ := scrape(r.bed.MetricsURL(1))
	n := r.drv.Len()
	a := r.drv.Churn(driver.JumpTS, n/100, 12000, r.rng)
	b := r.drv.Churn(driver.JumpTS, n/100, -3000, r.rng)
	c := r.drv.Churn(driver.RehelloSkewed, n/200, -90_000, r.rng)
	d := r.drv.Churn(driver.BadClock, n/500, 3_600_000, r.rng)
	s.mark("clock jumps", 10*time.Second)
	s.note("sessions: %d ts +120 s, %d ts -30 s, %d re-HELLO 90 s behind, %d HELLO 1 h ahead", a, b, c, d)
	sleep(ctx, 20*time.Second)
	after, _ := scrape(r.bed.MetricsURL(0))
	after2, _ := scrape(r.bed.MetricsURL(1))
	drops := func(reason string) float64 {
		k := mp + `frames_dropped_total{reason="` + reason + `"}`
		return after.get(k) - before.get(k) + after2.get(k) - before2.get(k)
	}
	s.note("gateway drops during the window: clock_skew=%.0f hello_replay=%.0f bad_mac=%.0f replay=%.0f",
		drops("clock_skew"), drops("hello_replay"), drops("bad_mac"), drops("replay"))
	return nil
}

// fastRestartBound is how long after a gateway's immediate restart its apps may be shown
// offline: each app's next heartbeat (one interval) gets REHELLO, its new session is online
// within the birth bound, and the agent may first need a new Consul session (renewals run
// every TTL/3) if the check caught the gateway down.
func fastRestartBound(o bed.Options, b invariant.Bounds, apps int) time.Duration {
	const rehellosPerSecond = 2 * 20000 // the bed's gateways run 2 loops at the default budget
	return o.Interval + b.Birth + o.SessionTTL/3 + time.Duration(apps)*time.Second/rehellosPerSecond
}

// fastRestart is the persistent lost-online of issue 20: a gateway back before anyone
// noticed, so its apps keep their slots from the previous run.
func (r *run) fastRestart(ctx context.Context, s *scenarioRun) error {
	const g = 0
	gp := r.bed.Gateways[g]
	_, byGW := r.drv.Online()
	s.note("before: %d sessions established on %s", byGW[g], bed.GatewayID(g))
	if err := gp.Kill9(); err != nil {
		return err
	}
	if err := gp.Start(); err != nil {
		return err
	}
	bound := fastRestartBound(r.bed.Opts, r.bounds, byGW[g])
	s.mark("kill -9 and restart "+bed.GatewayID(g), bound)
	if err := r.bed.WaitGatewaysHealthy(ctx, []int{0, 1}, 30*time.Second); err != nil {
		return err
	}
	sleep(ctx, bound)
	m, err := scrape(r.bed.MetricsURL(g))
	if err == nil {
		s.note("%s after the restart: REHELLOs %.0f for stale slots (unknown_slot %.0f, bad_mac on a reissued slot %.0f), HELLOs answered %.0f",
			bed.GatewayID(g), m.get(mp+"rehellos_total"), m.get(mp+`frames_dropped_total{reason="unknown_slot"}`),
			m.get(mp+`frames_dropped_total{reason="bad_mac"}`), m.get(mp+"hellos_total"))
	}
	return nil
}

// keysOf counts gateway g's presence keys in Consul KV (a keys-only list: cheap enough to
// poll every 250 ms, unlike a full check, whose 1-3 s on this box would blur the measure).
func (r *run) keysOf(g int) (int, error) {
	keys, _, err := r.bed.AnyClient().KV().Keys(presencekv.PresencePrefix(bed.KVPrefix), "", nil)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		if _, gw, ok := presencekv.ParsePresenceKey(bed.KVPrefix, k); ok && gw == bed.GatewayID(g) {
			n++
		}
	}
	return n, nil
}
