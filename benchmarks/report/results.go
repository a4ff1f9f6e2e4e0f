package main

import "time"

// Results mirrors the runner's results.json (only the fields the report uses).
type Results struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Machine  struct {
		CPU       string `json:"cpu"`
		Cores     int    `json:"cores"`
		Kernel    string `json:"kernel"`
		GoVersion string `json:"go_version"`
		Load      string `json:"loadavg_at_start"`
	} `json:"machine"`
	Method []string `json:"method"`
	Reps   int      `json:"reps"`
	Cases  []*Case  `json:"cases"`
	Ratios []*Ratio `json:"ratios"`
	Notes  []string `json:"notes"`
	// Presence is the gateway + agent + Consul run (benchmarks/presence), if any.
	Presence *Presence `json:"presence"`
	// Stores is the Consul vs etcd run (benchmarks/storepeer), if any.
	Stores *Stores `json:"stores"`
}

// Presence mirrors benchmarks/presence's JSON.
type Presence struct {
	Settings map[string]string `json:"settings"`
	Online   Latency           `json:"online_latency"`
	Bye      Latency           `json:"bye_latency"`
	Offline  Latency           `json:"offline_detection_delay"`
	OnlineGW Latency           `json:"online_stage_gateway"`
	OnlineP  Latency           `json:"online_stage_feed_agent_consul"`
	OffSince Latency           `json:"offline_since_last_seen"`
	Churn    *struct {
		Seconds              float64 `json:"seconds"`
		TransitionsSeen      uint64  `json:"transitions_seen"`
		TransitionsExpected  uint64  `json:"transitions_expected"`
		IncompleteEntries    uint64  `json:"incomplete_entries"`
		TransitionsPerSecond float64 `json:"transitions_per_s"`
		Txns                 uint64  `json:"consul_txns"`
		TxnReqBytes          uint64  `json:"consul_txn_request_bytes"`
		TxnsPerTransition    float64 `json:"txns_per_transition"`
		BytesPerTransition   float64 `json:"txn_request_bytes_per_transition"`
		AgentCPUNSPerTrans   float64 `json:"agent_cpu_ns_per_transition"`
	} `json:"churn"`
	Gateway map[string]uint64 `json:"gateway_metrics"`
	Errors  []string          `json:"errors"`
}

// Latency is a distribution in ms.
type Latency struct {
	N       int64   `json:"n"`
	Missing int     `json:"missing"`
	P50     float64 `json:"p50_ms"`
	P99     float64 `json:"p99_ms"`
	P999    float64 `json:"p999_ms"`
	Max     float64 `json:"max_ms"`
	Min     float64 `json:"min_ms"`
}

// Case is one configuration's samples.
type Case struct {
	Name     string             `json:"name"`
	Group    string             `json:"group"`
	Desc     string             `json:"desc"`
	Server   string             `json:"server"`
	Env      []string           `json:"env"`
	Loadgen  string             `json:"loadgen"`
	Unit     string             `json:"unit"`
	Samples  []float64          `json:"samples"`
	Wall     []float64          `json:"wall_ns_per_datagram"`
	Stats    Stats              `json:"stats"`
	Accepted []uint64           `json:"accepted"`
	Errors   []string           `json:"errors"`
	Extra    map[string]float64 `json:"extra"`
	Allocs   []float64          `json:"allocs_per_heartbeat"`
	GCs      []float64          `json:"gc_cycles"`
	// GC pause per cycle, ns, over the server's last <= 256 cycles after each sample (-1: not exposed).
	GCPauseP50 []float64 `json:"gc_pause_p50_ns"`
	GCPauseP99 []float64 `json:"gc_pause_p99_ns"`
	GCPauseMax []float64 `json:"gc_pause_max_ns"`
}

// Ratio is num/den per repetition.
type Ratio struct {
	Name    string    `json:"name"`
	Num     string    `json:"num"`
	Den     string    `json:"den"`
	Target  string    `json:"target"`
	Samples []float64 `json:"samples"`
	Stats   Stats     `json:"stats"`
}

// Stats are min/median/max.
type Stats struct {
	N      int     `json:"n"`
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
}
