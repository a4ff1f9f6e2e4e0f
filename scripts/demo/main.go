package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/consul/api"
	"go.uber.org/zap"

	"heartline/agent/watcher"
	"heartline/site/demoid"
)

type options struct {
	consul    string
	bin       string
	duration  time.Duration
	gateways  int
	probes    int
	probeBase uint64
	members   int
	load      int
	loadBase  uint64
	churn     float64
	interval  time.Duration
	keep      bool
}

// demoMembers is how many demo members the site must seed: at least -members, and enough
// that every user id the probes and the load generator heartbeat as is a member.
func demoMembers(o options) int {
	n := uint64(max(o.members, 0))
	if o.probes > 0 && o.probeBase >= demoid.First {
		n = max(n, o.probeBase-demoid.First+uint64(o.probes))
	}
	if o.load > 0 && o.loadBase >= demoid.First {
		n = max(n, o.loadBase-demoid.First+uint64(o.load))
	}
	return int(min(n, demoid.Max))
}

func main() {
	var o options
	flag.StringVar(&o.consul, "consul", "", "path of the consul binary (scripts/install-consul.sh prints it)")
	flag.StringVar(&o.bin, "bin", ".cache/bin", "directory holding the built gateway, agent, site and loadgen binaries")
	flag.DurationVar(&o.duration, "duration", envDuration("DEMO_DURATION"), "run this long unattended, then check and exit (0 = until Ctrl-C); env DEMO_DURATION")
	flag.IntVar(&o.gateways, "gateways", 2, "gateways (each with its own agent)")
	flag.IntVar(&o.probes, "probes", 12, "probe members that log in at the site and go on- and offline to measure propagation")
	flag.Uint64Var(&o.probeBase, "probe-base", 100001, "user id of the first probe member (the site's first demo member)")
	flag.IntVar(&o.members, "members", 200, "demo members the site generates at least (ids from -probe-base); raised to cover every load generator user, so the online count never exceeds the member count")
	flag.IntVar(&o.load, "load", 100_000, "sessions the load generator keeps online (0: no load generator)")
	flag.Uint64Var(&o.loadBase, "load-base", 100101, "user id of the load generator's first session (overlaps the second half of the demo members, so their dots are live)")
	flag.Float64Var(&o.churn, "churn", 100, "load generator logouts (and fresh logins) per second")
	flag.DurationVar(&o.interval, "interval", 5*time.Second, "heartbeat interval the gateways announce")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (logs) on exit")
	flag.Parse()
	if o.consul == "" {
		fmt.Fprintln(os.Stderr, "demo: -consul is required (make demo passes it)")
		os.Exit(2)
	}
	ok, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo: ERROR:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

func envDuration(name string) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return 0
	}
	if d, err := time.ParseDuration(v); err == nil {
		return d
	}
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second
	}
	fmt.Fprintf(os.Stderr, "demo: %s=%q is not a duration (e.g. 30s)\n", name, v)
	os.Exit(2)
	return 0
}

func say(format string, args ...any) {
	fmt.Printf("\033[1mdemo:\033[0m "+format+"\n", args...)
}

// cluster is what the demo started, with the addresses a user would point tools at.
type cluster struct {
	consulHTTP string
	keyFile    string
	gateways   []gatewayAddrs
	agents     []string // query API base URLs
	site       string   // base URL of the site
	siteAdmin  string
}

type gatewayAddrs struct {
	id        string
	udp, tcp  string
	admin     string
	agentHTTP string
}

func run(o options) (bool, error) {
	dir, err := os.MkdirTemp("", "heartline-demo-")
	if err != nil {
		return false, err
	}
	sup := &supervisor{dir: dir}
	defer func() {
		sup.stopAll(5 * time.Second)
		if o.keep {
			say("logs kept in %s", dir)
		} else {
			os.RemoveAll(dir)
			say("stopped every process and removed %s", dir)
		}
	}()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	c, err := startCluster(ctx, sup, dir, o)
	if err != nil {
		return false, err
	}

	consulCfg := api.DefaultConfig()
	consulCfg.Address = c.consulHTTP
	cl, err := api.NewClient(consulCfg)
	if err != nil {
		return false, err
	}
	w, err := watcher.New(watcher.Options{Client: cl, Prefix: "heartline", Log: zap.NewNop()})
	if err != nil {
		return false, err
	}
	go w.Run(ctx) //nolint:errcheck

	pr := newProber(c.site, w, o.probeBase, o.probes)
	go pr.run(ctx)

	say("the site:    %s  (demo members log in as demo<id>@heartline.invalid / heartline-demo-1)", c.site)
	say("Consul UI:   http://%s/ui", c.consulHTTP)
	for i, g := range c.gateways {
		say("gateway %d:   udp %s  tcp %s  admin http://%s/metrics  agent API http://%s/v1/stats", i+1, g.udp, g.tcp, g.admin, g.agentHTTP)
	}
	if o.duration > 0 {
		say("running for %s, then checking presence end to end", o.duration)
	} else {
		say("running; press Ctrl-C to stop")
	}

	dash := newDashboard(c, w, pr)
	deadline := (<-chan time.Time)(nil)
	if o.duration > 0 {
		deadline = time.After(o.duration)
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Println()
			return true, nil
		case <-deadline:
			fmt.Println()
			return finalChecks(c, w, pr), nil
		case <-tick.C:
			dash.refresh()
			for _, p := range sup.procs {
				if !p.running() {
					return false, fmt.Errorf("%s exited unexpectedly:\n%s", p.name, tail(p.log, 15))
				}
			}
		}
	}
}

func startCluster(ctx context.Context, sup *supervisor, dir string, o options) (*cluster, error) {
	c := &cluster{}
	// Consul: one durable server on free loopback ports.
	ports, err := freePorts(4)
	if err != nil {
		return nil, err
	}
	c.consulHTTP = fmt.Sprintf("127.0.0.1:%d", ports[0])
	cfg := map[string]any{
		"node_name": "demo", "datacenter": "dc1", "data_dir": filepath.Join(dir, "consul-data"),
		"server": true, "bootstrap_expect": 1,
		"bind_addr": "127.0.0.1", "advertise_addr": "127.0.0.1", "client_addr": "127.0.0.1",
		"ports": map[string]any{"http": ports[0], "dns": -1, "grpc": -1, "grpc_tls": -1,
			"serf_lan": ports[1], "serf_wan": ports[2], "server": ports[3]},
		"performance": map[string]any{"raft_multiplier": 1}, "disable_update_check": true,
		"ui_config": map[string]any{"enabled": true}, "log_level": "warn",
	}
	raw, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(dir, "consul.json")
	if err := os.WriteFile(cfgPath, raw, 0o600); err != nil {
		return nil, err
	}
	say("starting Consul on %s", c.consulHTTP)
	consul, err := sup.start("consul", o.consul, []string{"agent", "-config-file", cfgPath})
	if err != nil {
		return nil, err
	}
	if err := waitLeader(ctx, c.consulHTTP, consul); err != nil {
		return nil, err
	}

	// The cluster secret: gateways verify the tokens the demo (acting as the site) issues.
	secret := make([]byte, 32)
	rand.Read(secret) //nolint:errcheck
	c.keyFile = filepath.Join(dir, "keys.txt")
	if err := os.WriteFile(c.keyFile, []byte("1 "+hex.EncodeToString(secret)+" current\n"), 0o600); err != nil {
		return nil, err
	}

	for i := 1; i <= o.gateways; i++ {
		p, err := freePorts(4)
		if err != nil {
			return nil, err
		}
		g := gatewayAddrs{
			id:        fmt.Sprintf("gw-%d", i),
			udp:       fmt.Sprintf("127.0.0.1:%d", p[0]),
			tcp:       fmt.Sprintf("127.0.0.1:%d", p[1]),
			admin:     fmt.Sprintf("127.0.0.1:%d", p[2]),
			agentHTTP: fmt.Sprintf("127.0.0.1:%d", p[3]),
		}
		feed := filepath.Join(dir, g.id+".feed.sock")
		say("starting %s and its agent", g.id)
		gw, err := sup.start(g.id, filepath.Join(o.bin, "gateway"), []string{
			"-gateway-id", g.id, "-udp-addr", g.udp, "-tcp-addr", g.tcp, "-admin-addr", g.admin, "-drain-timeout", "0",
			"-feed-socket", feed, "-secret-file", c.keyFile, "-interval", o.interval.String(),
			// The load generator sends every member's HELLO from one loopback address, like a
			// carrier-grade NAT would: lift the per-address HELLO limit for the demo.
			"-hello-rate", "100000", "-hello-burst", "100000",
		})
		if err != nil {
			return nil, err
		}
		if err := waitHTTP(ctx, "http://"+g.admin+"/healthz", gw); err != nil {
			return nil, err
		}
		ag, err := sup.start(g.id+"-agent", filepath.Join(o.bin, "agent"), []string{
			"-gateway-id", g.id, "-feed-socket", feed, "-gateway-admin", "http://" + g.admin,
			"-gateway-address", "127.0.0.1",
			"-gateway-udp-port", port(g.udp), "-gateway-tcp-port", port(g.tcp),
			"-http-addr", g.agentHTTP, "-consul-addr", c.consulHTTP,
		})
		if err != nil {
			return nil, err
		}
		if err := waitHTTP(ctx, "http://"+g.agentHTTP+"/readyz", ag); err != nil {
			return nil, err
		}
		c.gateways = append(c.gateways, g)
		c.agents = append(c.agents, "http://"+g.agentHTTP)
	}

	p, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	c.site, c.siteAdmin = fmt.Sprintf("http://127.0.0.1:%d", p[0]), fmt.Sprintf("127.0.0.1:%d", p[1])
	n := demoMembers(o)
	say("starting the site with %d demo members (a fresh SQLite database; the load generator's users are members too)", n)
	site, err := sup.start("site", filepath.Join(o.bin, "site"), []string{
		"-addr", strings.TrimPrefix(c.site, "http://"), "-admin-addr", c.siteAdmin,
		"-consul-addr", c.consulHTTP, "-key-file", c.keyFile,
		"-db", filepath.Join(dir, "site.db"), "-demo-members", strconv.Itoa(n), "-dev-outbox",
		"-secure-cookies=false", "-heartbeat-interval", o.interval.String(),
	})
	if err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, "http://"+c.siteAdmin+"/readyz", site); err != nil {
		return nil, err
	}

	if o.load > 0 {
		var udp []string
		for _, g := range c.gateways {
			udp = append(udp, g.udp)
		}
		say("starting the load generator: %d sessions, %.0f logouts+logins/s", o.load, o.churn)
		if _, err := sup.start("loadgen", filepath.Join(o.bin, "loadgen"), []string{
			"-keys", c.keyFile, "-targets", strings.Join(udp, ","), "-sessions", strconv.Itoa(o.load),
			"-user-base", strconv.FormatUint(o.loadBase, 10), "-churn", strconv.FormatFloat(o.churn, 'f', -1, 64),
			"-status-change", "0.01", "-live=true", "-duration", "24h", "-out", filepath.Join(dir, "loadgen.json"),
		}); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func freePorts(n int) ([]int, error) {
	var out []int
	seen := map[int]bool{}
	for len(out) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		p := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", l.Addr().String())
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, nil
}

func waitLeader(ctx context.Context, addr string, p *proc) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if !p.running() {
			return fmt.Errorf("consul exited:\n%s", tail(p.log, 20))
		}
		resp, err := http.Get("http://" + addr + "/v1/status/leader")
		if err == nil {
			var leader string
			json.NewDecoder(resp.Body).Decode(&leader) //nolint:errcheck
			resp.Body.Close()
			if leader != "" {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("consul elected no leader in 60s:\n%s", tail(p.log, 20))
}

func waitHTTP(ctx context.Context, url string, p *proc) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if !p.running() {
			return fmt.Errorf("%s exited:\n%s", p.name, tail(p.log, 20))
		}
		resp, err := scrapeClient.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not answer %s within 30s:\n%s", p.name, url, tail(p.log, 20))
}

// finalChecks decides whether presence worked end to end, as DEMO_DURATION promises.
func finalChecks(c *cluster, w *watcher.Watcher, pr *prober) bool {
	say("checks:")
	pass := true
	check := func(name string, ok bool, detail string) {
		mark := "ok  "
		if !ok {
			mark, pass = "FAIL", false
		}
		say("  %s %s%s", mark, name, detail)
	}
	online := pr.onlineNow()
	detail := fmt.Sprintf(" (%d online now)", len(online))
	if err := pr.lastLoginError(); err != nil && len(online) == 0 {
		detail += fmt.Sprintf("; last login error: %v", err)
	}
	check("probe members logged in at the site and through the gateways", len(online) > 0, detail)
	lat := pr.latencies()
	check("ONLINE propagated app -> gateway -> agent -> Consul -> watcher", lat.TotalCount() > 0,
		fmt.Sprintf(" (%d samples, p50 %s, p99 %s)", lat.TotalCount(), ms(lat.ValueAtQuantile(50)), ms(lat.ValueAtQuantile(99))))
	for _, base := range c.agents {
		seen := 0
		for _, u := range online {
			if agentSaysOnline(base, u) {
				seen++
			}
		}
		check("agent query API shows the online probes", len(online) > 0 && seen == len(online),
			fmt.Sprintf(" (%s: %d/%d)", base, seen, len(online)))
	}
	seen := 0
	// Presence at the site is for signed-in members: ask as the first online probe (an app's
	// api_token from POST /api/session); the other probes are members it may see.
	var apiToken string
	if len(online) > 0 {
		apiToken = siteAPIToken(c.site, online[0])
	}
	for _, u := range online {
		if siteSaysOnline(c.site, apiToken, u) {
			seen++
		}
	}
	check("the site's /api/presence shows the online probes", len(online) > 0 && seen == len(online),
		fmt.Sprintf(" (%d/%d)", seen, len(online)))
	check("the site's landing page renders", pageContains(c.site+"/", "遇见对的人"), "")
	off := pr.offlineSeen()
	check("BYE propagated as OFFLINE with a last-seen time", off > 0, fmt.Sprintf(" (%d logouts seen)", off))
	st := w.Stats()
	say("summary: watcher saw %d online users, %d transitions, %.0f change-feed bytes per transition",
		st.OnlineUsers, st.Transitions, float64(st.ChangeBytes)/float64(max(st.Transitions, 1)))
	if pass {
		say("PASS: presence works end to end")
	} else {
		say("FAIL: see the checks above (add -keep to keep the processes' logs)")
	}
	return pass
}

func agentSaysOnline(base string, user uint64) bool {
	resp, err := scrapeClient.Get(fmt.Sprintf("%s/v1/presence/%d", base, user))
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var p struct {
		Online bool `json:"online"`
	}
	if json.NewDecoder(resp.Body).Decode(&p) != nil {
		return false
	}
	return p.Online
}

// siteAPIToken logs demo member user in as an app does and returns its api_token ("" on error).
func siteAPIToken(base string, user uint64) string {
	body := fmt.Sprintf(`{"email":"demo%d@heartline.invalid","password":"heartline-demo-1","device_id":4242}`, user)
	resp, err := scrapeClient.Post(base+"/api/session", "application/json", strings.NewReader(body))
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var r struct {
		APIToken string `json:"api_token"`
	}
	if json.NewDecoder(resp.Body).Decode(&r) != nil {
		return ""
	}
	return r.APIToken
}

func siteSaysOnline(base, apiToken string, user uint64) bool {
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/presence?ids=%d", base, user), nil)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := scrapeClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var p struct {
		Presence []struct {
			ID     uint64 `json:"id"`
			Online bool   `json:"online"`
		} `json:"presence"`
	}
	if json.NewDecoder(resp.Body).Decode(&p) != nil || len(p.Presence) != 1 {
		return false
	}
	return p.Presence[0].ID == user && p.Presence[0].Online
}

func pageContains(url, want string) bool {
	resp, err := scrapeClient.Get(url)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode == http.StatusOK && strings.Contains(string(body), want)
}

func ms(v int64) string {
	return strings.TrimSuffix(fmt.Sprintf("%.0fms", float64(v)/1000), ".0")
}
