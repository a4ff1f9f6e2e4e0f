// Package wire holds what the load generator and the comparator servers must agree on and
// that is not part of HL1: the pre-shared per-slot keys used when the comparators skip the
// HELLO handshake, the naive JSON heartbeat, and the tiny /stats endpoint every comparator
// serves so the harness can check that the datagrams it sent were really processed.
//
// Benchmark-only: nothing here is a product format, and it must not be imported outside
// benchmarks/.
package wire

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"heartline/protocol/hl1"
)

// PresharedKey returns the session key of slot in handshake-less runs (-handshake none):
// a fixed function of the slot, so the loadgen and a comparator derive the same key with
// no HELLO. Both sides compute it once per session, never per heartbeat.
func PresharedKey(slot uint32) hl1.MACKey {
	var k [16]byte
	binary.LittleEndian.PutUint64(k[0:8], mix(uint64(slot)))
	binary.LittleEndian.PutUint64(k[8:16], mix(uint64(slot)^0x9e3779b97f4a7c15))
	return hl1.NewMACKey(k)
}

// mix is splitmix64's finaliser.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// JSONBeat is the seed's "before" heartbeat: one JSON object per datagram.
type JSONBeat struct {
	UserID uint64 `json:"user_id"`
	TS     int64  `json:"ts"` // Unix milliseconds
	Status string `json:"status"`
	Seq    uint64 `json:"seq"`
}

// AppendJSONBeat appends b as JSON (same bytes as encoding/json, without its allocations:
// the sender must not be the bottleneck).
func AppendJSONBeat(dst []byte, b JSONBeat) []byte {
	dst = append(dst, `{"user_id":`...)
	dst = strconv.AppendUint(dst, b.UserID, 10)
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, b.TS, 10)
	dst = append(dst, `,"status":"`...)
	dst = append(dst, b.Status...) // "active" or "idle": no escaping needed
	dst = append(dst, `","seq":`...)
	dst = strconv.AppendUint(dst, b.Seq, 10)
	return append(dst, '}')
}

// Counters is a named set of counters served at /stats as a JSON object.
type Counters struct {
	names []string
	vals  []*atomic.Uint64
}

// NewCounters creates counters with the given names.
func NewCounters(names ...string) *Counters {
	c := &Counters{names: names}
	for range names {
		c.vals = append(c.vals, new(atomic.Uint64))
	}
	return c
}

// Get returns the counter called name (nil if unknown).
func (c *Counters) Get(name string) *atomic.Uint64 {
	for i, n := range c.names {
		if n == name {
			return c.vals[i]
		}
	}
	return nil
}

// Snapshot returns every counter's value.
func (c *Counters) Snapshot() map[string]uint64 {
	m := make(map[string]uint64, len(c.names))
	for i, n := range c.names {
		m[n] = c.vals[i].Load()
	}
	return m
}

// ServeStats serves snap() at http://addr/stats in the background (addr "" disables it).
// Pass Counters.Snapshot, or a function that reads the server's own counters.
func ServeStats(addr string, snap func() map[string]uint64) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("wire: stats listener %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		m := snap()
		// Allocation and GC counters under the names the gateway's Prometheus Go collector
		// uses (after ParsePrometheus), so the harness reads every server alike.
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		m["go_memstats_mallocs"] = ms.Mallocs
		m["go_gc_duration_seconds_count"] = uint64(ms.NumGC)
		addGCPauses(m)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(m)
	})
	go func() { _ = http.Serve(ln, mux) }()
	return nil
}

// FetchStats reads a /stats endpoint.
func FetchStats(url string) (map[string]uint64, error) {
	cl := http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get(url)
	if err != nil {
		return nil, fmt.Errorf("wire: stats %s: %w", url, err)
	}
	defer resp.Body.Close()
	if strings.HasSuffix(url, "/metrics") {
		b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		if err != nil {
			return nil, fmt.Errorf("wire: metrics %s: %w", url, err)
		}
		return ParsePrometheus(b), nil
	}
	var m map[string]uint64
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return nil, fmt.Errorf("wire: stats %s: %w", url, err)
	}
	return m, nil
}

// ParsePrometheus reads Prometheus text exposition into the /stats shape: every sample of
// a metric summed over its labels, under its name with the "heartline_<process>_" prefix
// and the "_total" suffix removed (heartline_gateway_heartbeats_total -> "heartbeats"), so
// the harness checks the gateway's own counters the same way as a comparator's.
func ParsePrometheus(b []byte) map[string]uint64 {
	m := map[string]uint64{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		name := line[:sp]
		if k, ns, ok := gcPauseSample(name, line[sp+1:]); ok {
			m[k] = ns
			continue
		}
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(line[sp+1:]), 64)
		if err != nil || !(v >= 0 && v < 1e19) { // also skips NaN and +Inf
			continue
		}
		if strings.HasPrefix(name, "heartline_") {
			if i := strings.IndexByte(name[len("heartline_"):], '_'); i >= 0 {
				name = name[len("heartline_")+i+1:]
			}
		}
		name = strings.TrimSuffix(name, "_total")
		m[name] += uint64(v)
	}
	return m
}

// Names returns m's keys in order (for stable printing).
func Names(m map[string]uint64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
