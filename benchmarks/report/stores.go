package main

import (
	"fmt"
	"strings"
)

// Stores mirrors benchmarks/storepeer's JSON (Consul vs etcd).
type Stores struct {
	Settings map[string]string `json:"settings"`
	Phases   []*StorePhase     `json:"phases"`
	Expiry   []*StoreExpiry    `json:"expiry"`
	Errors   []string          `json:"errors"`
}

// StorePhase is one store × write shape.
type StorePhase struct {
	Store       string  `json:"store"`
	Shape       string  `json:"shape"`
	Seconds     float64 `json:"seconds"`
	Txns        int64   `json:"txns"`
	Ops         int64   `json:"ops"`
	Failed      int64   `json:"failed_txns"`
	OpsPerS     float64 `json:"ops_per_s"`
	TxnsPerS    float64 `json:"txns_per_s"`
	OpsPerTxn   float64 `json:"ops_per_txn"`
	P50ms       float64 `json:"txn_p50_ms"`
	P99ms       float64 `json:"txn_p99_ms"`
	Maxms       float64 `json:"txn_max_ms"`
	ValueBytes  float64 `json:"value_bytes_per_op"`
	WireOut     float64 `json:"wire_bytes_out_per_op"`
	WireIn      float64 `json:"wire_bytes_in_per_op"`
	ServerCPUNS float64 `json:"server_cpu_ns_per_op"`
}

// StoreExpiry is a session/lease expiry measurement.
type StoreExpiry struct {
	Store   string  `json:"store"`
	TTL     float64 `json:"ttl_s"`
	Keys    int     `json:"keys"`
	Seconds float64 `json:"seconds_to_all_deleted"`
	Err     string  `json:"error"`
}

func (s *Stores) phase(store, shape string) *StorePhase {
	for _, p := range s.Phases {
		if p != nil && p.Store == store && p.Shape == shape {
			return p
		}
	}
	return nil
}

// storeRatio is a/b, or 0 when either side is missing.
func storeRatio(a, b float64) float64 {
	if a <= 0 || b <= 0 {
		return 0
	}
	return a / b
}

func writeStores(b *strings.Builder, s *Stores) {
	w := func(f string, a ...any) { fmt.Fprintf(b, f, a...) }
	set := s.Settings
	w("\n## Consul vs etcd\n\n")
	w("benchmarks/storepeer, one run, both stores on this machine: the agent's write shape (presence bucket values encoded with protocol/presencekv, %s sessions per value, %s B for bucket 0; one key per bucket, %s buckets, written round-robin) bound to a Consul session (Txn `lock` verb) or an etcd lease (Txn of Puts WithLease). ",
		set["sessions_per_value"], set["value_bytes_bucket0"], set["buckets"])
	w("Batched: up to %s ops per transaction; single: one op per transaction; %s transactions in flight; %s per phase, phases interleaved (etcd, Consul, etcd, Consul). ", set["ops_per_txn"], set["inflight"], set["duration"])
	w("Consul: %s (%s). etcd: %s (%s). Wire bytes: everything the client's TCP connections wrote / read (HTTP/1.1 JSON for Consul, gRPC for etcd), per op.\n\n", set["consul"], set["consul_version"], set["etcd"], set["etcd_version"])
	w("| store | shape | ops/s | txns/s | ops/txn | txn p50 ms | txn p99 ms | txn max ms | value B/op | wire B/op out | wire B/op in | server CPU µs/op | failed txns |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, p := range s.Phases {
		if p == nil {
			continue
		}
		w("| %s | %s | %s | %s | %.1f | %.2f | %.2f | %.2f | %s | %s | %s | %.1f | %d |\n", p.Store, p.Shape, num(p.OpsPerS), num(p.TxnsPerS), p.OpsPerTxn, p.P50ms, p.P99ms, p.Maxms, num(p.ValueBytes), num(p.WireOut), num(p.WireIn), p.ServerCPUNS/1000, p.Failed)
	}
	eb, cb := s.phase("etcd", "batched"), s.phase("consul", "batched")
	es, cs := s.phase("etcd", "single"), s.phase("consul", "single")
	get := func(p *StorePhase, f func(*StorePhase) float64) float64 {
		if p == nil {
			return 0
		}
		return f(p)
	}
	ops := func(p *StorePhase) float64 { return p.OpsPerS }
	txns := func(p *StorePhase) float64 { return p.TxnsPerS }
	p99 := func(p *StorePhase) float64 { return p.P99ms }
	wire := func(p *StorePhase) float64 { return p.WireOut + p.WireIn }
	cpu := func(p *StorePhase) float64 { return p.ServerCPUNS }
	w("\n| ratio (same run) | value |\n|---|---:|\n")
	rows := []struct {
		name string
		v    float64
	}{
		{"etcd / Consul, batched ops/s", storeRatio(get(eb, ops), get(cb, ops))},
		{"etcd / Consul, batched txns/s", storeRatio(get(eb, txns), get(cb, txns))},
		{"etcd / Consul, batched txn p99", storeRatio(get(eb, p99), get(cb, p99))},
		{"etcd / Consul, batched wire bytes per op", storeRatio(get(eb, wire), get(cb, wire))},
		{"etcd / Consul, batched server CPU per op", storeRatio(get(eb, cpu), get(cb, cpu))},
		{"etcd / Consul, single-op ops/s", storeRatio(get(es, ops), get(cs, ops))},
		{"batching factor, Consul (batched / single ops/s)", storeRatio(get(cb, ops), get(cs, ops))},
		{"batching factor, etcd (batched / single ops/s)", storeRatio(get(eb, ops), get(es, ops))},
	}
	for _, r := range rows {
		v := "-"
		if r.v > 0 {
			v = fmt.Sprintf("%.2fx", r.v)
		}
		w("| %s | %s |\n", r.name, v)
	}
	if len(s.Expiry) > 0 {
		w("\n| expiry: keys bound to a session/lease that is no longer renewed | TTL s | keys | s from last renewal to all deleted | |\n|---|---:|---:|---:|---|\n")
		for _, e := range s.Expiry {
			if e == nil {
				continue
			}
			w("| %s | %.0f | %d | %.1f | %s |\n", e.Store, e.TTL, e.Keys, e.Seconds, e.Err)
		}
		w("\nConsul invalidates a TTL session between TTL and 2×TTL after its last renewal (it doubles the TTL as a grace period); etcd revokes a lease at its TTL. Either store then deletes the keys bound to it.\n")
	}
	for _, e := range s.Errors {
		w("\n- error: %s", e)
	}
	w("\n")
}
