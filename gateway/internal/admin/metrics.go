package admin

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"heartline/gateway/internal/feedserver"
	"heartline/gateway/internal/ingest"
	"heartline/gateway/internal/livesync"
	"heartline/gateway/internal/table"
	"heartline/gateway/internal/tcp"
)

// Sources are what the metrics read.
type Sources struct {
	Table *table.Table
	Loops func() []*ingest.Stats // UDP loops and the TCP worker
	Feed  *feedserver.Server     // may be nil
	TCP   *tcp.Server            // may be nil
	// Upstream is the agent's word on its path to Consul (may be nil).
	Upstream *ingest.Upstream
}

// Metrics holds the collectors that are fed directly (the batch-fill histogram).
type Metrics struct {
	Registry  *prometheus.Registry
	BatchFill prometheus.Histogram
	src       Sources
}

// online is the table's count of sessions online (for the drain status).
func (m *Metrics) online() int64 {
	if m.src.Table == nil {
		return 0
	}
	return m.src.Table.Online()
}

const ns = "heartline_gateway"

// NewMetrics registers every gateway metric plus the Go runtime collector (which exports
// GC pause quantiles and the runtime/metrics GC pause histogram) and the process collector.
func NewMetrics(src Sources) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{Registry: reg, src: src}
	reg.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsGC)))
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.BatchFill = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: ns, Name: "recvmmsg_batch_fill",
		Help:    "Datagrams returned per recvmmsg call (fill of the batch).",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 48, 64, 128, 256},
	})
	reg.MustRegister(m.BatchFill)
	sum := func(f func(*ingest.Stats) uint64) func() float64 {
		return func() float64 {
			var n uint64
			for _, s := range src.Loops() {
				n += f(s)
			}
			return float64(n)
		}
	}
	counter := func(name, help string, f func(*ingest.Stats) uint64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help}, sum(f)))
	}
	counter("frames_received_total", "HL1 frames received (UDP datagrams and TCP frames).", func(s *ingest.Stats) uint64 { return s.Datagrams.Load() })
	counter("heartbeats_total", "Heartbeats accepted (authenticated, in order).", func(s *ingest.Stats) uint64 { return s.Heartbeats.Load() })
	counter("byes_total", "BYEs accepted.", func(s *ingest.Stats) uint64 { return s.Byes.Load() })
	counter("logouts_total", "HELLOs with the logout flag that ended a session (also in byes_total).", func(s *ingest.Stats) uint64 { return s.Logouts.Load() })
	counter("hellos_total", "HELLOs answered with WELCOME.", func(s *ingest.Stats) uint64 { return s.Hellos.Load() })
	counter("rehellos_total", "REHELLOs sent (not counting drain_rehellos_total).", func(s *ingest.Stats) uint64 { return s.Rehellos.Load() })
	counter("drain_rehellos_total", "REHELLO 4s sent to live sessions while draining (apps asked to move).", func(s *ingest.Stats) uint64 { return s.DrainRehellos.Load() })
	counter("handoffs_total", "Frames handed to the loop owning their shard (NAT rebinding, foreign HELLO).", func(s *ingest.Stats) uint64 { return s.HandedOff.Load() })
	counter("reply_send_errors_total", "Replies the socket did not take (dropped).", func(s *ingest.Stats) uint64 { return s.SendErrors.Load() })
	reg.MustRegister(&dropCollector{src: src, desc: prometheus.NewDesc(ns+"_frames_dropped_total", "Frames dropped, by reason.", []string{"reason"}, nil)})
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "sessions_online", Help: "Sessions online: from their first authenticated heartbeat (not at WELCOME) until BYE or expiry, including those inside the debounce window."},
		func() float64 { return float64(src.Table.Online()) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "wheel_lag_seconds", Help: "Largest timing-wheel lag across shards at their last tick."},
		func() float64 {
			var mx int64
			for _, s := range src.Loops() {
				mx = max(mx, s.WheelLag.Load())
			}
			return float64(mx) / 1000
		}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "feed_queue_depth", Help: "Presence changes waiting for the agent: dirty sessions in the table plus records held by the feed writer."},
		func() float64 {
			n := src.Table.Pending()
			if src.Feed != nil {
				n += src.Feed.Stats.BufferedRecs.Load()
			}
			return float64(n)
		}))
	if src.Feed != nil {
		f := src.Feed
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: "feed_records_total", Help: "Records written to the agent."}, func() float64 { return float64(f.Stats.Records.Load()) }))
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: "feed_records_unsent_total", Help: "Records drained while no agent was connected (covered by the next snapshot)."}, func() float64 { return float64(f.Stats.Dropped.Load()) }))
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: "feed_snapshots_total", Help: "Snapshots sent to the agent."}, func() float64 { return float64(f.Stats.Snapshots.Load()) }))
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: "feed_connects_total", Help: "Agent connections accepted."}, func() float64 { return float64(f.Stats.Connects.Load()) }))
	}
	if src.Upstream != nil {
		up := src.Upstream
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "agent_cut_off", Help: "1 while the agent says it cannot reach the Consul servers: HELLOs are answered with REHELLO 5 (dropped as cut_off)."},
			func() float64 {
				if up.CutOff() {
					return 1
				}
				return 0
			}))
	}
	if src.TCP != nil {
		m.AddTCP(src.TCP)
	}
	return m
}

// AddTCP registers the TCP listener's metrics (for a listener created after NewMetrics).
func (m *Metrics) AddTCP(t *tcp.Server) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "tcp_connections", Help: "Open TCP connections."}, func() float64 { return float64(t.Stats.Open.Load()) }))
	m.Registry.MustRegister(&tcpCloseCollector{t: t, desc: prometheus.NewDesc(ns+"_tcp_closes_total", "TCP connections closed, by reason.", []string{"reason"}, nil)})
}

// AddSubscriptions registers the app subscription metrics of h.
func (m *Metrics) AddSubscriptions(h *livesync.Hub) {
	st := &h.Stats
	gauge := func(name, help string, f func() int64) {
		m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: name, Help: help}, func() float64 { return float64(f()) }))
	}
	counter := func(name, help string, f func() uint64) {
		m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help}, func() float64 { return float64(f()) }))
	}
	gauge("subscriptions_active", "App subscriptions (connection, user) in force.", st.Active.Load)
	gauge("subscribed_connections", "TCP connections holding subscriptions.", st.Conns.Load)
	counter("subscription_events_sent_total", "EVENT entries written to apps.", st.Events.Load)
	counter("subscription_event_frames_total", "EVENT frames written to apps.", st.Frames.Load)
	counter("subscription_events_coalesced_total", "EVENT entries replaced by a newer state of the same user before being written (slow readers).", st.Coalesced.Load)
	counter("subscription_events_stale_total", "EVENT entries not sent because a newer version of the user was already queued.", st.Stale.Load)
	counter("subscription_slow_consumer_disconnects_total", "Connections closed with CLOSE slow consumer because they stayed behind past the grace period.", st.SlowConsumer.Load)
	counter("subscription_limit_disconnects_total", "Connections closed with CLOSE too many subscriptions.", st.TooMany.Load)
	counter("subscription_resyncs_total", "Full re-lookups of every subscription (watcher ready, watcher dropped events).", st.Resyncs.Load)
}

type dropCollector struct {
	src  Sources
	desc *prometheus.Desc
}

func (c *dropCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c *dropCollector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range ingest.DropReasons {
		var n uint64
		for _, s := range c.src.Loops() {
			n += s.Drops(r)
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(n), r.String())
	}
}

type tcpCloseCollector struct {
	t    *tcp.Server
	desc *prometheus.Desc
}

func (c *tcpCloseCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c *tcpCloseCollector) Collect(ch chan<- prometheus.Metric) {
	for cause := tcp.CloseCause(0); cause < tcp.NumCloseCauses; cause++ {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(c.t.Stats.Closes(cause)), cause.String())
	}
}
