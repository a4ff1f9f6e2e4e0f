package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"

	"heartline/agent/shared/wiring"
	"heartline/protocol/presencekv"
)

// config is the serve command's settings. Every flag has an environment equivalent
// HEARTLINE_<FLAG> (upper case, '-' as '_'; e.g. HEARTLINE_KEY_FILE); a flag on the command
// line wins. The listen address defaults to ":$PORT" (PORT default 8080). Consul client
// settings come from consul/api's own environment (CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN,
// CONSUL_CACERT, …); -consul-addr and -consul-token override them.
type config struct {
	Addr            string
	AdminAddr       string
	DB              string
	DemoMembers     int
	BaseURL         string
	DevOutbox       bool
	SMTPAddr        string
	SMTPFrom        string
	SMTPUser        string
	SMTPPassword    string
	DemoPassword    string
	KeyFile         string
	CookieKeyFile   string
	SecureCookies   bool
	TrustProxy      bool
	ConsulAddr      string
	ConsulToken     string
	Prefix          string
	ServiceName     string
	TokenTTL        time.Duration
	Interval        time.Duration
	PageSize        int
	LogLevel        string
	ShutdownTimeout time.Duration
	SSEPing         time.Duration
	LoginIPBurst    int
	LoginIPEvery    time.Duration
	LoginAcctBurst  int
	LoginAcctEvery  time.Duration
	GrantTTL        time.Duration
	HashConcurrency int
	SSEMax          int
	SSEPerAddr      int
	SSEPerMember    int
}

func parseConfig(args []string) (*config, error) {
	c := &config{}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	fs := flag.NewFlagSet("site", flag.ContinueOnError)
	fs.StringVar(&c.Addr, "addr", ":"+port, "listen address (default :$PORT, PORT default 8080)")
	fs.StringVar(&c.AdminAddr, "admin-addr", "127.0.0.1:9103", "address of /metrics, /healthz and /readyz for operators (empty: off)")
	fs.StringVar(&c.DB, "db", "heartline.db", "member database: a SQLite file path (created when missing) or a postgres:// URL (PostgreSQL)")
	fs.IntVar(&c.DemoMembers, "demo-members", 0, "demo members (published password!) to generate when the database has no members; demos only (0: none)")
	fs.StringVar(&c.BaseURL, "base-url", "", "public URL of the site for links in e-mails (e.g. https://example.com); empty: from each request's Host")
	fs.BoolVar(&c.DevOutbox, "dev-outbox", false, "serve GET /outbox with the newest e-mails and their links (local demos only)")
	fs.StringVar(&c.SMTPAddr, "smtp-addr", "", "SMTP relay host:port for verification mails; empty: mails are written to the log")
	fs.StringVar(&c.SMTPFrom, "smtp-from", "noreply@heartline.invalid", "sender address of the site's e-mails")
	fs.StringVar(&c.SMTPUser, "smtp-user", "", "SMTP PLAIN auth user (empty: no auth)")
	fs.StringVar(&c.SMTPPassword, "smtp-password", "", "SMTP password (prefer the HEARTLINE_SMTP_PASSWORD environment variable)")
	fs.StringVar(&c.DemoPassword, "demo-password", "heartline-demo-1", "password of generated demo members (demo only)")
	fs.StringVar(&c.KeyFile, "key-file", "", "heartbeat key file (protocol/token format, shared with the gateways); empty: POST /api/session answers 503")
	fs.StringVar(&c.CookieKeyFile, "cookie-key-file", "", "file with the secret (>= 32 bytes) signing session cookies and CSRF tokens; empty: random per start")
	fs.BoolVar(&c.SecureCookies, "secure-cookies", true, "mark cookies Secure and send HSTS (turn off only for local plain-HTTP demos)")
	fs.BoolVar(&c.TrustProxy, "trust-proxy", false, "take the client IP from X-Forwarded-For (only behind a proxy that sets it)")
	fs.StringVar(&c.ConsulAddr, "consul-addr", "", "Consul HTTP address (default: CONSUL_HTTP_ADDR or 127.0.0.1:8500)")
	fs.StringVar(&c.ConsulToken, "consul-token", "", "Consul ACL token (default: CONSUL_HTTP_TOKEN)")
	fs.StringVar(&c.Prefix, "prefix", "heartline", "KV prefix of the Heartline keys the watcher follows")
	fs.StringVar(&c.ServiceName, "service-name", "heartline-gateway", "Consul service name of the gateways")
	fs.DurationVar(&c.TokenTTL, "token-ttl", 24*time.Hour, "lifetime of heartbeat tokens issued at POST /api/session")
	fs.DurationVar(&c.Interval, "heartbeat-interval", 10*time.Second, "heartbeat interval announced to apps (the gateway's WELCOME is authoritative)")
	fs.IntVar(&c.PageSize, "page-size", 24, "members per page")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "how long a graceful shutdown may take")
	fs.DurationVar(&c.SSEPing, "sse-ping", 15*time.Second, "interval of SSE keep-alive comments")
	fs.IntVar(&c.LoginIPBurst, "login-ip-burst", 20, "login/sign-up attempts per client IP before the limit applies")
	fs.DurationVar(&c.LoginIPEvery, "login-ip-every", 6*time.Second, "after the burst, one attempt per client IP per this interval")
	fs.IntVar(&c.LoginAcctBurst, "login-account-burst", 5, "failed logins per account before the limit applies")
	fs.DurationVar(&c.LoginAcctEvery, "login-account-every", time.Minute, "after the burst, one failed login per account per this interval")
	fs.DurationVar(&c.GrantTTL, "grant-ttl", 10*time.Minute, "lifetime of presence grants for apps (POST /api/grant); revocations are kept this long in Consul")
	fs.IntVar(&c.HashConcurrency, "hash-concurrency", runtime.GOMAXPROCS(0), "password hashes (argon2id, 19 MiB each) running at once, for all clients together; a login that waits over 2 s for a slot gets 429")
	fs.IntVar(&c.SSEMax, "sse-max", 10000, "live (SSE) streams in total; beyond: 503")
	fs.IntVar(&c.SSEPerAddr, "sse-max-per-addr", 20, "live (SSE) streams per client address (IPv4 address, IPv6 /64); beyond: 429")
	fs.IntVar(&c.SSEPerMember, "sse-max-per-member", 10, "live (SSE) streams per signed-in member; beyond: 429")
	if err := wiring.ApplyEnv(fs, os.LookupEnv); err != nil {
		return nil, err
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if c.LoginIPBurst < 1 || c.LoginAcctBurst < 1 || c.LoginIPEvery <= 0 || c.LoginAcctEvery <= 0 {
		return nil, fmt.Errorf("login limits: bursts must be >= 1 and intervals positive")
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q (commands: serve, seed, import)", fs.Args())
	}
	if err := presencekv.ValidatePrefix(c.Prefix); err != nil {
		return nil, fmt.Errorf("-prefix: %w", err)
	}
	if c.DemoMembers < 0 || c.DemoMembers > 1_000_000 {
		return nil, fmt.Errorf("-demo-members %d: use 0..1000000", c.DemoMembers)
	}
	if c.HashConcurrency < 1 {
		return nil, fmt.Errorf("-hash-concurrency %d: use >= 1", c.HashConcurrency)
	}
	if c.SSEMax < 1 || c.SSEPerAddr < 1 || c.SSEPerMember < 1 {
		return nil, fmt.Errorf("-sse-max, -sse-max-per-addr and -sse-max-per-member must be >= 1")
	}
	if c.GrantTTL < time.Minute || c.GrantTTL > 24*time.Hour {
		return nil, fmt.Errorf("-grant-ttl %v: use 1m..24h (revocations are kept this long)", c.GrantTTL)
	}
	if c.PageSize < 1 || c.PageSize > 200 {
		return nil, fmt.Errorf("-page-size %d: use 1..200", c.PageSize)
	}
	if err := wiring.CheckLogLevel(c.LogLevel); err != nil {
		return nil, err
	}
	return c, nil
}
