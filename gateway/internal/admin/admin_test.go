package admin

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"

	"heartline/gateway/internal/ingest"
	"heartline/gateway/internal/table"
)

func TestEndpoints(t *testing.T) {
	tb, err := table.New(table.Options{Shards: 1, SessionsPerShard: 8})
	if err != nil {
		t.Fatal(err)
	}
	st := new(ingest.Stats)
	st.Heartbeats.Add(41)
	st.Drop(ingest.ReasonBadMAC)
	st.Drop(ingest.ReasonBadMAC)
	slot, _, _, _ := tb.Shard(0).Hello(table.HelloParams{User: 1, Device: 1, Stamp: 1}, 0)
	idx, _, _ := tb.Shard(0).Lookup(slot)
	tb.Shard(0).Accept(idx, 1, 0, true, 0) // online from its first heartbeat
	m := NewMetrics(Sources{Table: tb, Loops: func() []*ingest.Stats { return []*ingest.Stats{st} }})
	m.BatchFill.Observe(64)
	var ready atomic.Bool
	s, err := Listen("127.0.0.1:0", m, func() error {
		if !ready.Load() {
			return errors.New("starting")
		}
		return nil
	}, nil, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background()) //nolint:errcheck
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + s.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("/healthz %d", code)
	}
	if code, _ := get("/readyz"); code != 503 {
		t.Fatalf("/readyz while starting: %d", code)
	}
	ready.Store(true)
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("/readyz when ready: %d", code)
	}
	_, body := get("/metrics")
	for _, want := range []string{
		"heartline_gateway_heartbeats_total 41",
		`heartline_gateway_frames_dropped_total{reason="bad_mac"} 2`,
		`heartline_gateway_frames_dropped_total{reason="replay"} 0`,
		"heartline_gateway_sessions_online 1",
		`heartline_gateway_recvmmsg_batch_fill_bucket{le="64"} 1`,
		"go_gc_duration_seconds",
		"heartline_gateway_feed_queue_depth ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestDrainEndpoint: POST /drain turns the drain on and /healthz to 429, which Consul
// records as a warning (out of the passing list, session kept); DELETE /drain turns it off.
func TestDrainEndpoint(t *testing.T) {
	tb, err := table.New(table.Options{Shards: 1, SessionsPerShard: 8})
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics(Sources{Table: tb, Loops: func() []*ingest.Stats { return nil }})
	d := new(ingest.Drain)
	s, err := Listen("127.0.0.1:0", m, func() error { return nil }, d, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background()) //nolint:errcheck
	do := func(method, path string) (int, string) {
		req, _ := http.NewRequest(method, "http://"+s.Addr()+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := do("GET", "/drain"); code != 200 || !strings.Contains(body, `"draining":false`) {
		t.Fatalf("GET /drain before: %d %s", code, body)
	}
	if code, body := do("POST", "/drain"); code != 200 || !strings.Contains(body, `"draining":true`) || !d.Active() {
		t.Fatalf("POST /drain: %d %s (active %v)", code, body, d.Active())
	}
	if code, _ := do("GET", "/healthz"); code != http.StatusTooManyRequests {
		t.Fatalf("/healthz while draining: %d, want 429 (Consul: warning)", code)
	}
	if code, body := do("DELETE", "/drain"); code != 200 || !strings.Contains(body, `"draining":false`) || d.Active() {
		t.Fatalf("DELETE /drain: %d %s", code, body)
	}
	if code, _ := do("GET", "/healthz"); code != 200 {
		t.Fatalf("/healthz after the drain stopped: %d", code)
	}
	if code, _ := do("PUT", "/drain"); code != http.StatusMethodNotAllowed {
		t.Fatalf("PUT /drain: %d", code)
	}
}
