// Package config holds the gateway's command-line flags and their HEARTLINE_* environment
// equivalents (flag -udp-addr <-> HEARTLINE_UDP_ADDR; a flag given on the command line
// wins over the environment; the mapping is agent/shared/wiring's, as in every process).
// It owns the gateway's flags, parsing and validation only.
package config

import (
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"time"

	"heartline/agent/shared/wiring"
)

// Config is the gateway's configuration.
type Config struct {
	UDPAddr       string
	TCPAddr       string
	SecretFile    string
	Interval      time.Duration
	Misses        int
	Grace         time.Duration
	Debounce      time.Duration
	Batch         int
	Loops         int
	MaxSessions   int
	FeedSocket    string
	FlushInterval time.Duration
	AdminAddr     string
	GatewayID     string
	RecvBuffer    int
	MaxClockSkew  time.Duration
	HelloRate     float64
	HelloBurst    float64
	TCPIdle       time.Duration
	TCPSendBuffer int
	// TCP connection rules (PROTOCOL.md "TCP"); see tcp.Options.
	TCPLoops           int
	TCPAuthTimeout     time.Duration
	TCPMaxConns        int
	TCPMaxConnsPerAddr int
	Coalesce           time.Duration
	LogLevel           string
	// Drain (SIGTERM or POST /drain on the admin port): see ingest.Drain.
	DrainTimeout   time.Duration
	DrainRate      float64
	DrainPerSource float64
	Relays         []netip.Prefix // sources allowed to send BATCH (-relays)
	// App subscriptions (live sync).
	ConsulAddr       string
	Prefix           string
	MaxSubscriptions int
	SlowGrace        time.Duration
	// Subscriptions is true when Consul is configured (-consul-addr or CONSUL_HTTP_ADDR):
	// the gateway then runs a watcher and serves SUBSCRIBE.
	Subscriptions bool
}

// EnvName returns the environment variable of a flag.
func EnvName(flagName string) string { return wiring.EnvName(flagName) }

// Parse reads args (without the program name) and the environment through lookup
// (os.LookupEnv in production).
func Parse(args []string, lookup func(string) (string, bool), errOut io.Writer) (Config, error) {
	var c Config
	host, _ := os.Hostname()
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.StringVar(&c.UDPAddr, "udp-addr", ":7946", "UDP listen address for HL1 datagrams")
	fs.StringVar(&c.TCPAddr, "tcp-addr", ":7947", "TCP listen address for length-prefixed HL1 (empty disables)")
	fs.StringVar(&c.SecretFile, "secret-file", "", "key ring file (`<key_id> <hex_secret> [current]` lines, see protocol/token); required")
	fs.DurationVar(&c.Interval, "interval", 10*time.Second, "heartbeat interval announced to clients")
	fs.IntVar(&c.Misses, "misses", 3, "missed heartbeats before a session expires")
	fs.DurationVar(&c.Grace, "grace", 2*time.Second, "added to interval x misses before expiry")
	fs.DurationVar(&c.Debounce, "debounce", 5*time.Second, "flap suppression: an expired session back within this window produces no offline/online pair")
	fs.IntVar(&c.Batch, "batch", 64, "datagrams per recvmmsg call")
	fs.IntVar(&c.Loops, "loops", runtime.GOMAXPROCS(0), "UDP ingest loops (SO_REUSEPORT sockets, one table shard each)")
	fs.IntVar(&c.MaxSessions, "max-sessions", 2<<20, "session capacity (memory is reserved up front, ~64 bytes each)")
	fs.StringVar(&c.FeedSocket, "feed-socket", "/run/heartline/feed.sock", "Unix socket the agent connects to for the presence feed")
	fs.DurationVar(&c.FlushInterval, "flush-interval", 50*time.Millisecond, "feed batching interval")
	fs.StringVar(&c.AdminAddr, "admin-addr", "127.0.0.1:9464", "admin HTTP address (/healthz, /readyz, /metrics, POST /drain): loopback by default; give a private address if Prometheus or the Consul check reach it from elsewhere")
	fs.StringVar(&c.GatewayID, "gateway-id", host, "this gateway's id (sent to the agent)")
	fs.IntVar(&c.RecvBuffer, "rcvbuf", 16<<20, "SO_RCVBUF bytes requested per UDP socket (SO_RCVBUFFORCE when permitted)")
	fs.DurationVar(&c.MaxClockSkew, "max-clock-skew", 5*time.Minute, "reject HELLOs whose client clock is further off")
	fs.Float64Var(&c.HelloRate, "hello-rate", 5, "HELLOs per second per source address")
	fs.Float64Var(&c.HelloBurst, "hello-burst", 20, "HELLO burst per source address")
	fs.DurationVar(&c.TCPIdle, "tcp-idle", 0, "close authenticated TCP connections silent for this long (CLOSE 5); 0: interval x misses + grace, as PROTOCOL.md says")
	fs.DurationVar(&c.TCPAuthTimeout, "tcp-auth-timeout", 5*time.Second, "close TCP connections not authenticated (no WELCOME) this long after they opened, whatever they send (CLOSE 5)")
	fs.IntVar(&c.TCPLoops, "tcp-loops", 1, "gnet event loops of the TCP listener (they only frame bytes; one worker applies the frames)")
	fs.IntVar(&c.TCPMaxConns, "tcp-max-conns", 100000, "open TCP connections; more are closed at accept (counted)")
	fs.IntVar(&c.TCPMaxConnsPerAddr, "tcp-max-conns-per-addr", 256, "open TCP connections per client IPv4 address or IPv6 /64; more are closed at accept (counted). Many apps behind one carrier NAT share an address: raise it if too_many_from_address closes hit real users")
	fs.IntVar(&c.TCPSendBuffer, "tcp-sndbuf", 0, "SO_SNDBUF bytes per TCP connection (bounds kernel memory per app connection); 0: kernel default")
	fs.DurationVar(&c.Coalesce, "coalesce", time.Millisecond, "after a partly filled recvmmsg batch, wait this long so datagrams accumulate (fewer wake-ups; adds at most this latency); negative disables")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 2*time.Minute, "on SIGTERM, drain first: ask apps to move (REHELLO 4) and wait up to this long until no session is left before stopping; 0 stops at once")
	fs.Float64Var(&c.DrainRate, "drain-rate", 2000, "apps a draining gateway asks to move per second (the HELLOs per second the rest of the fleet must absorb)")
	fs.Float64Var(&c.DrainPerSource, "drain-rate-per-source", 2.5, "apps a draining gateway asks to move per second per source address; keep it at or below the other gateways' -hello-rate so apps behind one NAT address are never refused")
	fs.Func("relays", "comma-separated addresses or prefixes (10.1.0.0/16, 2001:db8::/48, 10.1.2.3) of the relays allowed to send BATCH frames; BATCH from anyone else is dropped (not_a_relay). Default: none", func(v string) error {
		p, err := ParseRelays(v)
		c.Relays = p
		return err
	})
	fs.StringVar(&c.ConsulAddr, "consul-addr", "", "Consul HTTP address for app subscriptions (default: CONSUL_HTTP_ADDR; neither set disables subscriptions)")
	fs.StringVar(&c.Prefix, "prefix", "heartline", "KV prefix of the Heartline keys in Consul (as the agent's -prefix)")
	fs.IntVar(&c.MaxSubscriptions, "max-subscriptions", 1000, "users one TCP connection may subscribe to (more: CLOSE too many subscriptions)")
	fs.DurationVar(&c.SlowGrace, "slow-consumer-grace", 5*time.Second, "an app connection that cannot take its pending EVENTs for this long is closed (CLOSE slow consumer)")

	if err := wiring.ApplyEnv(fs, lookup); err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	consulEnv, _ := lookup("CONSUL_HTTP_ADDR")
	c.Subscriptions = c.ConsulAddr != "" || consulEnv != ""
	return c, c.Validate()
}

// ParseRelays parses the -relays list: comma-separated prefixes or single addresses.
func ParseRelays(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("-relays: %q is neither an address nor a prefix (want e.g. 10.1.0.0/16 or 10.1.2.3)", f)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("-relays: %q is not a prefix (want e.g. 10.1.0.0/16): %v", f, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Validate checks the values make sense together.
func (c Config) Validate() error {
	switch {
	case c.SecretFile == "":
		return fmt.Errorf("config: -secret-file (or %s) is required: the key ring file shared with the site", EnvName("secret-file"))
	case c.Interval < 100*time.Millisecond:
		return fmt.Errorf("config: -interval %v is too short (min 100ms)", c.Interval)
	case c.Misses < 1:
		return fmt.Errorf("config: -misses must be >= 1")
	case c.Grace < 0 || c.Debounce < 0:
		return fmt.Errorf("config: -grace and -debounce must be >= 0")
	case c.Batch < 1 || c.Batch > 1024:
		return fmt.Errorf("config: -batch must be 1..1024")
	case c.Loops < 1 || c.Loops > 64:
		return fmt.Errorf("config: -loops must be 1..64")
	case c.MaxSessions < c.Loops+1:
		return fmt.Errorf("config: -max-sessions too small")
	case c.FeedSocket == "":
		return fmt.Errorf("config: -feed-socket is required")
	case len(c.GatewayID) == 0 || len(c.GatewayID) > 128:
		return fmt.Errorf("config: -gateway-id must be 1..128 bytes")
	case c.MaxSubscriptions < 1:
		return fmt.Errorf("config: -max-subscriptions must be >= 1")
	case c.SlowGrace <= 0:
		return fmt.Errorf("config: -slow-consumer-grace must be > 0")
	case c.DrainTimeout < 0 || c.DrainRate <= 0 || c.DrainPerSource <= 0:
		return fmt.Errorf("config: -drain-timeout must be >= 0, -drain-rate and -drain-rate-per-source > 0")
	case c.TCPIdle < 0 || c.TCPAuthTimeout <= 0:
		return fmt.Errorf("config: -tcp-idle must be >= 0 (0: interval x misses + grace) and -tcp-auth-timeout > 0")
	case c.TCPLoops < 1 || c.TCPLoops > 64 || c.TCPMaxConns < 1 || c.TCPMaxConnsPerAddr < 1:
		return fmt.Errorf("config: -tcp-loops must be 1..64, -tcp-max-conns and -tcp-max-conns-per-addr >= 1")
	case c.Prefix == "":
		return fmt.Errorf("config: -prefix must not be empty (the agent's default is \"heartline\")")
	}
	if err := wiring.CheckLogLevel(c.LogLevel); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}
