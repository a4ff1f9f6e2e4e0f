package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/hashicorp/consul/api"

	"heartline/benchmarks/wire"
	"heartline/protocol/client"
	"heartline/protocol/token"
)

var logLevel = "warn"

// Result is the JSON this command writes.
type Result struct {
	Started  time.Time         `json:"started"`
	Settings map[string]string `json:"settings"`
	Online   Latency           `json:"online_latency"`
	Bye      Latency           `json:"bye_latency"`
	Offline  Latency           `json:"offline_detection_delay"`
	// Attribution of the ONLINE latency by the transition's gateway timestamp: HELLO sent ->
	// gateway applied it (network, decode, token check, table), and gateway -> change record
	// seen (feed, agent flush window, Consul txn, blocking query). Same clock: one machine.
	OnlineGateway  Latency `json:"online_stage_gateway"`
	OnlinePipeline Latency `json:"online_stage_feed_agent_consul"`
	// Offline detection measured from the gateway's last-seen time of the session.
	OfflineSinceLastSeen Latency           `json:"offline_since_last_seen"`
	Churn                *Churn            `json:"churn,omitempty"`
	Gateway              map[string]uint64 `json:"gateway_metrics,omitempty"` // selected counters at the end
	Errors               []string          `json:"errors,omitempty"`
}

// Latency is a distribution in milliseconds.
type Latency struct {
	N       int64   `json:"n"`
	Missing int     `json:"missing"` // sent but never seen within the wait
	P50     float64 `json:"p50_ms"`
	P99     float64 `json:"p99_ms"`
	P999    float64 `json:"p999_ms"`
	Max     float64 `json:"max_ms"`
	Min     float64 `json:"min_ms"`
}

// Churn is the transitions/s phase.
type Churn struct {
	Seconds              float64 `json:"seconds"`
	TransitionsSeen      uint64  `json:"transitions_seen"`
	TransitionsExpected  uint64  `json:"transitions_expected"` // loadgen WELCOMEs + BYEs
	IncompleteEntries    uint64  `json:"incomplete_entries"`
	SeqGaps              uint64  `json:"seq_gaps"`
	TransitionsPerSecond float64 `json:"transitions_per_s"`
	Txns                 uint64  `json:"consul_txns"`
	TxnReqBytes          uint64  `json:"consul_txn_request_bytes"`
	TxnRespBytes         uint64  `json:"consul_txn_response_bytes"`
	AllReqBytes          uint64  `json:"consul_all_request_bytes"`
	TxnsPerTransition    float64 `json:"txns_per_transition"`
	BytesPerTransition   float64 `json:"txn_request_bytes_per_transition"`
	AgentCPUNSPerTrans   float64 `json:"agent_cpu_ns_per_transition,omitempty"`
}

type bench struct {
	dir        string
	keysPath   string
	keys       *token.KeyRing
	procs      []*exec.Cmd
	udp        string
	agentPID   int
	consulAddr string
	adminURL   string
	proxy      *countingProxy
}

func main() {
	out := flag.String("out", "benchmarks/out/presence.json", "result JSON")
	bin := flag.String("bin", "benchmarks/out/bin", "directory with gateway, agent and loadgen binaries")
	consulBin := flag.String("consul", "", "consul binary (scripts/install-consul.sh prints it)")
	probes := flag.Int("probes", 600, "latency probe sessions (one reference client each)")
	probeRate := flag.Float64("probe-rate", 100, "probe HELLOs per second")
	interval := flag.Duration("interval", 2*time.Second, "gateway heartbeat interval")
	misses := flag.Int("misses", 2, "gateway misses before expiry")
	grace := flag.Duration("grace", 500*time.Millisecond, "gateway grace")
	debounce := flag.Duration("debounce", time.Second, "gateway flap-suppression window")
	churnSessions := flag.Int("churn-sessions", 50000, "loadgen sessions in the churn phase (0 skips it)")
	churnRate := flag.Float64("churn-rate", 5000, "loadgen logouts per second (each also logs in again: 2 transitions, which the gateway may coalesce)")
	churnFor := flag.Duration("churn-duration", 15*time.Second, "churn phase measured window")
	flag.StringVar(&logLevel, "log-level", "warn", "log level of the gateway and agent (logs stay in the temp dir unless -keep)")
	keep := flag.Bool("keep", false, "keep the temp dir with the processes' logs")
	flag.Parse()
	if *consulBin == "" {
		fail(fmt.Errorf("-consul <path> is required (scripts/install-consul.sh prints it)"))
	}
	res := &Result{Started: time.Now().UTC(), Settings: map[string]string{
		"interval": interval.String(), "misses": strconv.Itoa(*misses), "grace": grace.String(), "debounce": debounce.String(),
		"probes": strconv.Itoa(*probes), "probe_rate": fmt.Sprint(*probeRate), "consul": "single durable server on loopback",
	}}
	b := &bench{}
	var err error
	if b.dir, err = os.MkdirTemp("", "heartline-presence-bench-"); err != nil {
		fail(err)
	}
	defer func() {
		if *keep {
			fmt.Fprintln(os.Stderr, "presence: logs kept in", b.dir)
			return
		}
		os.RemoveAll(b.dir)
	}()
	defer b.stopAll()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := b.start(ctx, *bin, *consulBin, *interval, *misses, *grace, *debounce, res); err != nil {
		res.Errors = append(res.Errors, err.Error())
		write(*out, res)
		fmt.Fprintln(os.Stderr, "presence:", err)
		return // deferred: stop the processes, remove the directory
	}
	cfg := api.DefaultConfig()
	cfg.Address = b.consulAddr
	cl, _ := api.NewClient(cfg)
	w := newWatcher(cl.KV(), "heartline")
	go w.run(ctx)
	time.Sleep(500 * time.Millisecond)

	b.latencies(ctx, w, res, *probes, *probeRate, *interval, *misses, *grace, *debounce)
	if *churnSessions > 0 {
		if err := b.churn(ctx, w, res, *bin, *churnSessions, *churnRate, *churnFor); err != nil {
			res.Errors = append(res.Errors, err.Error())
		}
	}
	if m, err := wire.FetchStats(b.adminURL + "/metrics"); err == nil {
		res.Gateway = map[string]uint64{}
		for _, k := range []string{"heartbeats", "hellos", "byes", "feed_records", "feed_snapshots", "feed_connects", "feed_records_unsent", "sessions_online", "feed_queue_depth"} {
			res.Gateway[k] = m[k]
		}
	}
	write(*out, res)
	fmt.Fprintf(os.Stderr, "presence: ONLINE p50 %.1f ms p99 %.1f ms; offline delay p50 %.0f ms; wrote %s\n", res.Online.P50, res.Online.P99, res.Offline.P50, *out)
}

func write(path string, r *Result) {
	bs, _ := json.MarshalIndent(r, "", "  ")
	_ = os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, append(bs, '\n'), 0o644); err != nil {
		fail(err)
	}
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (b *bench) spawn(name string, bin string, args ...string) (*exec.Cmd, error) {
	logf, err := os.Create(filepath.Join(b.dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	b.procs = append(b.procs, cmd)
	return cmd, nil
}

func (b *bench) stopAll() {
	for i := len(b.procs) - 1; i >= 0; i-- {
		p := b.procs[i]
		_ = p.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
	}
}

func waitHTTP(url string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %v", url, d)
}

func (b *bench) logTail(name string) string {
	bs, _ := os.ReadFile(filepath.Join(b.dir, name+".log"))
	if len(bs) > 1500 {
		bs = bs[len(bs)-1500:]
	}
	return string(bs)
}

func (b *bench) start(ctx context.Context, bin, consulBin string, interval time.Duration, misses int, grace, debounce time.Duration, res *Result) error {
	// Keys shared by the gateway and the probes.
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	b.keysPath = filepath.Join(b.dir, "keys")
	if err := os.WriteFile(b.keysPath, []byte("1 "+hex.EncodeToString(secret)+" current\n"), 0o600); err != nil {
		return err
	}
	var err error
	if b.keys, err = token.LoadKeyRing(b.keysPath); err != nil {
		return err
	}
	// Consul: one durable server (the deployment the benchmark figures assume), its own ports.
	hp, sl, sw, sv := freePort(), freePort(), freePort(), freePort()
	b.consulAddr = fmt.Sprintf("127.0.0.1:%d", hp)
	conf := map[string]any{"node_name": "bench", "datacenter": "dc1", "data_dir": filepath.Join(b.dir, "consul"), "server": true, "bootstrap_expect": 1,
		"bind_addr": "127.0.0.1", "advertise_addr": "127.0.0.1", "client_addr": "127.0.0.1", "log_level": "warn", "disable_update_check": true,
		"performance": map[string]any{"raft_multiplier": 1}, "ui_config": map[string]any{"enabled": false}, "connect": map[string]any{"enabled": false},
		"ports": map[string]any{"http": hp, "https": -1, "dns": -1, "grpc": -1, "grpc_tls": -1, "serf_lan": sl, "serf_wan": sw, "server": sv}}
	cj, _ := json.Marshal(conf)
	confPath := filepath.Join(b.dir, "consul.json")
	if err := os.WriteFile(confPath, cj, 0o600); err != nil {
		return err
	}
	if _, err := b.spawn("consul", consulBin, "agent", "-config-file", confPath); err != nil {
		return err
	}
	cfg := api.DefaultConfig()
	cfg.Address = b.consulAddr
	cl, _ := api.NewClient(cfg)
	for deadline := time.Now().Add(30 * time.Second); ; {
		if l, err := cl.Status().Leader(); err == nil && l != "" {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("consul has no leader after 30s: %s", b.logTail("consul"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The agent's Consul traffic goes through the counting proxy.
	b.proxy = newCountingProxy(b.consulAddr)
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = http.Serve(pl, b.proxy) }()
	// Gateway.
	udpPort, adminPort := freePort(), freePort()
	b.udp = fmt.Sprintf("127.0.0.1:%d", udpPort)
	feed := filepath.Join(b.dir, "feed.sock")
	// TCP stays on: with -tcp-addr "" this gateway build never feeds the agent (its feed
	// writer waits for the TCP shard's batches; reported to the gateway owner).
	if _, err := b.spawn("gateway", filepath.Join(bin, "gateway"), "-udp-addr", b.udp, "-tcp-addr", fmt.Sprintf("127.0.0.1:%d", freePort()), "-secret-file", b.keysPath,
		"-feed-socket", feed, "-admin-addr", fmt.Sprintf("127.0.0.1:%d", adminPort), "-drain-timeout", "0", "-interval", interval.String(), "-misses", strconv.Itoa(misses),
		"-grace", grace.String(), "-debounce", debounce.String(), "-hello-rate", "1000000", "-hello-burst", "1000000", "-loops", "1",
		"-max-sessions", "262144", "-gateway-id", "bench-gw", "-log-level", logLevel); err != nil {
		return err
	}
	b.adminURL = fmt.Sprintf("http://127.0.0.1:%d", adminPort)
	if err := waitHTTP(b.adminURL+"/healthz", 20*time.Second); err != nil {
		return fmt.Errorf("gateway: %v: %s", err, b.logTail("gateway"))
	}
	// Agent.
	httpPort := freePort()
	ag, err := b.spawn("agent", filepath.Join(bin, "agent"), "-gateway-id", "bench-gw", "-feed-socket", feed,
		"-gateway-admin", fmt.Sprintf("http://127.0.0.1:%d", adminPort), "-gateway-udp-port", strconv.Itoa(udpPort),
		"-consul-addr", pl.Addr().String(), "-check-interval", "1s", "-check-timeout", "500ms", "-http-addr", fmt.Sprintf("127.0.0.1:%d", httpPort), "-log-level", logLevel)
	if err != nil {
		return err
	}
	b.agentPID = ag.Process.Pid
	// Ready = the agent holds its Consul session. (Its /readyz also wants the gateway's
	// first feed snapshot, which an empty gateway may not send until it has sessions.)
	for deadline := time.Now().Add(90 * time.Second); ; {
		ss, _, err := cl.Session().List(nil)
		if err == nil && len(ss) > 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("agent holds no Consul session after 90s: %s", b.logTail("agent"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil
}

// probe is one reference client.
type probe struct {
	c      *client.Client
	user   uint64
	sent   time.Time
	stop   context.CancelFunc
	closed time.Time
}

func (b *bench) latencies(ctx context.Context, w *watcher, res *Result, n int, rate float64, interval time.Duration, misses int, grace, debounce time.Duration) {
	ps := make([]*probe, 0, n)
	var mu sync.Mutex
	tick := time.Duration(float64(time.Second) / rate)
	var wg sync.WaitGroup
	var connectErrs []string
	for i := 0; i < n; i++ {
		user := uint64(5_000_000 + i)
		tok, sk, err := b.keys.Issue(token.Claims{UserID: user, DeviceID: 1, Expiry: time.Now().Add(time.Hour)})
		if err != nil {
			res.Errors = append(res.Errors, err.Error())
			return
		}
		c, err := client.New(client.Credentials{Token: tok.Bytes(), Key: sk}, client.Options{Gateways: []string{b.udp}, Active: true})
		if err != nil {
			res.Errors = append(res.Errors, err.Error())
			return
		}
		p := &probe{c: c, user: user, sent: time.Now()}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := c.Connect(cctx); err != nil {
				mu.Lock()
				if len(connectErrs) < 3 {
					connectErrs = append(connectErrs, err.Error())
				}
				mu.Unlock()
				return
			}
			rctx, stop := context.WithCancel(ctx)
			p.stop = stop
			mu.Lock()
			ps = append(ps, p)
			mu.Unlock()
			go func() { _ = c.Run(rctx) }()
		}()
		time.Sleep(tick)
	}
	wg.Wait()
	for _, e := range connectErrs {
		res.Errors = append(res.Errors, "probe connect: "+e)
	}
	res.Online = b.collect(w, ps, w.online, func(p *probe) time.Time { return p.sent }, 10*time.Second)
	fmt.Fprintf(os.Stderr, "presence: ONLINE latency over %d probes: p50 %.1f ms p99 %.1f ms\n", res.Online.N, res.Online.P50, res.Online.P99)
	// Half say BYE, half go silent.
	half := len(ps) / 2
	for i, p := range ps {
		p.stop()
		p.closed = time.Now()
		if i < half {
			_ = p.c.Bye()
		}
		_ = p.c.Close()
		time.Sleep(tick / 4)
	}
	res.Bye = b.collect(w, ps[:half], w.offline, func(p *probe) time.Time { return p.closed }, 10*time.Second)
	wait := interval*time.Duration(misses) + grace + debounce + 15*time.Second
	res.Offline = b.collect(w, ps[half:], w.offline, func(p *probe) time.Time { return p.closed }, wait)
	res.OnlineGateway = histo(ps, func(p *probe) (time.Duration, bool) {
		at, ok := w.at(w.onlineAt, p.user)
		return time.UnixMilli(at).Sub(p.sent), ok
	})
	res.OnlinePipeline = histo(ps, func(p *probe) (time.Duration, bool) {
		at, ok := w.at(w.onlineAt, p.user)
		seen, ok2 := w.seen(w.online, p.user)
		return seen.Sub(time.UnixMilli(at)), ok && ok2
	})
	res.OfflineSinceLastSeen = histo(ps[half:], func(p *probe) (time.Duration, bool) {
		at, ok := w.at(w.offlineAt, p.user)
		seen, ok2 := w.seen(w.offline, p.user)
		return seen.Sub(time.UnixMilli(at)), ok && ok2
	})
	fmt.Fprintf(os.Stderr, "presence: BYE -> OFFLINE p50 %.1f ms; silence -> OFFLINE p50 %.0f ms\n", res.Bye.P50, res.Offline.P50)
}

// histo builds a latency distribution from d(p) over the probes where it is known
// (negative values, from millisecond timestamps, count as 0).
func histo(ps []*probe, d func(*probe) (time.Duration, bool)) Latency {
	h := hdrhistogram.New(1, 600_000_000, 3)
	var l Latency
	for _, p := range ps {
		v, ok := d(p)
		if !ok {
			l.Missing++
			continue
		}
		_ = h.RecordValue(max(1, v.Microseconds()))
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	l.N = h.TotalCount()
	l.P50, l.P99, l.P999 = ms(h.ValueAtQuantile(50)), ms(h.ValueAtQuantile(99)), ms(h.ValueAtQuantile(99.9))
	l.Min, l.Max = ms(h.Min()), ms(h.Max())
	return l
}

// collect waits until every probe's event is seen (or wait passes) and histograms the
// latencies from from(p).
func (b *bench) collect(w *watcher, ps []*probe, m map[uint64]time.Time, from func(*probe) time.Time, wait time.Duration) Latency {
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		all := true
		for _, p := range ps {
			if _, ok := w.seen(m, p.user); !ok {
				all = false
				break
			}
		}
		if all {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	h := hdrhistogram.New(1, 600_000_000, 3) // microseconds, up to 10 min
	var l Latency
	for _, p := range ps {
		t, ok := w.seen(m, p.user)
		if !ok {
			l.Missing++
			continue
		}
		_ = h.RecordValue(max(1, t.Sub(from(p)).Microseconds()))
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	l.N = h.TotalCount()
	l.P50, l.P99, l.P999 = ms(h.ValueAtQuantile(50)), ms(h.ValueAtQuantile(99)), ms(h.ValueAtQuantile(99.9))
	l.Min, l.Max = ms(h.Min()), ms(h.Max())
	return l
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "presence:", err)
	os.Exit(1)
}
