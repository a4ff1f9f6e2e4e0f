// Command agent is the Heartline agent process. See doc.go.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"heartline/agent/internal/consulrejoin"
	"heartline/agent/internal/consulwriter"
	"heartline/agent/internal/feedclient"
	"heartline/agent/internal/metrics"
	"heartline/agent/internal/queryapi"
	"heartline/agent/internal/state"
	"heartline/agent/internal/upstream"
	"heartline/agent/shared/clock"
	"heartline/agent/shared/wiring"
	"heartline/agent/watcher"
	feedproto "heartline/protocol/feed"
)

func main() {
	cfg, err := parseConfig(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		os.Exit(2)
	}
	log, err := wiring.Logger(cfg.LogLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		os.Exit(2)
	}
	defer log.Sync() //nolint:errcheck
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("agent failed", zap.Error(err))
		os.Exit(1)
	}
	log.Info("agent stopped")
}

// consulClient builds the client from consul/api's environment plus the flags.
func consulClient(cfg *config) (*api.Client, error) {
	return wiring.Consul(wiring.ConsulOptions{Addr: cfg.ConsulAddr, Token: cfg.ConsulToken})
}

// rejoinJoinTimeout bounds one call of the rejoiner: a join to an unreachable server blocks
// in the local agent until memberlist's TCP timeout (10 s).
const rejoinJoinTimeout = 3 * time.Second

// startRejoiner runs the rejoiner (agent/consulrejoin) on its own client with a short
// HTTP timeout, until ctx ends; wait returns when it has stopped. Off when -consul-rejoin-every is 0.
func startRejoiner(ctx context.Context, cfg *config, log *zap.Logger, m *metrics.Agent) (wait func(), err error) {
	if cfg.RejoinEvery <= 0 {
		log.Info("Consul rejoiner off (-consul-rejoin-every 0)")
		return func() {}, nil
	}
	client, err := wiring.Consul(wiring.ConsulOptions{Addr: cfg.ConsulAddr, Token: cfg.ConsulToken, Timeout: rejoinJoinTimeout})
	if err != nil {
		return nil, fmt.Errorf("Consul client for the rejoiner: %w", err)
	}
	rj, err := consulrejoin.New(consulrejoin.Options{Agent: client.Agent(), Every: cfg.RejoinEvery,
		Addrs: cfg.RejoinAddrs, Log: log.Named("consulrejoin"), Metrics: m})
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() { defer close(done); rj.Run(ctx) }()
	return func() { <-done }, nil
}

// retry runs f until it succeeds or ctx ends, with backoff; for start-up steps that need
// Consul, which may come up after the agent.
func retry(ctx context.Context, log *zap.Logger, what string, f func() error) error {
	b := clock.Backoff{Min: 200 * time.Millisecond, Max: 10 * time.Second}
	for {
		err := f()
		if err == nil {
			return nil
		}
		if errors.Is(err, consulwriter.ErrBucketMismatch) || errors.Is(err, consulwriter.ErrGatewayIDHeld) {
			return err // configuration mismatch: retrying cannot fix it
		}
		wait := b.Next()
		log.Warn(what+" failed; retrying", zap.Error(err), zap.Duration("in", wait))
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last error: %v)", what, ctx.Err(), err)
		case <-time.After(wait):
		}
	}
}

func run(ctx context.Context, cfg *config, log *zap.Logger) error {
	log = log.With(zap.String("gateway", cfg.GatewayID))
	client, err := consulClient(cfg)
	if err != nil {
		return fmt.Errorf("Consul client configuration: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)

	// Before anything that needs the Consul servers: the local agent may have lost them.
	rejoinCtx, stopRejoin := context.WithCancel(context.Background())
	waitRejoin, err := startRejoiner(rejoinCtx, cfg, log, m)
	if err != nil {
		stopRejoin()
		return err
	}
	defer func() { stopRejoin(); waitRejoin() }()

	if err := retry(ctx, log, "reading the cluster config", func() error {
		_, err := consulwriter.EnsureConfig(client, cfg.Prefix, uint32(cfg.Buckets))
		return err
	}); err != nil {
		return err
	}
	svc := consulwriter.ServiceOptions{Name: cfg.ServiceName, GatewayID: cfg.GatewayID, Address: cfg.GatewayAddress,
		UDPPort: cfg.UDPPort, TCPPort: cfg.TCPPort, HealthURL: strings.TrimRight(cfg.GatewayAdmin, "/") + "/healthz",
		CheckInterval: cfg.CheckInterval, CheckTimeout: cfg.CheckTimeout, DeregisterAfter: cfg.DeregisterAfter}
	checkID := ""
	if cfg.Register {
		checkID = svc.CheckID()
	}
	table := state.New(uint32(cfg.Buckets), cfg.Lanes, cfg.FlushBuckets)
	sess := consulwriter.NewSession(client, consulwriter.SessionOptions{Name: "heartline-agent/" + cfg.GatewayID,
		TTL: cfg.SessionTTL, ServiceCheckID: checkID, Log: log, Metrics: m,
		OnNew: func(gen uint64) {
			if gen > 1 {
				table.MarkAllDirty()
			}
		}})
	// Before registering anything: another live agent may already serve this gateway id.
	if err := retry(ctx, log, "checking that no other agent holds this gateway id", func() error {
		return sess.CheckNotHeldElsewhere(ctx)
	}); err != nil {
		return err
	}
	if cfg.Register {
		if err := retry(ctx, log, "registering the gateway service", func() error {
			return consulwriter.RegisterService(client, svc, cfg.SessionTTL)
		}); err != nil {
			return err
		}
		log.Info("gateway service registered", zap.String("service", svc.Name), zap.String("check", svc.HealthURL))
	}

	writer, err := consulwriter.New(consulwriter.Options{Client: client, Prefix: cfg.Prefix, GatewayID: cfg.GatewayID,
		Table: table, Session: sess, FlushWindow: cfg.FlushWindow, MaxOps: cfg.MaxOps, LastSeenRetention: cfg.Retention,
		Log: log, Metrics: m})
	if err != nil {
		return err
	}
	feed := feedclient.New(feedclient.Options{Path: cfg.FeedSocket, Table: table, GatewayID: cfg.GatewayID, Log: log, Metrics: m})
	w, err := watcher.New(watcher.Options{Client: client, Prefix: cfg.Prefix, Log: log.Named("watcher")})
	if err != nil {
		return err
	}
	registerWatcherMetrics(reg, w)

	ready := func() error {
		switch {
		case !w.Ready():
			return errors.New("watcher cache still loading")
		case !feed.Synced():
			return errors.New("no snapshot from the gateway feed yet")
		}
		if id, _, _ := sess.Current(); id == "" {
			return errors.New("no Consul session")
		}
		return nil
	}
	httpSrv := &http.Server{Addr: cfg.HTTPAddr, ReadHeaderTimeout: 5 * time.Second,
		Handler: queryapi.Handler(queryapi.Options{Watcher: w, Client: client, Prefix: cfg.Prefix, Ready: ready,
			Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), Log: log})}
	httpErr := make(chan error, 1)
	go func() { httpErr <- httpSrv.ListenAndServe() }()
	log.Info("agent serving", zap.String("http", cfg.HTTPAddr), zap.String("feed", cfg.FeedSocket))

	// The gateway stops taking members it could not publish while this host cannot reach the
	// Consul servers (agent/upstream).
	var prober *upstream.Prober
	if cfg.ProbeEvery > 0 {
		prober, err = upstream.New(upstream.Options{Probe: upstream.LeaderProbe(client), Every: cfg.ProbeEvery,
			FailAfter: cfg.CutOffAfter, Log: log.Named("upstream"), Metrics: m,
			OnChange: func(cutOff bool) {
				if cutOff {
					feed.SetUpstream(feedproto.UpstreamCutOff)
				} else {
					feed.SetUpstream(feedproto.UpstreamReachable)
				}
			}})
		if err != nil {
			return err
		}
	}

	// The feed and the watcher run for the whole life of the process; the writer needs a session.
	feedCtx, stopFeed := context.WithCancel(context.Background())
	watchCtx, stopWatch := context.WithCancel(context.Background())
	writeCtx, stopWrite := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); feed.Run(feedCtx) }()
	if prober != nil {
		wg.Add(1)
		go func() { defer wg.Done(); prober.Run(feedCtx) }()
	}
	go func() { defer wg.Done(); w.Run(watchCtx) }() //nolint:errcheck
	var writerWG sync.WaitGroup
	if err := sess.Create(ctx); err == nil {
		writerWG.Add(2)
		go func() { defer writerWG.Done(); sess.Run(writeCtx) }()
		go func() {
			defer writerWG.Done()
			if err := writer.Run(writeCtx); err != nil {
				log.Error("writer stopped", zap.Error(err))
			}
		}()
	}

	var fatal error
	select {
	case <-ctx.Done():
	case err := <-httpErr:
		log.Error("HTTP server failed", zap.Error(err))
	case <-sess.Failed():
		// Another agent holds this gateway id: stop writing at once, and exit non-zero.
		fatal = sess.Err()
	}
	log.Info("shutting down: flush, destroy session, deregister")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	stopFeed()
	if id, _, _ := sess.Current(); id != "" && fatal == nil {
		if err := writer.Flush(sctx); err != nil {
			log.Warn("final flush incomplete", zap.Error(err))
		}
	}
	stopWrite()
	writerWG.Wait()
	if err := sess.Destroy(); err != nil {
		log.Warn("destroying the session failed; Consul will expire it within 2x TTL", zap.Error(err))
	}
	if cfg.Register {
		if err := consulwriter.DeregisterService(client, cfg.GatewayID); err != nil {
			log.Warn("deregistration failed", zap.Error(err))
		}
	}
	stopWatch()
	httpSrv.Shutdown(sctx) //nolint:errcheck
	wg.Wait()
	return fatal
}

func registerWatcherMetrics(reg prometheus.Registerer, w *watcher.Watcher) {
	counter := func(name, help string, f func(watcher.Stats) uint64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f(w.Stats())) }))
	}
	counter("heartline_agent_watcher_events_total", "Presence events produced by the watcher.", func(s watcher.Stats) uint64 { return s.Events })
	counter("heartline_agent_watcher_transitions_total", "Transitions the watcher applied from change records.", func(s watcher.Stats) uint64 { return s.Transitions })
	counter("heartline_agent_watcher_change_bytes_total", "Key+value bytes the watcher received from change-record blocking queries.", func(s watcher.Stats) uint64 { return s.ChangeBytes })
	counter("heartline_agent_watcher_resyncs_total", "Bucket re-reads by the watcher.", func(s watcher.Stats) uint64 { return s.Resyncs })
	counter("heartline_agent_watcher_resync_bytes_total", "Key+value bytes the watcher's bucket re-reads received.", func(s watcher.Stats) uint64 { return s.ResyncBytes })
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "heartline_agent_online_users", Help: "Online users in the watcher cache."},
		func() float64 { return float64(w.Stats().OnlineUsers) }))
}
