package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"heartline/agent/shared/wiring"
	"heartline/protocol/presencekv"
)

// config is everything the agent is told at start. Every flag has an environment
// equivalent HEARTLINE_<FLAG> (upper case, '-' as '_'); a flag on the command line wins.
// Consul client settings come from consul/api's own environment (CONSUL_HTTP_ADDR,
// CONSUL_HTTP_TOKEN, CONSUL_CACERT, CONSUL_CLIENT_CERT, CONSUL_CLIENT_KEY,
// CONSUL_TLS_SERVER_NAME, ...); -consul-addr and -consul-token override them when set.
// All of that is agent/shared/wiring's, the same in every process.
type config struct {
	GatewayID       string
	FeedSocket      string
	GatewayAdmin    string
	GatewayAddress  string
	UDPPort         int
	TCPPort         int
	ServiceName     string
	Register        bool
	ConsulAddr      string
	ConsulToken     string
	Prefix          string
	Buckets         uint
	SessionTTL      time.Duration
	CheckInterval   time.Duration
	CheckTimeout    time.Duration
	DeregisterAfter time.Duration
	FlushWindow     time.Duration
	FlushBuckets    int
	Lanes           int
	MaxOps          int
	Retention       time.Duration
	HTTPAddr        string
	LogLevel        string
	ShutdownTimeout time.Duration
	RejoinEvery     time.Duration
	RejoinAddrs     []string
	ProbeEvery      time.Duration
	CutOffAfter     int
}

func parseConfig(args []string) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.StringVar(&c.GatewayID, "gateway-id", "", "id of the gateway this agent serves (required; letters, digits, '.', '_', '-')")
	fs.StringVar(&c.FeedSocket, "feed-socket", "/run/heartline/feed.sock", "the gateway's feed Unix socket")
	fs.StringVar(&c.GatewayAdmin, "gateway-admin", "http://127.0.0.1:9464", "the gateway's admin base URL; Consul checks <url>/healthz")
	fs.StringVar(&c.GatewayAddress, "gateway-address", "", "address apps use to reach the gateway (empty: the Consul node's address)")
	fs.IntVar(&c.UDPPort, "gateway-udp-port", 7946, "the gateway's UDP heartbeat port (service port and meta udp_port)")
	fs.IntVar(&c.TCPPort, "gateway-tcp-port", 7947, "the gateway's TCP port (meta tcp_port)")
	fs.StringVar(&c.ServiceName, "service-name", "heartline-gateway", "Consul service name of the gateway")
	fs.BoolVar(&c.Register, "register", true, "register the gateway service and tie the session to its check")
	fs.StringVar(&c.ConsulAddr, "consul-addr", "", "Consul HTTP address (default: CONSUL_HTTP_ADDR or 127.0.0.1:8500)")
	fs.StringVar(&c.ConsulToken, "consul-token", "", "Consul ACL token (default: CONSUL_HTTP_TOKEN)")
	fs.StringVar(&c.Prefix, "prefix", "heartline", "KV prefix of all Heartline keys")
	fs.UintVar(&c.Buckets, "buckets", presencekv.DefaultBuckets, "bucket count; must match <prefix>/config when the cluster already has one")
	fs.DurationVar(&c.SessionTTL, "session-ttl", 15*time.Second, "Consul session TTL (Consul may take up to 2x this to invalidate)")
	fs.DurationVar(&c.CheckInterval, "check-interval", 5*time.Second, "interval of the gateway health check")
	fs.DurationVar(&c.CheckTimeout, "check-timeout", 2*time.Second, "timeout of the gateway health check (must be below -session-ttl)")
	fs.DurationVar(&c.DeregisterAfter, "deregister-after", time.Minute, "Consul removes the service after its check has been critical this long")
	fs.DurationVar(&c.FlushWindow, "flush-window", 200*time.Millisecond, "how long transitions are coalesced before a flush")
	fs.IntVar(&c.FlushBuckets, "flush-buckets", 0, "flush before the window ends once this many buckets are dirty (default: a quarter of -buckets)")
	fs.IntVar(&c.Lanes, "lanes", 4, "writer lanes: transactions in flight at once")
	fs.IntVar(&c.MaxOps, "max-ops", 128, "operations per transaction (Consul's limit is 128)")
	fs.DurationVar(&c.Retention, "lastseen-retention", 7*24*time.Hour, "how long last-seen times of offline users are kept (personal data: others see only 'today' / 'this week')")
	fs.StringVar(&c.HTTPAddr, "http-addr", "127.0.0.1:9102", "address of the query API, /healthz, /readyz and /metrics")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "how long a graceful shutdown may take")
	fs.DurationVar(&c.RejoinEvery, "consul-rejoin-every", 5*time.Second, "how often to check that the local Consul agent has not marked a server failed, and ask it to rejoin those (every 2s while one is); 0 disables")
	fs.DurationVar(&c.ProbeEvery, "consul-probe-every", time.Second, "how often to ask the Consul servers for their leader through the local agent; after -cut-off-after failures in a row the gateway refuses new sessions (REHELLO 5) until one succeeds; 0 disables")
	fs.IntVar(&c.CutOffAfter, "cut-off-after", 3, "failed Consul probes in a row that make this host cut off (see -consul-probe-every)")
	fs.Func("consul-rejoin-addrs", "comma-separated Consul server serf LAN `addresses` (host or host:port, default port 8301) the local Consul agent is asked to join when it lists no live server", func(v string) error {
		c.RejoinAddrs = nil
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				c.RejoinAddrs = append(c.RejoinAddrs, a)
			}
		}
		return nil
	})
	if err := wiring.ApplyEnv(fs, os.LookupEnv); err != nil {
		return nil, err
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if c.FlushBuckets <= 0 {
		c.FlushBuckets = max(int(c.Buckets)/4, 1)
	}
	return c, c.validate()
}

func (c *config) validate() error {
	var errs []error
	if err := presencekv.ValidateGatewayID(c.GatewayID); err != nil {
		errs = append(errs, fmt.Errorf("-gateway-id: %w", err))
	}
	if err := presencekv.ValidatePrefix(c.Prefix); err != nil {
		errs = append(errs, fmt.Errorf("-prefix: %w", err))
	}
	if c.Buckets > presencekv.MaxBuckets {
		errs = append(errs, fmt.Errorf("-buckets %d exceeds %d", c.Buckets, presencekv.MaxBuckets))
	} else if err := presencekv.ValidateBuckets(uint32(c.Buckets)); err != nil {
		errs = append(errs, fmt.Errorf("-buckets: %w", err))
	}
	if c.SessionTTL < 10*time.Second {
		errs = append(errs, fmt.Errorf("-session-ttl %s is below Consul's default minimum of 10s", c.SessionTTL))
	}
	if c.CheckTimeout >= c.SessionTTL {
		errs = append(errs, fmt.Errorf("-check-timeout %s must be below -session-ttl %s", c.CheckTimeout, c.SessionTTL))
	}
	if c.MaxOps < 3 || c.MaxOps > 128 {
		errs = append(errs, fmt.Errorf("-max-ops %d: use 3..128", c.MaxOps))
	}
	if c.Lanes < 1 || c.Lanes > 64 {
		errs = append(errs, fmt.Errorf("-lanes %d: use 1..64", c.Lanes))
	}
	if c.RejoinEvery < 0 {
		errs = append(errs, fmt.Errorf("-consul-rejoin-every %s: use 0 (off) or a positive duration", c.RejoinEvery))
	}
	if len(c.RejoinAddrs) > 0 && c.RejoinEvery == 0 {
		errs = append(errs, errors.New("-consul-rejoin-addrs is set but -consul-rejoin-every is 0 (off)"))
	}
	if c.ProbeEvery < 0 {
		errs = append(errs, fmt.Errorf("-consul-probe-every %s: use 0 (off) or a positive duration", c.ProbeEvery))
	}
	if c.CutOffAfter < 1 {
		errs = append(errs, fmt.Errorf("-cut-off-after %d: use 1 or more", c.CutOffAfter))
	}
	if c.FlushWindow <= 0 {
		errs = append(errs, errors.New("-flush-window must be positive"))
	}
	if err := wiring.CheckLogLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
