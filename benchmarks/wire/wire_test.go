package wire

import (
	"encoding/json"
	"testing"
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
