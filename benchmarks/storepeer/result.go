package main

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Result is storepeer's JSON (the runner folds it into results.json as "stores").
type Result struct {
	Settings map[string]string `json:"settings"`
	Phases   []*Phase          `json:"phases"`
	Expiry   []*Expiry         `json:"expiry"`
	Errors   []string          `json:"errors,omitempty"`
}

// Phase is one store × one write shape, sustained for a fixed time.
type Phase struct {
	Store        string  `json:"store"` // consul | etcd
	Shape        string  `json:"shape"` // batched | single
	Seconds      float64 `json:"seconds"`
	Txns         int64   `json:"txns"`
	Ops          int64   `json:"ops"`
	Failed       int64   `json:"failed_txns"`
	OpsPerS      float64 `json:"ops_per_s"`
	TxnsPerS     float64 `json:"txns_per_s"`
	OpsPerTxn    float64 `json:"ops_per_txn"`
	P50ms        float64 `json:"txn_p50_ms"`
	P99ms        float64 `json:"txn_p99_ms"`
	Maxms        float64 `json:"txn_max_ms"`
	ValueBytes   float64 `json:"value_bytes_per_op"`
	WireOut      float64 `json:"wire_bytes_out_per_op"` // client -> server
	WireIn       float64 `json:"wire_bytes_in_per_op"`  // server -> client
	ServerCPUNS  float64 `json:"server_cpu_ns_per_op"`
	ServerRSSEnd float64 `json:"server_rss_end_bytes"`
}

// Expiry is how long a store took to delete session/lease-bound keys after the last renewal.
type Expiry struct {
	Store   string  `json:"store"`
	TTL     float64 `json:"ttl_s"`
	Keys    int     `json:"keys"`
	Seconds float64 `json:"seconds_to_all_deleted"` // from the last renewal (create) to no key left
	Err     string  `json:"error,omitempty"`
}

// summarize fills the derived figures of a phase from its raw counts.
func summarize(p *Phase, elapsed time.Duration, h *hdrhistogram.Histogram, valueBytes, wireOut, wireIn, cpuNS int64) {
	p.Seconds = elapsed.Seconds()
	if p.Seconds > 0 {
		p.OpsPerS = float64(p.Ops) / p.Seconds
		p.TxnsPerS = float64(p.Txns) / p.Seconds
	}
	if p.Txns > 0 {
		p.OpsPerTxn = float64(p.Ops) / float64(p.Txns)
	}
	if h != nil && h.TotalCount() > 0 {
		p.P50ms = float64(h.ValueAtQuantile(50)) / 1000
		p.P99ms = float64(h.ValueAtQuantile(99)) / 1000
		p.Maxms = float64(h.Max()) / 1000
	}
	if p.Ops > 0 {
		p.ValueBytes = float64(valueBytes) / float64(p.Ops)
		p.WireOut = float64(wireOut) / float64(p.Ops)
		p.WireIn = float64(wireIn) / float64(p.Ops)
		p.ServerCPUNS = float64(cpuNS) / float64(p.Ops)
	}
}
