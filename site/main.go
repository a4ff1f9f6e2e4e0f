// Command site is the Heartline site process. See doc.go.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"heartline/agent/privacywatch"
	"heartline/agent/shared/wiring"
	"heartline/agent/watcher"
	"heartline/protocol/privacy"
	"heartline/protocol/token"
	"heartline/site/internal/activity"
	"heartline/site/internal/auth"
	"heartline/site/internal/catalog"
	"heartline/site/internal/live"
	"heartline/site/internal/mail"
	"heartline/site/internal/members"
	"heartline/site/internal/store"
	"heartline/site/internal/visibility"
	"heartline/site/internal/web"
)

func main() {
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 && (args[0] == "serve" || args[0] == "seed" || args[0] == "import") {
		cmd, args = args[0], args[1:]
	}
	if tool := map[string]func([]string, io.Writer) error{"seed": seedCommand, "import": importCommand}[cmd]; tool != nil {
		if err := tool(args, os.Stdout); err != nil {
			if !errors.Is(err, flag.ErrHelp) {
				fmt.Fprintf(os.Stderr, "site %s: %v\n", cmd, err)
			}
			os.Exit(2)
		}
		return
	}
	cfg, err := parseConfig(args)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "site:", err)
		}
		os.Exit(2)
	}
	log, err := wiring.Logger(cfg.LogLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "site:", err)
		os.Exit(2)
	}
	defer log.Sync() //nolint:errcheck
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		log.Fatal("site: cannot listen", zap.String("addr", cfg.Addr), zap.Error(err))
	}
	if err := run(ctx, cfg, ln, log); err != nil {
		log.Fatal("site failed", zap.Error(err))
	}
}

// consulClient builds the client from consul/api's environment plus the flags.
func consulClient(cfg *config) (*api.Client, error) {
	return wiring.Consul(wiring.ConsulOptions{Addr: cfg.ConsulAddr, Token: cfg.ConsulToken})
}

// watcherSource adapts the watcher to live.Source.
type watcherSource struct{ w *watcher.Watcher }

func (s watcherSource) Lookup(u uint64) watcher.Presence { return s.w.Lookup(u) }
func (s watcherSource) OnlineUsers() int                 { return s.w.Stats().OnlineUsers }

// openStore opens the database (migrating it) and seeds demo members into an empty one.
func openStore(ctx context.Context, cfg *config, log *zap.Logger) (*store.Store, error) {
	st, err := store.Open(ctx, store.Options{DSN: cfg.DB})
	if err != nil {
		return nil, err
	}
	n, err := st.CountMembers(ctx)
	if err != nil {
		st.Close()
		return nil, err
	}
	if n == 0 && cfg.DemoMembers > 0 {
		if _, err := st.MemberByID(ctx, members.FirstDemoID); errors.Is(err, store.ErrNotFound) {
			start := time.Now()
			if err := seed(ctx, st, cfg.DemoMembers, 1, cfg.DemoPassword); err != nil {
				st.Close()
				return nil, err
			}
			log.Info("site: empty database; generated demo members", zap.Int("n", cfg.DemoMembers), zap.Duration("took", time.Since(start)))
		}
	}
	log.Info("site: database ready", zap.String("engine", string(st.Engine())))
	return st, nil
}

// run serves until ctx ends, then shuts down gracefully.
func run(ctx context.Context, cfg *config, ln net.Listener, log *zap.Logger) error {
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	var ring *token.KeyRing
	if cfg.KeyFile != "" {
		if ring, err = token.LoadKeyRing(cfg.KeyFile); err != nil {
			return err
		}
	} else {
		log.Warn("site: no -key-file: POST /api/session will answer 503 (apps cannot get heartbeat credentials)")
	}
	keys := auth.RandomKeys(cfg.SecureCookies)
	if cfg.CookieKeyFile != "" {
		b, err := os.ReadFile(cfg.CookieKeyFile)
		if err != nil {
			return fmt.Errorf("-cookie-key-file: %w", err)
		}
		if keys, err = auth.NewKeys(b, cfg.SecureCookies); err != nil {
			return fmt.Errorf("-cookie-key-file %s: %w", cfg.CookieKeyFile, err)
		}
	} else {
		log.Warn("site: no -cookie-key-file: logins do not survive a restart")
	}
	if !cfg.SecureCookies {
		log.Warn("site: -secure-cookies=false: cookies are sent over plain HTTP (local demo only)")
	}
	cc, err := consulClient(cfg)
	if err != nil {
		return fmt.Errorf("consul client: %w", err)
	}
	w, err := watcher.New(watcher.Options{Client: cc, Prefix: cfg.Prefix, Log: log.Named("watcher")})
	if err != nil {
		return err
	}
	view, err := privacywatch.New(privacywatch.Options{Client: cc, Prefix: cfg.Prefix, Log: log.Named("privacy")})
	if err != nil {
		return err
	}
	var grantKeys privacy.Keys
	if ring != nil {
		grantKeys = ring
	}
	policy, err := visibility.New(visibility.Options{Store: st, View: view, Keys: grantKeys, GrantTTL: cfg.GrantTTL,
		Records: &privacywatch.Writer{Client: cc, Prefix: cfg.Prefix, Keep: cfg.GrantTTL}, Log: log.Named("visibility")})
	if err != nil {
		return err
	}
	src := live.HidingSource{Source: watcherSource{w}, View: view} // the count leaves invisible members out
	hub := live.NewHub(live.Options{Source: src, Privacy: view, Ping: cfg.SSEPing, MaxClients: cfg.SSEMax,
		MaxPerAddr: cfg.SSEPerAddr, MaxPerMember: cfg.SSEPerMember, Log: log.Named("live")})
	view.Subscribe(func(c privacywatch.Change) { hub.PrivacyChanged(c.Subjects) })
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registerLiveMetrics(reg, hub, w, view)
	limits := &auth.LoginLimits{IP: auth.NewLimiter(cfg.LoginIPBurst, cfg.LoginIPEvery, 100_000),
		Account: auth.NewLimiter(cfg.LoginAcctBurst, cfg.LoginAcctEvery, 100_000)}
	if cfg.DevOutbox {
		log.Warn("site: -dev-outbox: GET /outbox shows every e-mail with its links (local demo only)")
	}
	sender := mail.New(mail.Options{Store: st, SMTP: mail.SMTP{Addr: cfg.SMTPAddr, From: cfg.SMTPFrom, User: cfg.SMTPUser, Password: cfg.SMTPPassword},
		Log: log.Named("mail")})
	srv, err := web.New(web.Options{Registry: reg, Limits: limits, Store: st, Keys: keys, Hub: hub, Presence: src, Privacy: policy, KeyRing: ring,
		Gateways: catalog.New(catalog.Options{Client: cc, Service: cfg.ServiceName}), TokenTTL: cfg.TokenTTL,
		Interval: cfg.Interval, PageSize: cfg.PageSize, Ready: func() bool { return w.Ready() && view.Ready() }, TrustProxy: cfg.TrustProxy,
		Mail: sender, BaseURL: cfg.BaseURL, DevOutbox: cfg.DevOutbox,
		DemoHint: demoHint(ctx, st, cfg.DemoMembers), HashConcurrency: cfg.HashConcurrency, Log: log.Named("http")})
	if err != nil {
		return err
	}

	bg, cancelBG := context.WithCancel(context.Background())
	defer cancelBG()
	sub := w.Subscribe(4096, nil)
	// Presence transitions move members' last-active times (the list's sort order).
	actSub := w.Subscribe(1<<16, nil)
	follower := activity.New(st, log.Named("activity"))
	follower.Hidden = func(u uint64) bool { return view.Subject(u).Mode != privacy.ModeMembers }
	done := make(chan struct{}, 7)
	go func() { w.Run(bg); done <- struct{}{} }()    //nolint:errcheck
	go func() { view.Run(bg); done <- struct{}{} }() //nolint:errcheck
	go func() { republish(bg, policy, hub, log); done <- struct{}{} }()
	go func() { hub.Run(bg, live.WatcherSubscription{S: sub}); done <- struct{}{} }() //nolint:errcheck
	go func() { follower.Run(bg, actSub.C, time.Second); done <- struct{}{} }()
	go func() { sender.Run(bg); done <- struct{}{} }()
	go func() { purgeSessions(bg, st, log); done <- struct{}{} }()

	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10, ErrorLog: zap.NewStdLog(log.Named("http"))}
	// No WriteTimeout: SSE streams are long; the hub sets a deadline per write instead.
	hs.RegisterOnShutdown(hub.Close) // ends SSE streams, which Shutdown would otherwise wait for
	errc := make(chan error, 2)
	go func() { errc <- hs.Serve(ln) }()
	var admin *http.Server
	if cfg.AdminAddr != "" {
		aln, err := net.Listen("tcp", cfg.AdminAddr)
		if err != nil {
			return fmt.Errorf("-admin-addr %s: %w", cfg.AdminAddr, err)
		}
		admin = &http.Server{Handler: adminMux(reg, w.Ready), ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- admin.Serve(aln) }()
		log.Info("site admin listening", zap.String("addr", aln.Addr().String()))
	}
	log.Info("site listening", zap.String("addr", ln.Addr().String()), zap.String("prefix", cfg.Prefix))

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("site shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	cancelBG()
	if admin != nil {
		admin.Shutdown(sctx) //nolint:errcheck
	}
	err = hs.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		hs.Close() //nolint:errcheck
	}
	w.Unsubscribe(sub)
	w.Unsubscribe(actSub)
	for range 7 {
		<-done
	}
	log.Info("site stopped")
	return nil
}

// republish waits for the privacy view's first read, resyncs the SSE streams opened before
// it (they were shown nobody: the view fails closed), then writes the visibility modes the
// database holds into Consul where they are missing (a fresh Consul, a lost key).
func republish(ctx context.Context, p *visibility.Policy, hub *live.Hub, log *zap.Logger) {
	for !p.View().Ready() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
	hub.ResyncAll()
	if n, err := p.Republish(ctx); err != nil {
		log.Warn("site: republishing visibility modes to Consul", zap.Error(err))
	} else if n > 0 {
		log.Info("site: republished visibility modes to Consul", zap.Int("members", n))
	}
}

// purgeSessions deletes expired login sessions hourly until ctx ends.
func purgeSessions(ctx context.Context, st *store.Store, log *zap.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := st.PurgeExpiredSessions(ctx); err != nil {
				log.Warn("site: purging expired sessions", zap.Error(err))
			} else if n > 0 {
				log.Info("site: purged expired sessions", zap.Int("n", n))
			}
		}
	}
}

// demoHint is the demo e-mail the login page shows: only when this start asked for demo
// members (-demo-members > 0), never on a production site that happens to hold some.
func demoHint(ctx context.Context, st *store.Store, demoMembers int) string {
	if demoMembers <= 0 {
		return ""
	}
	if m, err := st.MemberByID(ctx, members.FirstDemoID); err == nil && m.Demo {
		return m.Email
	}
	return ""
}
