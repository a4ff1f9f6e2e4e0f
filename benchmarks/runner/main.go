package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type runner struct {
	bin       string
	out       string
	keys      string
	redisAddr string
	redisPID  int
	res       *Results
}

func main() {
	bin := flag.String("bin", "benchmarks/out/bin", "directory with loadgen and the servers (make bench builds it)")
	out := flag.String("out", "benchmarks/out", "directory for results.json, the key file and logs")
	reps := flag.Int("reps", 5, "repetitions of every case (interleaved)")
	groups := flag.String("groups", "drain,relay,ablation,cpu,rss,consul,stores", "case groups to run (consul: gateway + agent + Consul, needs -consul; stores: Consul vs etcd, needs -consul and etcd)")
	consulBin := flag.String("consul", "", "consul binary for the consul group (scripts/install-consul.sh prints it); empty skips the group")
	etcdBin := flag.String("etcd", "etcd", "etcd binary for the stores group (Debian package etcd-server)")
	only := flag.String("only", "", "comma-separated case names (default all of -groups)")
	rssSessions := flag.Int("rss-sessions", 1000000, "sessions for the RSS-per-session figure (0 skips)")
	rssInterval := flag.Duration("rss-interval", 60*time.Second, "heartbeat interval of the RSS run (longer so the loadgen fits on the box)")
	rssLoops := flag.Int("rss-loops", 1, "gateway ingest loops in the RSS run (each loop admits at most ~20k HELLOs/s)")
	rssWorkers := flag.Int("rss-workers", 2, "loadgen sockets in the RSS run")
	rssHelloRate := flag.Float64("rss-hello-rate", 18000, "loadgen HELLOs/s in the RSS run (stay under 20k x loops)")
	rssDuration := flag.Duration("rss-duration", 10*time.Second, "how long the RSS run holds all sessions after warm-up (REHELLOs in that window = false offlines)")
	redisPort := flag.Int("redis-port", 16379, "port of the redis-server the runner starts")
	gatewayBin := flag.String("gateway-bin", "gateway", "gateway server binary: gateway (the real process) or ingestgw (its UDP path alone)")
	gatewayArgsFlag := flag.String("gateway-args", "", "space-separated args for -gateway-bin with {listen} {stats} {keys} {dir} {port} {tcpport} placeholders (default: the chosen binary's)")
	flag.Parse()

	stopAllOnSignal()
	r := &runner{bin: *bin, out: *out}
	if err := os.MkdirAll(r.out, 0o755); err != nil {
		fail(err)
	}
	r.keys = filepath.Join(r.out, "bench.keys")
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	if err := os.WriteFile(r.keys, []byte("1 "+hex.EncodeToString(secret)+" current\n"), 0o600); err != nil {
		fail(err)
	}
	gw, gwStats := gatewayArgs, "/metrics"
	if *gatewayBin == "ingestgw" {
		gw, gwStats = ingestgwArgs, "/stats"
	}
	if *gatewayArgsFlag != "" {
		gw = strings.Fields(*gatewayArgsFlag)
	}
	want := map[string]bool{}
	for _, g := range strings.Split(*groups, ",") {
		want[strings.TrimSpace(g)] = true
	}
	names := map[string]bool{}
	for _, n := range strings.Split(*only, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names[n] = true
		}
	}
	var cases []caseDef
	for _, c := range standardCases(*gatewayBin, gw, gwStats) {
		if want[c.Group] && (len(names) == 0 || names[c.Name]) {
			cases = append(cases, c)
		}
	}
	r.res = &Results{Started: time.Now().UTC(), Machine: machine(), Reps: *reps, Method: method(*rssInterval)}
	needRedis := false
	for _, c := range cases {
		needRedis = needRedis || c.Redis
	}
	if needRedis {
		stop, err := r.startRedis(*redisPort)
		if err != nil {
			r.res.Notes = append(r.res.Notes, "redis peer skipped: "+err.Error())
			var kept []caseDef
			for _, c := range cases {
				if !c.Redis {
					kept = append(kept, c)
				}
			}
			cases = kept
		} else {
			defer stop()
		}
	}
	results := make([]*Case, len(cases))
	for i, c := range cases {
		results[i] = &Case{Name: c.Name, Group: c.Group, Desc: c.Desc, Server: c.ServerBin + " " + strings.Join(c.ServerArgs, " "), Env: c.Env, Loadgen: strings.Join(c.Loadgen, " "), Unit: "CPU ns per heartbeat", Samples: make([]float64, *reps), Wall: make([]float64, *reps), Allocs: make([]float64, *reps), GCs: make([]float64, *reps),
			GCPauseP50: make([]float64, *reps), GCPauseP99: make([]float64, *reps), GCPauseMax: make([]float64, *reps)}
		r.res.Cases = append(r.res.Cases, results[i])
	}
	for rep := 0; rep < *reps; rep++ {
		for k := range cases {
			i := (k + rep) % len(cases) // rotate the order so no case always runs first
			c := &cases[i]
			port := 18000 + 4*i
			t0 := time.Now()
			ns, wall, acc, allocs, gcs, pause, err := r.measure(c, port)
			res := results[i]
			res.GCPauseP50[rep], res.GCPauseP99[rep], res.GCPauseMax[rep] = pause.p50, pause.p99, pause.max
			res.Allocs[rep], res.GCs[rep] = allocs, gcs
			res.Samples[rep], res.Wall[rep] = ns, wall
			res.Accepted = append(res.Accepted, acc)
			if err != nil {
				res.Errors = append(res.Errors, fmt.Sprintf("rep %d: %v", rep+1, err))
			}
			fmt.Fprintf(os.Stderr, "rep %d/%d %-30s %8.0f ns/heartbeat  (%.1fs) %v\n", rep+1, *reps, c.Name, ns, time.Since(t0).Seconds(), errShort(err))
		}
		r.finish(rep + 1)
	}
	if want["rss"] && *rssSessions > 0 {
		r.rss(*gatewayBin, gw, gwStats, *rssSessions, *rssInterval, *rssDuration, *rssLoops, *rssWorkers, *rssHelloRate)
	}
	if want["consul"] {
		r.presence(*consulBin)
	}
	if want["stores"] {
		r.stores(*consulBin, *etcdBin)
	}
	r.finish(*reps)
	fmt.Fprintf(os.Stderr, "wrote %s\n", filepath.Join(r.out, "results.json"))
}

func errShort(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return "ERROR: " + s
}

// measure runs case c once: start the server, run the loadgen, stop the server. It returns
// the median over the loadgen's drain rounds (or the cpu window) of CPU ns per heartbeat.
func (r *runner) measure(c *caseDef, port int) (ns, wall float64, accepted uint64, allocs, gcs float64, pause gcPauses, err error) {
	allocs, gcs = -1, -1
	pause = noPauses
	s, err := r.startServer(c, port)
	if err != nil {
		return 0, 0, 0, allocs, gcs, pause, err
	}
	defer s.stop()
	var extra []int
	if c.Redis {
		extra = []int{r.redisPID}
	}
	sum, err := r.loadgen(s, c.Loadgen, extra)
	pause = readPauses(s.statsURL)
	if sum == nil {
		return 0, 0, 0, allocs, gcs, pause, err
	}
	if len(sum.Drain) > 0 {
		var cpu, wl, al []float64
		var gc uint64
		for _, d := range sum.Drain {
			cpu = append(cpu, d.CPUNSPerBeat)
			wl = append(wl, d.WallNSPerDgram)
			accepted += d.Accepted
			if d.HaveAllocs {
				al = append(al, d.AllocsPerBeat)
				gc += d.GCCycles
			}
		}
		ns, wall = median(cpu), median(wl)
		if len(al) > 0 {
			allocs, gcs = minOf(al), float64(gc)
		}
	} else if sum.Window != nil {
		ns = sum.Window.CPUNSPerBeat
		if a, b := sum.Window.StatsAfter, sum.Window.StatsBefore; a != nil && b != nil {
			accepted = a["heartbeats"] - b["heartbeats"]
			if m, ok := a["go_memstats_mallocs"]; ok && accepted > 0 {
				allocs = float64(m-b["go_memstats_mallocs"]) / float64(accepted)
				gcs = float64(a["go_gc_duration_seconds_count"] - b["go_gc_duration_seconds_count"])
			}
		}
		if sum.Window.SocketDrops > 0 && err == nil {
			err = fmt.Errorf("note: %d datagrams dropped by the kernel at %.0f/s offered (the server, or the shared box, fell behind); CPU is divided by the datagrams delivered", sum.Window.SocketDrops, sum.Window.DatagramsPerS)
		}
	}
	return ns, wall, accepted, allocs, gcs, pause, err
}

// minOf is the smallest sample (allocation counts: the /stats fetch itself allocates a
// little, so the smallest round is the closest to the server's own figure).
func minOf(xs []float64) float64 {
	m := xs[0]
	for _, x := range xs[1:] {
		m = min(m, x)
	}
	return m
}

// rss measures the gateway's resident memory per session with n sessions online.
func (r *runner) rss(gatewayBin string, gwArgs []string, gwStats string, n int, interval, hold time.Duration, loops, workers int, helloRate float64) {
	perShard := 1
	for perShard < n+n/8 {
		perShard <<= 1
	}
	args := make([]string, 0, len(gwArgs)+4)
	for i := 0; i < len(gwArgs); i++ {
		if gwArgs[i] == "-sessions-per-shard" || gwArgs[i] == "-max-sessions" || gwArgs[i] == "-interval" || gwArgs[i] == "-loops" {
			i++
			continue
		}
		args = append(args, gwArgs[i])
	}
	if gatewayBin == "ingestgw" {
		args = append(args, "-sessions-per-shard", strconv.Itoa(perShard), "-interval", interval.String(), "-loops", strconv.Itoa(loops))
	} else {
		// The gateway splits -max-sessions over loops+1 shards (one for TCP) and a session
		// lives in the shard of the loop its HELLO reached: give each shard room for all n.
		args = append(args, "-max-sessions", strconv.Itoa((n+n/16)*(loops+1)), "-interval", interval.String(), "-loops", strconv.Itoa(loops))
	}
	c := caseDef{Name: fmt.Sprintf("rss-gateway-%d", n), Group: "rss", ServerBin: gatewayBin, ServerArgs: args, StatsPath: gwStats,
		Loadgen: []string{"-mode", "run", "-sessions", strconv.Itoa(n), "-workers", strconv.Itoa(workers), "-hello-rate", fmt.Sprint(helloRate), "-hello-window", "256", "-duration", hold.String(), "-hello-wait", "30m"}}
	res := &Case{Name: c.Name, Group: "rss", Desc: fmt.Sprintf("gateway VmRSS per session, %d sessions online, heartbeat interval %v, held %v", n, interval, hold), Server: c.ServerBin + " " + strings.Join(args, " "), Loadgen: strings.Join(c.Loadgen, " "), Unit: "bytes per session", Extra: map[string]float64{}}
	r.res.Cases = append(r.res.Cases, res)
	t0 := time.Now()
	s, err := r.startServer(&c, 18990)
	if err != nil {
		res.Errors = append(res.Errors, err.Error())
		return
	}
	defer s.stop()
	sum, err := r.loadgen(s, c.Loadgen, nil)
	if err != nil {
		res.Errors = append(res.Errors, err.Error())
	}
	if sum != nil && sum.Window != nil {
		res.Samples = []float64{sum.Window.RSSPerSession}
		res.Extra["online"] = float64(sum.Online)
		res.Extra["rss_before_hello_bytes"] = float64(sum.Window.RSSBefore)
		res.Extra["rss_after_bytes"] = float64(sum.Window.RSSAfter)
		res.Extra["rss_total_per_session"] = float64(sum.Window.RSSAfter) / float64(max(1, sum.Online))
		res.Extra["warmup_seconds"] = sum.WarmupSeconds
		res.Extra["heartbeats_per_s"] = sum.Window.DatagramsPerS
		res.Extra["cpu_ns_per_heartbeat"] = sum.Window.CPUNSPerBeat
		res.Extra["socket_drops"] = float64(sum.Window.SocketDrops)
		res.Extra["rehellos_received"] = float64(sum.Totals.Rehellos)
		res.Extra["hold_seconds"] = hold.Seconds()
		if a, b := sum.Window.StatsAfter, sum.Window.StatsBefore; a != nil && b != nil {
			res.Extra["gateway_sessions_online_before"] = float64(b["sessions_online"])
			res.Extra["gateway_sessions_online_after"] = float64(a["sessions_online"])
		}
	}
	res.Stats = statsOf(res.Samples)
	fmt.Fprintf(os.Stderr, "rss %d sessions: %.1f B/session (%.0fs)\n", n, res.Stats.Median, time.Since(t0).Seconds())
}

// presence runs benchmarks/presence (gateway + agent + Consul) and keeps its JSON.
func (r *runner) presence(consulBin string) {
	if consulBin == "" {
		r.res.Notes = append(r.res.Notes, "consul group skipped: no -consul binary (scripts/bench.sh passes the one scripts/install-consul.sh provides)")
		return
	}
	out := filepath.Join(r.out, "presence.json")
	_ = os.Remove(out)
	cmd := exec.Command(filepath.Join(r.bin, "presence"), "-bin", r.bin, "-consul", consulBin, "-out", out)
	cmd.Stderr = os.Stderr
	t0 := time.Now()
	err := cmd.Start()
	if err == nil {
		track(cmd) // presence stops its own children on SIGTERM; SIGKILL of its group covers the rest
		err = cmd.Wait()
		untrack(cmd)
	}
	if err != nil {
		r.res.Notes = append(r.res.Notes, "presence run failed: "+err.Error())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return
	}
	r.res.Presence = json.RawMessage(b)
	fmt.Fprintf(os.Stderr, "presence (gateway + agent + Consul): %.0fs\n", time.Since(t0).Seconds())
}

// stores runs benchmarks/storepeer (Consul vs etcd, the agent's write shape) and keeps its JSON.
func (r *runner) stores(consulBin, etcdBin string) {
	if consulBin == "" {
		r.res.Notes = append(r.res.Notes, "stores group (Consul vs etcd) skipped: no -consul binary")
		return
	}
	if _, err := exec.LookPath(etcdBin); err != nil {
		r.res.Notes = append(r.res.Notes, "stores group (Consul vs etcd) skipped: no etcd binary (Debian package etcd-server; scripts/bench.sh installs it)")
		return
	}
	out := filepath.Join(r.out, "stores.json")
	_ = os.Remove(out)
	cmd := exec.Command(filepath.Join(r.bin, "storepeer"), "-consul", consulBin, "-etcd", etcdBin, "-out", out)
	cmd.Stderr = os.Stderr
	t0 := time.Now()
	err := cmd.Start()
	if err == nil {
		track(cmd)
		err = cmd.Wait()
		untrack(cmd)
	}
	if err != nil {
		r.res.Notes = append(r.res.Notes, "storepeer run failed: "+err.Error())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return
	}
	r.res.Stores = json.RawMessage(b)
	fmt.Fprintf(os.Stderr, "stores (Consul vs etcd): %.0fs\n", time.Since(t0).Seconds())
}

func (r *runner) finish(reps int) {
	byName := map[string]*Case{}
	for _, c := range r.res.Cases {
		c.Stats = statsOf(c.Samples)
		byName[c.Name] = c
	}
	r.res.Ratios = nil
	for _, d := range standardRatios {
		num, den := byName[d.Num], byName[d.Den]
		if num == nil || den == nil {
			continue
		}
		s := ratioSamples(num.Samples[:min(reps, len(num.Samples))], den.Samples[:min(reps, len(den.Samples))])
		r.res.Ratios = append(r.res.Ratios, &Ratio{Name: d.Name, Num: d.Num, Den: d.Den, Target: d.Target, Samples: s, Stats: statsOf(s)})
	}
	r.res.Finished = time.Now().UTC()
	b, _ := json.MarshalIndent(r.res, "", "  ")
	if err := os.WriteFile(filepath.Join(r.out, "results.json"), append(b, '\n'), 0o644); err != nil {
		fail(err)
	}
}

func (r *runner) startRedis(port int) (func(), error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not installed (scripts/bench.sh installs it with apt-get)")
	}
	r.redisAddr = fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(path, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	track(cmd)
	r.redisPID = cmd.Process.Pid
	for i := 0; i < 100 && !tcpListening(port); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	return func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); untrack(cmd) }, nil
}

func tcpListening(port int) bool {
	for _, p := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), fmt.Sprintf(":%04X 00000000:0000 0A", port)) {
			return true
		}
	}
	return false
}

func machine() Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				m.CPU = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.Load = strings.TrimSpace(string(b))
	}
	return m
}

func method(rssInterval time.Duration) []string {
	return []string{
		"Every server runs as its own process on loopback; the loadgen (benchmarks/loadgen) drives it from the same 2-core machine.",
		"Drain: the server is stopped with SIGSTOP, its socket is pre-filled with N valid heartbeats (20,000; 2,000 BATCH datagrams in relay cases), then SIGCONT; CPU = server utime+stime (schedstat, ns) from SIGCONT until /proc/net/udp shows its queue empty, divided by the heartbeats delivered. Median of 3 rounds per sample.",
		"Fixed load (cpu-*): 50,000 sessions at a 1 s interval (50k heartbeats/s) for 5 s after warm-up; server CPU over the window / heartbeats delivered.",
		"Each case runs once per repetition, in rotating order; ratios divide samples of the same repetition; tables give min / median / max over repetitions.",
		"The gateway's sessions come from real HELLOs with tokens issued from a shared key file; comparators use pre-shared per-slot keys (-handshake none) and do the same HL1 decode + SipHash + table update per heartbeat (naive parses JSON instead).",
		fmt.Sprintf("RSS per session: gateway VmRSS after all sessions are online minus VmRSS before the first HELLO, divided by sessions online; heartbeat interval %v so the loadgen fits on the box.", rssInterval),
		"The machine is shared with other work while this runs: absolute numbers are noisy; the ratios are the figures.",
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "runner:", err)
	os.Exit(1)
}
