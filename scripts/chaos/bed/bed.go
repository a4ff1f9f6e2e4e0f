package bed

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
)

// Options size and time the bed. Zero values take the defaults in brackets.
type Options struct {
	Dir        string // work directory for configs, data and logs (required)
	ConsulBin  string // Consul binary (required)
	GatewayBin string // built ./gateway (required)
	AgentBin   string // built ./agent (required)
	SecretFile string // key ring shared by gateways and the driver (required)

	Interval      time.Duration // heartbeat interval announced by gateways [5s]
	Misses        int           // [3]
	Grace         time.Duration // [1s]
	Debounce      time.Duration // [2s]
	SessionTTL    time.Duration // agent's Consul session TTL [10s]
	CheckInterval time.Duration // agent's gateway health check interval [2s]
	Buckets       int           // presence buckets [1024]
	HelloRate     int           // gateway HELLOs/s per source address [200]
	TCPIdle       time.Duration // [10s]
	MaxSessions   int           // per gateway [262144]
}

func (o *Options) defaults() {
	if o.Interval == 0 {
		o.Interval = 5 * time.Second
	}
	if o.Misses == 0 {
		o.Misses = 3
	}
	if o.Grace == 0 {
		o.Grace = time.Second
	}
	if o.Debounce == 0 {
		o.Debounce = 2 * time.Second
	}
	if o.SessionTTL == 0 {
		o.SessionTTL = 10 * time.Second
	}
	if o.CheckInterval == 0 {
		o.CheckInterval = 2 * time.Second
	}
	if o.Buckets == 0 {
		o.Buckets = 1024
	}
	if o.HelloRate == 0 {
		o.HelloRate = 200
	}
	if o.TCPIdle == 0 {
		o.TCPIdle = 10 * time.Second
	}
	if o.MaxSessions == 0 {
		o.MaxSessions = 262144
	}
}

// Ports every host uses (each host has its own address, so they never collide).
const (
	ConsulHTTP  = 8500
	GatewayUDP  = 7946
	GatewayTCP  = 7947
	GatewayAdm  = 9464
	AgentHTTP   = 9102
	KVPrefix    = "heartline"
	ServiceName = "heartline-gateway"
)

// Bed is the running set of hosts and processes.
type Bed struct {
	Opts     Options
	Servers  []Host // s1..s3
	GWHosts  []Host // g1, g2
	Consul   []*Proc
	Clients  []*Proc // Consul client agent per gateway host
	Gateways []*Proc
	Agents   []*Proc
}

// GatewayID names gateway i ("gw1", "gw2").
func GatewayID(i int) string { return fmt.Sprintf("gw%d", i+1) }

// New lays out the bed (nothing runs yet).
func New(o Options) *Bed {
	o.defaults()
	b := &Bed{Opts: o}
	for i := 0; i < 3; i++ {
		b.Servers = append(b.Servers, Host{Name: fmt.Sprintf("s%d", i+1), IP: fmt.Sprintf("10.77.0.%d", 11+i)})
	}
	for i := 0; i < 2; i++ {
		b.GWHosts = append(b.GWHosts, Host{Name: fmt.Sprintf("g%d", i+1), IP: fmt.Sprintf("10.77.0.%d", 21+i)})
	}
	return b
}

// Hosts lists every namespace.
func (b *Bed) Hosts() []Host { return append(append([]Host(nil), b.Servers...), b.GWHosts...) }

// ServerIPs lists the Consul servers' addresses.
func (b *Bed) ServerIPs() []string {
	var out []string
	for _, h := range b.Servers {
		out = append(out, h.IP)
	}
	return out
}

func (b *Bed) consulConfig(h Host, server bool) (string, error) {
	dir := filepath.Join(b.Opts.Dir, h.Name)
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return "", err
	}
	var join []string
	for _, s := range b.Servers {
		if s.IP != h.IP {
			join = append(join, s.IP)
		}
	}
	cfg := map[string]any{
		"node_name":            h.Name,
		"datacenter":           "dc1",
		"data_dir":             filepath.Join(dir, "data"),
		"server":               server,
		"bind_addr":            h.IP,
		"advertise_addr":       h.IP,
		"client_addr":          "0.0.0.0",
		"retry_join":           join,
		"retry_interval":       "1s",
		"log_level":            "warn",
		"disable_update_check": true,
		"leave_on_terminate":   false,
		"performance":          map[string]any{"raft_multiplier": 1},
		"ui_config":            map[string]any{"enabled": false},
		"connect":              map[string]any{"enabled": false},
		"ports":                map[string]any{"http": ConsulHTTP, "https": -1, "dns": -1, "grpc": -1, "grpc_tls": -1},
	}
	if server {
		cfg["bootstrap_expect"] = len(b.Servers)
	}
	raw, _ := json.MarshalIndent(cfg, "", "  ")
	path := filepath.Join(dir, "consul.json")
	return path, os.WriteFile(path, raw, 0o644)
}

// Start creates the network and starts every process, waiting until the cluster has a
// leader and both gateways are registered and passing.
func (b *Bed) Start(ctx context.Context) error {
	if err := SetupNetwork(b.Hosts()); err != nil {
		return err
	}
	for _, h := range b.Servers {
		cfg, err := b.consulConfig(h, true)
		if err != nil {
			return err
		}
		p := &Proc{Name: "consul-" + h.Name, Host: h, Bin: b.Opts.ConsulBin,
			Args: []string{"agent", "-config-file", cfg}, Log: filepath.Join(b.Opts.Dir, h.Name, "consul.log")}
		b.Consul = append(b.Consul, p)
		if err := p.Start(); err != nil {
			return err
		}
	}
	if err := b.WaitLeader(ctx, 60*time.Second); err != nil {
		return err
	}
	for i, h := range b.GWHosts {
		cfg, err := b.consulConfig(h, false)
		if err != nil {
			return err
		}
		dir := filepath.Join(b.Opts.Dir, h.Name)
		c := &Proc{Name: "consul-" + h.Name, Host: h, Bin: b.Opts.ConsulBin,
			Args: []string{"agent", "-config-file", cfg}, Log: filepath.Join(dir, "consul.log")}
		feed := filepath.Join(dir, "feed.sock")
		o := b.Opts
		g := &Proc{Name: GatewayID(i), Host: h, Bin: o.GatewayBin, Log: filepath.Join(dir, "gateway.log"), Args: []string{
			"-gateway-id", GatewayID(i),
			"-udp-addr", fmt.Sprintf("%s:%d", h.IP, GatewayUDP),
			"-tcp-addr", fmt.Sprintf("%s:%d", h.IP, GatewayTCP),
			"-admin-addr", fmt.Sprintf("0.0.0.0:%d", GatewayAdm),
			"-feed-socket", feed, "-secret-file", o.SecretFile,
			"-interval", o.Interval.String(), "-misses", fmt.Sprint(o.Misses),
			"-grace", o.Grace.String(), "-debounce", o.Debounce.String(),
			"-hello-rate", fmt.Sprint(o.HelloRate), "-hello-burst", fmt.Sprint(2 * o.HelloRate),
			// Drain on SIGTERM at a pace the other gateway's HELLO limits absorb: 2000 apps/s
			// in all, and half its per-address HELLO rate per address.
			"-drain-timeout", DrainTimeout.String(), "-drain-rate", "2000", "-drain-rate-per-source", fmt.Sprint(o.HelloRate / 2),
			"-tcp-idle", o.TCPIdle.String(), "-max-sessions", fmt.Sprint(o.MaxSessions),
			// The hostile scenario's 500 abusive TCP connections and its legit TCP client come
			// from one driver address: the per-address cap (256 by default) would refuse the
			// legit client, and the scenario tests the protocol rules, not that cap.
			"-tcp-max-conns-per-addr", "4096",
			"-log-level", "warn",
		}}
		a := &Proc{Name: "agent-" + h.Name, Host: h, Bin: o.AgentBin, Log: filepath.Join(dir, "agent.log"),
			Env: []string{fmt.Sprintf("CONSUL_HTTP_ADDR=127.0.0.1:%d", ConsulHTTP)},
			Args: []string{
				"-gateway-id", GatewayID(i), "-feed-socket", feed,
				"-gateway-admin", fmt.Sprintf("http://127.0.0.1:%d", GatewayAdm),
				"-gateway-address", h.IP, "-gateway-udp-port", fmt.Sprint(GatewayUDP), "-gateway-tcp-port", fmt.Sprint(GatewayTCP),
				"-buckets", fmt.Sprint(o.Buckets), "-session-ttl", o.SessionTTL.String(),
				"-check-interval", o.CheckInterval.String(), "-check-timeout", (o.CheckInterval / 2).String(),
				"-http-addr", fmt.Sprintf("0.0.0.0:%d", AgentHTTP), "-log-level", "warn",
			}}
		b.Clients, b.Gateways, b.Agents = append(b.Clients, c), append(b.Gateways, g), append(b.Agents, a)
		for _, p := range []*Proc{c, g, a} {
			if err := p.Start(); err != nil {
				return err
			}
		}
	}
	return b.WaitGatewaysHealthy(ctx, []int{0, 1}, 90*time.Second)
}

// Stop ends every process (SIGKILL: the bed is thrown away) and removes the network.
func (b *Bed) Stop() {
	for _, list := range [][]*Proc{b.Agents, b.Gateways, b.Clients, b.Consul} {
		for _, p := range list {
			_ = p.Kill9()
		}
	}
	Teardown()
}

// Client returns a Consul API client for server i.
func (b *Bed) Client(i int) *api.Client {
	cfg := api.DefaultConfig()
	cfg.Address = fmt.Sprintf("%s:%d", b.Servers[i].IP, ConsulHTTP)
	cfg.HttpClient = &http.Client{Timeout: 90 * time.Second}
	c, _ := api.NewClient(cfg)
	return c
}

// AnyClient returns a client for the first server that answers, or server 0's.
func (b *Bed) AnyClient() *api.Client {
	for i := range b.Servers {
		if b.Consul != nil && !b.Consul[i].Running() {
			continue
		}
		c := b.Client(i)
		if l, err := c.Status().Leader(); err == nil && l != "" {
			return c
		}
	}
	return b.Client(0)
}

// Leader returns the index of the current leader server, or -1.
func (b *Bed) Leader() int {
	for i := range b.Servers {
		if !b.Consul[i].Running() {
			continue
		}
		l, err := b.Client(i).Status().Leader()
		if err != nil || l == "" {
			continue
		}
		for j, h := range b.Servers {
			if strings.HasPrefix(l, h.IP+":") {
				return j
			}
		}
	}
	return -1
}

// WaitLeader waits until some running server reports a leader.
func (b *Bed) WaitLeader(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if b.Leader() >= 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("bed: no Consul leader within %v (see %s/s*/consul.log)", timeout, b.Opts.Dir)
}

// HealthyGateways returns the gateway ids Consul lists as passing (the list the site hands to apps).
func (b *Bed) HealthyGateways(c *api.Client) ([]string, error) {
	entries, _, err := c.Health().Service(ServiceName, "", true, &api.QueryOptions{AllowStale: true})
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.Service.Meta["gateway_id"])
	}
	return ids, nil
}

// DrainTimeout is the gateways' -drain-timeout: how long a SIGTERM may take.
const DrainTimeout = 90 * time.Second

// LiveGateways returns the gateway ids whose checks are passing or warning: warning is a
// draining gateway (its /healthz answers 429), still serving the apps it has.
func (b *Bed) LiveGateways(c *api.Client) ([]string, error) {
	entries, _, err := c.Health().Service(ServiceName, "", false, &api.QueryOptions{AllowStale: true})
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if e.Checks.AggregatedStatus() != api.HealthCritical {
			ids = append(ids, e.Service.Meta["gateway_id"])
		}
	}
	return ids, nil
}

// WaitGatewaysHealthy waits until the listed gateways are passing in the catalog.
func (b *Bed) WaitGatewaysHealthy(ctx context.Context, gws []int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		ids, err := b.HealthyGateways(b.AnyClient())
		if err == nil {
			have := map[string]bool{}
			for _, id := range ids {
				have[id] = true
			}
			ok := true
			for _, g := range gws {
				ok = ok && have[GatewayID(g)]
			}
			if ok {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return fmt.Errorf("bed: gateways %v not passing within %v (see %s/g*/{gateway,agent,consul}.log)", gws, timeout, b.Opts.Dir)
}

// GatewayUDPAddr is gateway i's HL1 UDP address.
func (b *Bed) GatewayUDPAddr(i int) string { return fmt.Sprintf("%s:%d", b.GWHosts[i].IP, GatewayUDP) }

// GatewayTCPAddr is gateway i's HL1 TCP address.
func (b *Bed) GatewayTCPAddr(i int) string { return fmt.Sprintf("%s:%d", b.GWHosts[i].IP, GatewayTCP) }

// MetricsURL is gateway i's Prometheus endpoint.
func (b *Bed) MetricsURL(i int) string {
	return fmt.Sprintf("http://%s:%d/metrics", b.GWHosts[i].IP, GatewayAdm)
}
