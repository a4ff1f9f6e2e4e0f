// Package metrics defines the agent's Prometheus metrics in one place, so the writer, the
// feed consumer and the watcher share names and the README can list them. It owns metric
// definitions only; it must not import the packages that update them.
package metrics

import "github.com/prometheus/client_golang/prometheus"

// Agent holds every metric the agent exports.
type Agent struct {
	Txns              *prometheus.CounterVec // result: ok, rolled_back, error
	TxnOps            prometheus.Histogram
	TxnSeconds        prometheus.Histogram
	TxnBytes          prometheus.Counter
	TransitionsOut    prometheus.Counter
	CASConflicts      prometheus.Counter
	LastSeenSwept     prometheus.Counter
	LastSeenExpired   prometheus.Counter
	OversizedBuckets  prometheus.Counter
	DirtyBuckets      prometheus.Gauge
	SessionRenewFails prometheus.Counter
	SessionsCreated   prometheus.Counter
	FeedRecords       prometheus.Counter
	FeedGaps          prometheus.Counter
	FeedReconnects    prometheus.Counter
	FeedLagSeconds    prometheus.Gauge
	ConsulRejoins     *prometheus.CounterVec // result: ok, failed
	ConsulCutOff      prometheus.Gauge
	ConsulProbeFails  prometheus.Counter
}

// New creates the metrics and registers them with reg (nil: not registered, for tests).
func New(reg prometheus.Registerer) *Agent {
	m := &Agent{
		Txns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "heartline_agent_txns_total",
			Help: "Consul transactions sent, by result (ok, rolled_back, error). rate() gives txn/s."}, []string{"result"}),
		TxnOps: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "heartline_agent_txn_ops",
			Help: "Operations per committed transaction (Consul allows at most 128).", Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 96, 128}}),
		TxnSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "heartline_agent_txn_seconds",
			Help: "Latency of Consul transactions.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		TxnBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "heartline_agent_txn_value_bytes_total",
			Help: "KV value bytes sent in committed transactions."}),
		TransitionsOut: prometheus.NewCounter(prometheus.CounterOpts{Name: "heartline_agent_transitions_committed_total",
			Help: "Session transitions committed to Consul (after coalescing)."}),
		CASConflicts: prometheus.NewCounter(prometheus.CounterOpts{Name: "heartline_agent_lastseen_cas_conflicts_total",
			Help: "Last-seen CAS writes that lost to another agent and were re-read, merged and retried."}),
		LastSeenSwept: prometheus.NewCounter(prometheus.CounterOpts{Name: "heartline_agent_lastseen_swept_buckets_total",
			Help: "Last-seen buckets re-read by the periodic retention sweep."}),
		LastSeenExpired: prometheus.NewCounter(prometheus.CounterOpts{Name: "heartline_agent_lastseen_expired_total",
			Help: "Last-seen entries the retention sweep found past -lastseen-retention (queued for removal)."}),
		OversizedBuckets: prometheus.NewCounter(prometheus.CounterOpts{Name: "heartline_agent_oversized_values_total",
			Help: "Bucket values (presence or last seen) too large for one Consul KV value, refused instead of retried."}),
		DirtyBuckets: prometheus.NewGauge(prometheus.GaugeOpts{Name: "heartline_agent_dirty_buckets",
			Help: "Buckets changed locally and not yet committed to Consul."}),
		SessionRenewFails: prometheus.NewCounter(prometheus.CounterOpts{Name: "heartline_agent_session_renew_failures_total",
			Help: "Failed Consul session renewals."}),
		SessionsCreated: prometheus.NewCounter(prometheus.CounterOpts{Name: "heartline_agent_sessions_created_total",
			Help: "Consul sessions created (more than one means the previous one was invalidated)."}),
		FeedRecords: prometheus.NewCounter(prometheus.CounterOpts{Name: "heartline_agent_feed_records_total",
			Help: "Live feed records applied."}),
		FeedGaps: prometheus.NewCounter(prometheus.CounterOpts{Name: "heartline_agent_feed_gaps_total",
			Help: "Feed sequence gaps detected (each triggers a SNAPSHOT_REQUEST)."}),
		FeedReconnects: prometheus.NewCounter(prometheus.CounterOpts{Name: "heartline_agent_feed_connects_total",
			Help: "Connections made to the gateway's feed socket."}),
		FeedLagSeconds: prometheus.NewGauge(prometheus.GaugeOpts{Name: "heartline_agent_feed_lag_seconds",
			Help: "Agent clock minus the transition time of the newest applied feed record; an expiry's OFFLINE carries the last heartbeat time, so this is not a delivery lag."}),
		ConsulRejoins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "heartline_agent_consul_rejoins_total",
			Help: "Joins the agent asked its local Consul agent to make to servers it had marked failed, by result (ok, failed)."}, []string{"result"}),
		ConsulCutOff: prometheus.NewGauge(prometheus.GaugeOpts{Name: "heartline_agent_consul_cut_off",
			Help: "1 while the agent has not reached the Consul servers for -cut-off-after probes (its gateway refuses HELLOs meanwhile)."}),
		ConsulProbeFails: prometheus.NewCounter(prometheus.CounterOpts{Name: "heartline_agent_consul_probe_failures_total",
			Help: "Reachability probes of the Consul servers (GET /v1/status/leader through the local agent) that failed or found no leader."}),
	}
	// Both results exist from the start, so dashboards and alerts see 0 rather than no series.
	m.ConsulRejoins.WithLabelValues("ok")
	m.ConsulRejoins.WithLabelValues("failed")
	if reg != nil {
		reg.MustRegister(m.Txns, m.TxnOps, m.TxnSeconds, m.TxnBytes, m.TransitionsOut, m.CASConflicts, m.LastSeenSwept, m.LastSeenExpired, m.OversizedBuckets, m.DirtyBuckets,
			m.SessionRenewFails, m.SessionsCreated, m.FeedRecords, m.FeedGaps, m.FeedReconnects, m.FeedLagSeconds, m.ConsulRejoins,
			m.ConsulCutOff, m.ConsulProbeFails)
	}
	return m
}
