package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/consul/api"

	"heartline/protocol/token"
	"heartline/scripts/chaos/bed"
	"heartline/scripts/chaos/driver"
	"heartline/scripts/chaos/invariant"
)

type config struct {
	dir, consulBin, gatewayBin, agentBin, report string
	sessions, sources, attackSources, runs       int
	churn                                        float64
	sample                                       time.Duration
	only                                         string
	attackFor, confirmEvery                      time.Duration
	keep                                         bool
	bedOpts                                      bed.Options
}

func main() {
	var c config
	flag.StringVar(&c.dir, "dir", "", "work directory for configs, data and logs (default: a new temp dir)")
	flag.StringVar(&c.consulBin, "consul", "", "Consul binary (scripts/install-consul.sh prints it)")
	flag.StringVar(&c.gatewayBin, "gateway", "", "built gateway binary")
	flag.StringVar(&c.agentBin, "agent", "", "built agent binary")
	flag.StringVar(&c.report, "report", "scripts/chaos/REPORT.md", "where to write the markdown report")
	flag.IntVar(&c.sessions, "sessions", 50000, "simulated app sessions")
	flag.IntVar(&c.sources, "sources", 64, "source addresses of the legit driver")
	flag.IntVar(&c.attackSources, "attack-sources", 200, "source addresses of the attacker")
	flag.Float64Var(&c.churn, "churn", 0.001, "fraction of sessions that die (half silent, half BYE) and come back each second")
	flag.DurationVar(&c.sample, "sample", time.Second, "invariant check period")
	flag.StringVar(&c.only, "only", "", "comma-separated scenario names to run (default all)")
	flag.DurationVar(&c.confirmEvery, "confirm-every", 2*time.Minute, "apps move back to a preferred gateway that is passing again at their next confirm instant, this often (the reference client's ConfirmEvery); negative: at once")
	flag.DurationVar(&c.attackFor, "attack-for", 20*time.Second, "length of each hostile-input window")
	flag.BoolVar(&c.keep, "keep", false, "leave the bed running at the end (debugging)")
	flag.IntVar(&c.runs, "runs", 1, "run the whole set this many times in a row, each on a fresh bed; the report details the last run and tabulates every run (one clean run proves little)")
	flag.DurationVar(&c.bedOpts.Interval, "interval", 5*time.Second, "heartbeat interval")
	flag.DurationVar(&c.bedOpts.SessionTTL, "session-ttl", 10*time.Second, "agents' Consul session TTL")
	flag.DurationVar(&c.bedOpts.CheckInterval, "check-interval", 2*time.Second, "agents' gateway check interval")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "chaos: needs root (network namespaces); run `sudo make chaos`")
		os.Exit(2)
	}
	if c.consulBin == "" || c.gatewayBin == "" || c.agentBin == "" {
		fmt.Fprintln(os.Stderr, "chaos: -consul, -gateway and -agent are required (scripts/chaos.sh sets them)")
		os.Exit(2)
	}
	if c.dir == "" {
		d, err := os.MkdirTemp("", "heartline-chaos-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		c.dir = d
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var rep *Report
	var err error
	var earlier []*Report
	base := c.dir
	for i := 1; i <= max(1, c.runs) && ctx.Err() == nil; i++ {
		if c.runs > 1 {
			c.dir = filepath.Join(base, fmt.Sprintf("run%d", i))
			if err := os.MkdirAll(c.dir, 0o755); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			logf("run %d of %d (work directory %s)", i, c.runs, c.dir)
			if rep != nil {
				earlier = append(earlier, rep)
			}
		}
		rep, err = runAll(ctx, c)
		if rep != nil {
			rep.Dir = c.dir
			fmt.Print(rep.Summary())
		}
		if err != nil {
			break
		}
	}
	if rep != nil {
		rep.Earlier = earlier
		if werr := os.WriteFile(c.report, []byte(rep.Markdown()), 0o644); werr != nil {
			fmt.Fprintln(os.Stderr, "chaos: write report:", werr)
		} else {
			fmt.Println("chaos: report written to", c.report)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
	if rep != nil && rep.TotalViolations() > 0 {
		os.Exit(3)
	}
	for _, e := range earlier {
		if e.TotalViolations() > 0 {
			os.Exit(3)
		}
	}
}

func logf(format string, args ...any) {
	fmt.Printf("%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}

// run is the state shared by the scenarios.
type run struct {
	cfg       config
	lastTrace time.Time // sampleLoop only
	bed       *bed.Bed
	keys      *token.KeyRing
	drv       *driver.Driver
	chk       *invariant.Checker
	bounds    invariant.Bounds
	rng       *mrand.Rand

	attackIPs []string
	attack    *attackResult
	paused    atomic.Bool // checks paused (the flood window: the checker's CPU goes to the attacker)

	mu      sync.Mutex
	samples []invariant.Result

	evidenceN     int
	evidenceUsers map[uint64]bool
	evidenceLines []string
}

func writeKeyFile(path string) (*token.KeyRing, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte("1 "+hex.EncodeToString(secret)+" current\n"), 0o600); err != nil {
		return nil, err
	}
	return token.LoadKeyRing(path)
}

func runAll(ctx context.Context, c config) (*Report, error) {
	started := time.Now()
	rep := &Report{Started: started, Config: c}
	keyFile := filepath.Join(c.dir, "keys.txt")
	keys, err := writeKeyFile(keyFile)
	if err != nil {
		return rep, err
	}
	o := c.bedOpts
	o.Dir, o.ConsulBin, o.GatewayBin, o.AgentBin, o.SecretFile = c.dir, c.consulBin, c.gatewayBin, c.agentBin, keyFile
	b := bed.New(o)
	rep.Bed = b.Opts
	r := &run{cfg: c, bed: b, keys: keys, rng: mrand.New(mrand.NewPCG(7, 11))}
	o = b.Opts
	silent := time.Duration(o.Misses)*o.Interval + o.Grace + o.Debounce
	r.bounds = invariant.Bounds{Birth: 8 * time.Second, Silent: silent + 8*time.Second, Bye: 5 * time.Second}
	rep.Bounds = r.bounds
	logf("bed: starting 3 Consul servers, 2 gateway hosts in namespaces (logs in %s)", c.dir)
	if !c.keep {
		defer func() {
			b.Stop()
			// Consul's data directories are most of the run's disk (~0.5 GB); logs stay.
			for _, h := range b.Hosts() {
				_ = os.RemoveAll(filepath.Join(c.dir, h.Name, "data"))
			}
		}()
	}
	if err := b.Start(ctx); err != nil {
		return rep, fmt.Errorf("bed: %w", err)
	}
	rep.BedUp = time.Since(started)
	srcs, err := bed.AddSourceAddrs(1, c.sources)
	if err != nil {
		return rep, err
	}
	if r.attackIPs, err = bed.AddSourceAddrs(2, c.attackSources); err != nil {
		return rep, err
	}
	var gws []netip.AddrPort
	var ids []string
	for i := range b.GWHosts {
		gws = append(gws, netip.MustParseAddrPort(b.GatewayUDPAddr(i)))
		ids = append(ids, bed.GatewayID(i))
	}
	r.drv, err = driver.New(driver.Options{Sessions: c.sessions, Keys: keys, Sources: srcs, Gateways: gws, GatewayIDs: ids, ConfirmEvery: c.confirmEvery})
	if err != nil {
		return rep, err
	}
	// The watcher follows Consul through gateway host 1's local Consul client agent, as an
	// agent or site beside it would.
	watchClient := func() *api.Client {
		cfg := api.DefaultConfig()
		cfg.Address = fmt.Sprintf("%s:%d", b.GWHosts[0].IP, bed.ConsulHTTP)
		cl, _ := api.NewClient(cfg)
		return cl
	}()
	r.chk, err = invariant.New(ctx, func() *api.Client { return watchClient }, bed.KVPrefix)
	if err != nil {
		return rep, err
	}
	// KV reads for the checker go to whichever server answers.
	r.chk = r.chk.WithKVClient(b.AnyClient)

	dctx, dcancel := context.WithCancel(ctx)
	defer dcancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer dcancel()
	wg.Add(4)
	go func() { defer wg.Done(); r.drv.Run(dctx, 10*time.Second) }()
	go func() { defer wg.Done(); r.pollCatalog(dctx) }()
	go func() { defer wg.Done(); r.sampleLoop(dctx) }()
	go func() { defer wg.Done(); r.churnLoop(dctx) }()

	logf("driver: %d sessions from %d source addresses, staggered over 10s", c.sessions, c.sources)
	up := time.Now()
	if err := r.waitClean(ctx, 120*time.Second); err != nil {
		return rep, fmt.Errorf("bring-up: %w", err)
	}
	rep.BringUp = time.Since(up)
	logf("bring-up: all sessions shown online in KV and watcher after %v", rep.BringUp.Round(time.Second))

	for _, s := range append(scenarios(r), r.hostileScenario()) {
		if c.only != "" && !contains(strings.Split(c.only, ","), s.Name) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		logf("scenario %s: %s (bound: %s)", s.Name, s.Fault, s.Expect)
		res := r.runScenario(ctx, s)
		logf("scenario %s: violations=%d recovery=%s %s", s.Name, res.Violations, res.recoverySummary(), strings.Join(res.Notes, "; "))
		rep.Scenarios = append(rep.Scenarios, res)
	}
	rep.Attack = r.attack
	cache, events, seen, samples := r.chk.Regressions()
	rep.CacheRegressions, rep.EventRegressions, rep.EventsSeen, rep.RegressionSamples = cache, events, seen, samples
	rep.WatcherStats = fmt.Sprintf("%+v", r.chk.Watcher().Stats())
	rep.DriverStats = r.driverStats()
	r.mu.Lock()
	rep.Evidence = append([]string(nil), r.evidenceLines...)
	r.mu.Unlock()
	rep.Elapsed = time.Since(started)
	return rep, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.TrimSpace(x) == s {
			return true
		}
	}
	return false
}

func (r *run) driverStats() string {
	s := &r.drv.Stats
	return fmt.Sprintf("heartbeats sent gw1=%d gw2=%d, HELLOs %d, WELCOMEs %d, REHELLOs %d, BYEs %d, gateway moves %d, late WELCOMEs declined with BYE %d, send errors %d",
		s.HeartbeatsSent[0].Load(), s.HeartbeatsSent[1].Load(), s.HellosSent.Load(), s.Welcomes.Load(), s.Rehellos.Load(),
		s.ByesSent.Load(), s.Moves.Load(), s.Declined.Load(), s.SendErrors.Load())
}

// pollCatalog hands the driver the passing gateways every second, like the site hands them to apps.
func (r *run) pollCatalog(ctx context.Context) {
	for {
		c := r.bed.AnyClient()
		if ids, err := r.bed.LiveGateways(c); err == nil {
			r.drv.SetLive(ids)
		}
		if ids, err := r.bed.HealthyGateways(c); err == nil {
			r.drv.SetHealthy(ids)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (r *run) sampleLoop(ctx context.Context) {
	for {
		if r.paused.Load() {
			sleep(ctx, 100*time.Millisecond)
			if ctx.Err() != nil {
				return
			}
			continue
		}
		res := r.chk.Check(r.drv.Snapshot, r.bounds)
		if !res.Clean() || res.Took > 2*time.Second {
			logf("  check: KV{%v err=%v} watcher{%v} expected=%d shown kv=%d w=%d took %v (kv %v) %v %v", res.KV, res.KVErr, res.Watcher,
				res.Expected, res.ShownKV, res.ShownW, res.Took.Round(time.Millisecond), res.KVTook.Round(time.Millisecond), res.KV.Samples, res.Watcher.Samples)
		}
		for _, w := range res.WatcherOnly {
			r.evidence(w)
		}
		r.traceSamples(res)
		r.mu.Lock()
		r.samples = append(r.samples, res)
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(r.cfg.sample):
		}
	}
}

// churnLoop kills (silently or with BYE) and revives sessions continuously, so every
// scenario also checks deaths and births that happen during the fault.
func (r *run) churnLoop(ctx context.Context) {
	rng := mrand.New(mrand.NewPCG(3, 5))
	n := int(float64(r.cfg.sessions) * r.cfg.churn / 2)
	if n < 1 && r.cfg.churn > 0 {
		n = 1
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		r.drv.Churn(driver.KillSilent, n, 0, rng)
		r.drv.Churn(driver.Bye, n, 0, rng)
		r.drv.Churn(driver.Revive, 2*n, 0, rng)
	}
}

func (r *run) samplesBetween(from, to time.Time) []invariant.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []invariant.Result
	for _, s := range r.samples {
		if !s.At.Before(from) && !s.At.After(to) {
			out = append(out, s)
		}
	}
	return out
}

func (r *run) lastSample() (invariant.Result, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.samples) == 0 {
		return invariant.Result{}, false
	}
	return r.samples[len(r.samples)-1], true
}

// waitClean waits for a sample, taken after now, in which both views match the truth.
func (r *run) waitClean(ctx context.Context, timeout time.Duration) error {
	from := time.Now()
	deadline := from.Add(timeout)
	var last invariant.Result
	for time.Now().Before(deadline) {
		if s, ok := r.lastSample(); ok && s.At.After(from) {
			last = s
			if s.Clean() && s.Expected > 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return fmt.Errorf("not clean within %v: last check KV %v (err %v) watcher %v, expected %d, shown kv=%d watcher=%d; samples %v %v",
		timeout, last.KV, last.KVErr, last.Watcher, last.Expected, last.ShownKV, last.ShownW, last.KV.Samples, last.Watcher.Samples)
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// evidence logs, for a session the chaos watcher got wrong while KV was right, what the two
// agents' own watchers (their /v1/presence API) and a consistent KV read say, so a finding
// can tell a watcher-library fault from a checker fault.
func (r *run) evidence(w invariant.Wrong) {
	r.mu.Lock()
	if r.evidenceN >= 16 || r.evidenceUsers[w.User] {
		r.mu.Unlock()
		return
	}
	if r.evidenceUsers == nil {
		r.evidenceUsers = map[uint64]bool{}
	}
	r.evidenceUsers[w.User] = true
	r.evidenceN++
	r.mu.Unlock()
	what := "lost"
	if w.Ghost {
		what = "ghost"
	}
	line := fmt.Sprintf("watcher-only %s %d/%d: chaos watcher %+v", what, w.User, w.Device, w.Presence)
	for i, h := range r.bed.GWHosts {
		for _, q := range []string{"", "?consistent=1"} {
			resp, err := scrapeClient.Get(fmt.Sprintf("http://%s:%d/v1/presence/%d%s", h.IP, bed.AgentHTTP, w.User, q))
			if err != nil {
				line += fmt.Sprintf(" | agent-g%d%s: %v", i+1, q, err)
				continue
			}
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
			resp.Body.Close()
			line += fmt.Sprintf(" | agent-g%d%s: %s", i+1, q, strings.TrimSpace(string(b)))
		}
	}
	logf("  evidence: %s", line)
	r.mu.Lock()
	r.evidenceLines = append(r.evidenceLines, time.Now().UTC().Format("15:04:05")+" "+line)
	r.mu.Unlock()
}

// traceSamples logs the driver's recent events for the first mismatched sessions of a
// check outside the bring-up, at most three every 5 s.
func (r *run) traceSamples(res invariant.Result) {
	if res.Clean() || time.Since(r.lastTrace) < 5*time.Second {
		return
	}
	r.lastTrace = time.Now()
	n := 0
	for _, smp := range append(append([]string(nil), res.KV.Samples...), res.Watcher.Samples...) {
		var kind string
		var user uint64
		var device uint32
		if _, err := fmt.Sscanf(smp, "%s %d/%d", &kind, &user, &device); err != nil {
			continue
		}
		logf("  trace %s %d/%d: %s", kind, user, device, r.drv.Trace(user, device))
		if n++; n == 3 {
			return
		}
	}
}
