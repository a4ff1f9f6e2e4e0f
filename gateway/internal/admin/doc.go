// Package admin is the gateway's operations endpoint: /healthz (the process is alive; the
// agent's Consul check points here), /readyz (ingest and feed are up), and Prometheus
// /metrics. Metrics read the loops' atomic counters at scrape time, so the hot path pays
// nothing for them beyond its own counter increments.
//
// This package reads counters; it must not change gateway state.
package admin
