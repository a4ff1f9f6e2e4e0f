package main

import (
	"encoding/json"
	"sort"
	"time"
)

// Results is results.json.
type Results struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Machine  Machine   `json:"machine"`
	Method   []string  `json:"method"`
	Reps     int       `json:"reps"`
	Cases    []*Case   `json:"cases"`
	Ratios   []*Ratio  `json:"ratios"`
	Notes    []string  `json:"notes,omitempty"`
	// Presence is benchmarks/presence's JSON (gateway + agent + Consul), when it ran.
	Presence json.RawMessage `json:"presence,omitempty"`
	// Stores is benchmarks/storepeer's JSON (Consul vs etcd), when it ran.
	Stores json.RawMessage `json:"stores,omitempty"`
}

// Machine describes where the numbers come from.
type Machine struct {
	CPU       string `json:"cpu"`
	Cores     int    `json:"cores"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"`
	Load      string `json:"loadavg_at_start"`
}

// Case is one measured configuration and its samples (one per repetition).
type Case struct {
	Name     string             `json:"name"`
	Group    string             `json:"group"` // drain | cpu | ablation | relay | rss
	Desc     string             `json:"desc"`
	Server   string             `json:"server"` // command line
	Env      []string           `json:"env,omitempty"`
	Loadgen  string             `json:"loadgen"` // flags
	Unit     string             `json:"unit"`
	Samples  []float64          `json:"samples"`
	Wall     []float64          `json:"wall_ns_per_datagram,omitempty"`
	Stats    Stats              `json:"stats"`
	Accepted []uint64           `json:"accepted,omitempty"`
	Errors   []string           `json:"errors,omitempty"`
	Extra    map[string]float64 `json:"extra,omitempty"`
	// Allocations per heartbeat and GC cycles per sample, from the server's own counters
	// (-1: the server exposes none).
	Allocs []float64 `json:"allocs_per_heartbeat,omitempty"`
	GCs    []float64 `json:"gc_cycles,omitempty"`
	// Stop-the-world GC pause per cycle (ns) over the server's last <= 256 cycles, read
	// after the sample (go_gc_duration_seconds for the gateway, runtime pauses for the
	// in-process comparators); -1: not exposed (p99: the gateway's summary has none).
	GCPauseP50 []float64 `json:"gc_pause_p50_ns,omitempty"`
	GCPauseP99 []float64 `json:"gc_pause_p99_ns,omitempty"`
	GCPauseMax []float64 `json:"gc_pause_max_ns,omitempty"`
}

// Ratio is num/den per repetition (both from the same repetition).
type Ratio struct {
	Name    string    `json:"name"`
	Num     string    `json:"num"`
	Den     string    `json:"den"`
	Target  string    `json:"target,omitempty"`
	Samples []float64 `json:"samples"`
	Stats   Stats     `json:"stats"`
}

// Stats are min/median/max of samples.
type Stats struct {
	N      int     `json:"n"`
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
}

func statsOf(xs []float64) Stats {
	var v []float64
	for _, x := range xs {
		if x > 0 {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return Stats{}
	}
	sort.Float64s(v)
	m := v[len(v)/2]
	if len(v)%2 == 0 {
		m = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return Stats{N: len(v), Min: v[0], Median: m, Max: v[len(v)-1]}
}

// ratioSamples divides num by den repetition by repetition (a missing sample on either
// side gives 0, which statsOf skips).
func ratioSamples(num, den []float64) []float64 {
	out := make([]float64, max(len(num), len(den)))
	for i := range out {
		if i < len(num) && i < len(den) && num[i] > 0 && den[i] > 0 {
			out[i] = num[i] / den[i]
		}
	}
	return out
}

func median(xs []float64) float64 { return statsOf(xs).Median }
