package wire

import (
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
)

// GC pause figures in a /stats map (nanoseconds). They describe the server's most recent
// GC cycles (at most 256: the runtime's pause ring, which is also what the Prometheus Go
// collector's go_gc_duration_seconds summary is computed from), not a time window.
const (
	GCPauseP50   = "gc_pause_p50_ns"
	GCPauseP99   = "gc_pause_p99_ns" // in-process servers only: a summary exports no p99
	GCPauseMax   = "gc_pause_max_ns"
	GCPauseTotal = "gc_pause_total_ns" // since start; difference two reads for a window
)

// addGCPauses adds the pause figures of this process (an in-process server's /stats).
func addGCPauses(m map[string]uint64) {
	var st debug.GCStats
	debug.ReadGCStats(&st)
	m[GCPauseTotal] = uint64(st.PauseTotal)
	if len(st.Pause) == 0 {
		return
	}
	p := slices.Clone(st.Pause)
	slices.Sort(p)
	m[GCPauseP50] = uint64(PauseQuantile(p, 0.50))
	m[GCPauseP99] = uint64(PauseQuantile(p, 0.99))
	m[GCPauseMax] = uint64(p[len(p)-1])
}

// PauseQuantile is the nearest-rank q-quantile of sorted pauses (0 when empty).
func PauseQuantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999999) - 1 // ceil(q*n) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// gcPauseSample maps the Prometheus Go collector's go_gc_duration_seconds summary
// (quantile="0.5", quantile="1", _sum) to the /stats pause keys.
func gcPauseSample(name, value string) (key string, ns uint64, ok bool) {
	switch {
	case name == "go_gc_duration_seconds_sum":
		key = GCPauseTotal
	case name == `go_gc_duration_seconds{quantile="0.5"}`:
		key = GCPauseP50
	case name == `go_gc_duration_seconds{quantile="1"}`:
		key = GCPauseMax
	default:
		return "", 0, false
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
	if err != nil || !(v >= 0 && v < 1e9) {
		return "", 0, false
	}
	return key, uint64(v*1e9 + 0.5), true
}
