package wire

import (
	"encoding/json"
	"runtime"
	"testing"
	"time"
)

func TestAppendJSONBeatMatchesEncodingJSON(t *testing.T) {
	for _, b := range []JSONBeat{{UserID: 1, TS: 2, Status: "active", Seq: 3}, {UserID: 1<<64 - 1, TS: -5, Status: "idle", Seq: 0}} {
		got := AppendJSONBeat(nil, b)
		want, _ := json.Marshal(b)
		if string(got) != string(want) {
			t.Fatalf("AppendJSONBeat = %s, encoding/json = %s", got, want)
		}
	}
}

func TestPresharedKeyDiffersPerSlot(t *testing.T) {
	msg := []byte("heartbeat")
	if PresharedKey(1).Sum(msg) == PresharedKey(2).Sum(msg) {
		t.Fatal("slots 1 and 2 share a key")
	}
	if PresharedKey(7).Sum(msg) != PresharedKey(7).Sum(msg) {
		t.Fatal("PresharedKey is not deterministic")
	}
}

func TestParsePrometheus(t *testing.T) {
	text := []byte(`# HELP heartline_gateway_heartbeats_total Heartbeats accepted.
# TYPE heartline_gateway_heartbeats_total counter
heartline_gateway_heartbeats_total 12345
heartline_gateway_frames_dropped_total{reason="bad_mac"} 3
heartline_gateway_frames_dropped_total{reason="replay"} 4
heartline_gateway_sessions_online 10
go_goroutines 7
`)
	m := ParsePrometheus(text)
	if m["heartbeats"] != 12345 || m["frames_dropped"] != 7 || m["sessions_online"] != 10 || m["go_goroutines"] != 7 {
		t.Fatalf("ParsePrometheus = %v", m)
	}
}

func FuzzParsePrometheus(f *testing.F) {
	f.Add([]byte("heartline_gateway_heartbeats_total 5\n# c\nx{a=\"b c\"} 1e3\n"))
	f.Add([]byte("{ } NaN\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = ParsePrometheus(b) // must not panic on any input
	})
}

func TestParsePrometheusGCPauses(t *testing.T) {
	text := []byte(`# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 3.6143e-05
go_gc_duration_seconds{quantile="0.5"} 7.9338e-05
go_gc_duration_seconds{quantile="1"} 0.000115102
go_gc_duration_seconds_sum 0.000230583
go_gc_duration_seconds_count 3
`)
	m := ParsePrometheus(text)
	if m[GCPauseP50] != 79338 || m[GCPauseMax] != 115102 || m[GCPauseTotal] != 230583 || m["go_gc_duration_seconds_count"] != 3 {
		t.Fatalf("pause keys: %v", m)
	}
	if _, ok := m[GCPauseP99]; ok {
		t.Fatalf("a summary has no p99; got %v", m[GCPauseP99])
	}
}

func TestPauseQuantile(t *testing.T) {
	var p []time.Duration
	for i := 1; i <= 200; i++ {
		p = append(p, time.Duration(i)*time.Microsecond)
	}
	if q := PauseQuantile(p, 0.5); q != 100*time.Microsecond {
		t.Fatalf("p50 = %v", q)
	}
	if q := PauseQuantile(p, 0.99); q != 198*time.Microsecond {
		t.Fatalf("p99 = %v", q)
	}
	if q := PauseQuantile(p[:1], 0.99); q != time.Microsecond {
		t.Fatalf("p99 of one = %v", q)
	}
	if q := PauseQuantile(nil, 0.5); q != 0 {
		t.Fatalf("empty = %v", q)
	}
}

func TestServeStatsReportsPauses(t *testing.T) {
	m := map[string]uint64{}
	runtime.GC()
	addGCPauses(m)
	if m[GCPauseMax] == 0 || m[GCPauseP50] > m[GCPauseMax] || m[GCPauseP99] > m[GCPauseMax] || m[GCPauseP50] > m[GCPauseP99] {
		t.Fatalf("pause figures after a forced GC: %v", m)
	}
}
