package main

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"heartline/agent/privacywatch"
	"heartline/agent/watcher"
	"heartline/site/internal/live"
)

// adminMux serves the operator endpoints on -admin-addr.
func adminMux(reg *prometheus.Registry, ready func() bool) http.Handler {
	m := http.NewServeMux()
	m.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) }) //nolint:errcheck
	m.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !ready() {
			http.Error(w, "presence watcher has not finished its first read from Consul", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n")) //nolint:errcheck
	})
	return m
}

// registerLiveMetrics exports the SSE hub's and the watcher's counters, read at scrape time.
func registerLiveMetrics(reg prometheus.Registerer, hub *live.Hub, w *watcher.Watcher, view *privacywatch.View) {
	g := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "heartline", Subsystem: "site", Name: name, Help: help}, f)
	}
	c := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "heartline", Subsystem: "site", Name: name, Help: help}, f)
	}
	reg.MustRegister(
		g("sse_clients", "Open Server-Sent Events streams.", func() float64 { return float64(hub.Stats().Clients) }),
		c("sse_frames_total", "Frames written to SSE clients.", func() float64 { return float64(hub.Stats().Frames) }),
		c("sse_resyncs_total", "Snapshots sent because a client's queue overflowed or the watcher dropped events.", func() float64 { return float64(hub.Stats().Resyncs) }),
		g("online_users", "Members online according to the watcher's cache.", func() float64 { return float64(w.Stats().OnlineUsers) }),
		c("watcher_events_total", "Presence events produced by the watcher.", func() float64 { return float64(w.Stats().Events) }),
		c("watcher_resyncs_total", "Re-reads by the watcher after a gap (full at start-up and after a Consul index reset; otherwise only the changed keys of the gateway that had the gap).", func() float64 { return float64(w.Stats().Resyncs) }),
		c("privacy_changes_total", "Members whose presence privacy (mode, revocations) changed, as followed from Consul.", func() float64 { return float64(view.Stats().Changes) }),
		c("privacy_decode_errors_total", "Privacy records in Consul that could not be decoded (their bucket kept its state).", func() float64 { return float64(view.Stats().DecodeErrors) }),
	)
}
