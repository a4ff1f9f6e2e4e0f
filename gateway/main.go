// Command gateway is the Heartline gateway process. See doc.go and README.md.
package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"heartline/agent/privacywatch"
	"heartline/agent/shared/clock"
	"heartline/agent/shared/wiring"
	"heartline/agent/watcher"
	"heartline/gateway/internal/admin"
	"heartline/gateway/internal/config"
	"heartline/gateway/internal/feedserver"
	"heartline/gateway/internal/ingest"
	"heartline/gateway/internal/livesync"
	"heartline/gateway/internal/table"
	"heartline/gateway/internal/tcp"
	feedproto "heartline/protocol/feed"
	"heartline/protocol/token"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	cfg, err := config.Parse(args, os.LookupEnv, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	log, err := wiring.Logger(cfg.LogLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer log.Sync() //nolint:errcheck
	if err := serve(cfg, log); err != nil {
		log.Error("gateway failed", zap.Error(err))
		return 1
	}
	return 0
}

func serve(cfg config.Config, log *zap.Logger) error {
	keys, err := token.LoadKeyRing(cfg.SecretFile)
	if err != nil {
		return err
	}
	var eb [4]byte
	_, _ = rand.Read(eb[:])
	epoch := binary.BigEndian.Uint32(eb[:])
	started := time.Now()
	clk := clock.Real{}

	// One shard per UDP loop, plus one for the TCP worker when TCP is on. Only shards that
	// have an owner may exist: the feed waits for every shard's outbox before a snapshot.
	shards := cfg.Loops
	if cfg.TCPAddr != "" {
		shards++ // the last shard belongs to the TCP worker
	}
	tb, err := table.New(table.Options{
		Shards: shards, SessionsPerShard: (cfg.MaxSessions + shards - 1) / shards,
		Interval: cfg.Interval, Misses: cfg.Misses, Grace: table.None(cfg.Grace), Debounce: table.None(cfg.Debounce), Start: started, Epoch: epoch,
	})
	if err != nil {
		return err
	}
	// The agent says over the feed when it cannot reach Consul; HELLOs are then refused with
	// REHELLO 5 so apps log in where they can be shown (ingest/upstream.go).
	upstream := new(ingest.Upstream)
	feed, err := feedserver.Listen(tb, feedserver.Options{
		Path: cfg.FeedSocket, GatewayID: cfg.GatewayID, Epoch: epoch, StartedAt: started,
		FlushInterval: cfg.FlushInterval, Log: log.Named("feed"),
		OnUpstream: func(u feedproto.Upstream) {
			if upstream.SetCutOff(u == feedproto.UpstreamCutOff) {
				if u == feedproto.UpstreamCutOff {
					log.Warn("agent cannot reach Consul: refusing HELLOs (REHELLO 5) so apps log in where they can be shown; live sessions stay")
				} else {
					log.Info("agent reaches Consul again: HELLOs welcome")
				}
			}
		},
	})
	if err != nil {
		return err
	}
	// Each UDP loop paces its share of a drain (the TCP worker, with few sessions, gets the
	// same share).
	drain := new(ingest.Drain)
	handlers := float64(cfg.Loops)
	hopts := ingest.HandlerOptions{Keys: keys, Epoch: epoch, MaxClockSkew: cfg.MaxClockSkew, HelloPerSource: cfg.HelloRate, HelloBurst: cfg.HelloBurst,
		Drain: drain, Upstream: upstream, Relays: cfg.Relays, DrainPace: ingest.DrainPace{PerLoop: cfg.DrainRate / handlers, PerSource: cfg.DrainPerSource / handlers}}

	var group *ingest.Group
	var tcpSrv *tcp.Server
	metrics := admin.NewMetrics(admin.Sources{Table: tb, Feed: feed, Upstream: upstream, Loops: func() []*ingest.Stats {
		var out []*ingest.Stats
		if group != nil {
			out = group.Stats()
		}
		if tcpSrv != nil {
			out = append(out, tcpSrv.HandlerStats())
		}
		return out
	}})
	group, err = ingest.NewGroup(tb, ingest.Options{
		Addr: cfg.UDPAddr, Loops: cfg.Loops, Batch: cfg.Batch, RecvBuffer: cfg.RecvBuffer, Clock: clk, Coalesce: cfg.Coalesce,
		Log: log.Named("udp"), Handler: hopts,
		OnRecvBatch: func(n int) { metrics.BatchFill.Observe(float64(n)) },
	})
	if err != nil {
		return err
	}
	liveCtx, stopLive := context.WithCancel(context.Background())
	defer stopLive()
	var hub *livesync.Hub
	if cfg.TCPAddr != "" {
		if hub, err = startLiveSync(liveCtx, cfg, keys, log.Named("livesync")); err != nil {
			group.Stop()
			return err
		}
		topts := tcp.Options{Addr: cfg.TCPAddr, Shard: cfg.Loops, Loops: cfg.TCPLoops, IdleTimeout: cfg.TCPIdle, AuthTimeout: cfg.TCPAuthTimeout,
			MaxConns: cfg.TCPMaxConns, MaxConnsPerAddr: cfg.TCPMaxConnsPerAddr, Clock: clk, SendBuffer: cfg.TCPSendBuffer,
			Log: log.Named("tcp"), Handler: hopts, Router: group}
		if hub != nil { // a nil *Hub in the interface would not read as "no subscriptions"
			topts.Subscriptions = hub
			metrics.AddSubscriptions(hub)
		}
		tcpSrv = tcp.New(tb, topts)
		metrics.AddTCP(tcpSrv)
		group.SetInbox(cfg.Loops, tcpSrv.Inbox())
		if err := tcpSrv.Start(); err != nil {
			group.Stop()
			return err
		}
	}
	var ready atomic.Bool
	adm, err := admin.Listen(cfg.AdminAddr, metrics, func() error {
		if !ready.Load() {
			return errors.New("starting or stopping")
		}
		return nil
	}, drain, log.Named("admin"))
	if err != nil {
		group.Stop()
		return err
	}

	feedCtx, stopFeed := context.WithCancel(context.Background())
	var feedDone sync.WaitGroup
	feedDone.Add(1)
	go func() { defer feedDone.Done(); _ = feed.Run(feedCtx) }()
	group.Start()
	ready.Store(true)
	log.Info("gateway started", zap.String("gateway_id", cfg.GatewayID), zap.Uint32("epoch", epoch),
		zap.Stringer("udp", group.LocalAddr()), zap.String("tcp", cfg.TCPAddr), zap.String("feed", cfg.FeedSocket),
		zap.String("admin", adm.Addr()), zap.Int("loops", cfg.Loops), zap.Int("max_sessions", cfg.MaxSessions))

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, os.Interrupt, syscall.SIGHUP)
	var stopSig os.Signal
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			if fresh, err := token.LoadKeyRing(cfg.SecretFile); err != nil {
				log.Error("key file reload failed; keeping the old keys", zap.Error(err))
			} else {
				keys.Replace(fresh)
				log.Info("key file reloaded", zap.Any("key_ids", keys.IDs()))
			}
			continue
		}
		log.Info("shutting down", zap.Stringer("signal", sig))
		stopSig = sig
		break
	}
	if stopSig == syscall.SIGTERM && cfg.DrainTimeout > 0 {
		// SIGTERM is how service managers stop a gateway: hand the members over first.
		// Ctrl-C (SIGINT) is an interactive stop and does not wait.
		drainBeforeStop(drain, tb, cfg.DrainTimeout, sigs, log)
	}

	// Graceful stop: readiness off, stop ingest, publish what the shards hold, flush the
	// feed, exit.
	ready.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	group.Stop()
	if tcpSrv != nil {
		tcpSrv.Stop(ctx)
	}
	group.FlushShards(ctx)
	if tcpSrv != nil {
		ingest.FlushShard(ctx, tcpSrv.Shard(), tb.Tick(clk.Now()))
	}
	if err := feed.Flush(ctx); err != nil {
		log.Warn("feed flush incomplete", zap.Error(err))
	}
	stopLive()
	stopFeed()
	feedDone.Wait()
	_ = adm.Close(ctx)
	log.Info("gateway stopped")
	return nil
}

// startLiveSync runs the presence watcher and the subscription hub when Consul is
// configured; without Consul it returns nil and SUBSCRIBE frames are dropped (counted as
// unsupported) while heartbeats keep working. See livesync/doc.go.
func startLiveSync(ctx context.Context, cfg config.Config, keys *token.KeyRing, log *zap.Logger) (*livesync.Hub, error) {
	if !cfg.Subscriptions {
		log.Info("app subscriptions disabled: set -consul-addr or CONSUL_HTTP_ADDR to serve SUBSCRIBE")
		return nil, nil
	}
	co := wiring.ConsulOptions{Addr: cfg.ConsulAddr} // over CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN, TLS settings
	client, err := wiring.Consul(co)
	if err != nil {
		return nil, fmt.Errorf("gateway: Consul client for subscriptions: %w", err)
	}
	w, err := watcher.New(watcher.Options{Client: client, Prefix: cfg.Prefix, Log: log.Named("watcher")})
	if err != nil {
		return nil, fmt.Errorf("gateway: presence watcher: %w", err)
	}
	// Presence privacy: apps see others only through a site-sealed GRANT (opened with the
	// key file, no database), under the privacy records the site writes to Consul.
	view, err := privacywatch.New(privacywatch.Options{Client: client, Prefix: cfg.Prefix, Log: log.Named("privacy")})
	if err != nil {
		return nil, fmt.Errorf("gateway: privacy view: %w", err)
	}
	hub := livesync.NewHub(livesync.Options{Source: livesync.WatcherSource{W: w}, Privacy: view, Keys: keys,
		MaxPerConn: cfg.MaxSubscriptions, Grace: cfg.SlowGrace, Log: log})
	view.Subscribe(func(c privacywatch.Change) { hub.PrivacyChanged(c.Subjects, c.Index) })
	go func() { _ = view.Run(ctx) }()
	go func() { _ = w.Run(ctx) }()
	go hub.Run(ctx)
	go livesync.Pump(ctx, w, hub)
	log.Info("app subscriptions enabled", zap.String("consul", wiring.ConsulConfig(co).Address), zap.String("prefix", cfg.Prefix),
		zap.Int("max_per_connection", cfg.MaxSubscriptions))
	return hub, nil
}

// drainBeforeStop asks every app to move to another gateway (REHELLO 4, at the configured
// pace) and waits until no session is left online here: each moved app's session expires by
// absence after its new gateway has published it, so nobody is shown offline. It gives up
// after timeout, or at once on a second signal.
func drainBeforeStop(drain *ingest.Drain, tb *table.Table, timeout time.Duration, sigs <-chan os.Signal, log *zap.Logger) {
	start := time.Now()
	drain.Start(start)
	log.Info("draining: asking apps to move before stopping", zap.Int64("sessions_online", tb.Online()), zap.Duration("timeout", timeout))
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	lastLog := start
	for tb.Online() > 0 {
		select {
		case sig := <-sigs:
			log.Warn("second signal: stopping without finishing the drain", zap.Stringer("signal", sig), zap.Int64("sessions_online", tb.Online()))
			return
		case now := <-tick.C:
			if now.Sub(start) >= timeout {
				log.Warn("drain timed out; stopping with sessions left (they fail over)", zap.Int64("sessions_online", tb.Online()), zap.Duration("timeout", timeout))
				return
			}
			if now.Sub(lastLog) >= 5*time.Second {
				lastLog = now
				log.Info("draining", zap.Int64("sessions_online", tb.Online()), zap.Duration("elapsed", now.Sub(start)))
			}
		}
	}
	log.Info("drained", zap.Duration("took", time.Since(start)))
}
