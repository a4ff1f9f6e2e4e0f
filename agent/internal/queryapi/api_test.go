package queryapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"heartline/agent/internal/consulwriter"
	"heartline/agent/internal/state"
	"heartline/agent/watcher"
	"heartline/protocol/presencekv"
	"heartline/scripts/consultest"
)

const prefix = "hlq"

func TestQueryAPIAgainstConsul(t *testing.T) {
	s := consultest.Start(t, nil)
	c := s.Client()
	log := zaptest.NewLogger(t)
	if _, err := consulwriter.EnsureConfig(c, prefix, 64); err != nil {
		t.Fatal(err)
	}
	table := state.New(64, 1, 0)
	sess := consulwriter.NewSession(c, consulwriter.SessionOptions{Name: "heartline-agent/gw-q", Log: log})
	wr, err := consulwriter.New(consulwriter.Options{Client: c, Prefix: prefix, GatewayID: "gw-q", Table: table, Session: sess, FlushWindow: 10 * time.Millisecond, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := sess.Create(ctx); err != nil {
		t.Fatal(err)
	}
	wrDone := make(chan struct{})
	go func() { defer close(wrDone); wr.Run(ctx) }() //nolint:errcheck
	defer func() { cancel(); <-wrDone }()
	w, err := watcher.New(watcher.Options{Client: c, Prefix: prefix, WaitTime: 2 * time.Second, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	go w.Run(ctx) //nolint:errcheck

	table.ApplyAll([]presencekv.Transition{
		{Kind: presencekv.KindOnline, User: 10, Device: 1, Status: 1, At: 1000},
		{Kind: presencekv.KindOnline, User: 10, Device: 2, Status: 2, At: 1001},
		{Kind: presencekv.KindOnline, User: 11, Device: 1, Status: 1, At: 1002},
	})
	// Last seen must be within the retention window (30 days) to be kept.
	seen := time.Now().UnixMilli()
	table.Apply(presencekv.Transition{Kind: presencekv.KindOffline, User: 11, Device: 1, Status: 1, At: seen})
	fctx, fcancel := context.WithTimeout(ctx, 30*time.Second)
	defer fcancel()
	if err := wr.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(Handler(Options{Watcher: w, Client: c, Prefix: prefix, Log: log}))
	defer srv.Close()

	get := func(path string, into any) int {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
			t.Fatalf("%s: body is not JSON: %v", path, err)
		}
		return resp.StatusCode
	}
	deadline := time.Now().Add(20 * time.Second)
	var p watcher.Presence
	for {
		if code := get("/v1/presence/10", &p); code == 200 && p.Online && len(p.Devices) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("user 10 never showed online: %+v", p)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if p.Status != 2 {
		t.Fatalf("combined status %d, want 2 (active wins)", p.Status)
	}
	var pc watcher.Presence
	if code := get("/v1/presence/10?consistent=1", &pc); code != 200 || !pc.Online || len(pc.Devices) != 2 || pc.Devices[1].Status != 2 {
		t.Fatalf("consistent read = %d %+v", code, pc)
	}
	var off watcher.Presence
	if get("/v1/presence/11?consistent=1", &off); off.Online || off.LastSeen != seen {
		t.Fatalf("consistent read of an offline user = %+v, want last seen %d", off, seen)
	}

	var errBody map[string]string
	if code := get("/v1/presence/abc", &errBody); code != 400 || !strings.Contains(errBody["error"], "not an unsigned decimal") {
		t.Fatalf("bad id: %d %v", code, errBody)
	}

	post := func(body string, into any) int {
		resp, err := http.Post(srv.URL+"/v1/presence/batch", "application/json", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		json.NewDecoder(resp.Body).Decode(into) //nolint:errcheck
		return resp.StatusCode
	}
	var batch struct{ Presence []watcher.Presence }
	if code := post(`{"users":[10,11,12]}`, &batch); code != 200 || len(batch.Presence) != 3 || !batch.Presence[0].Online || batch.Presence[1].Online || batch.Presence[1].LastSeen != seen {
		t.Fatalf("batch = %d %+v", code, batch)
	}
	ids := make([]string, MaxBatch+1)
	for i := range ids {
		ids[i] = fmt.Sprint(i)
	}
	if code := post(`{"users":[`+strings.Join(ids, ",")+`]}`, &errBody); code != 413 || !strings.Contains(errBody["error"], "at most 1000") {
		t.Fatalf("oversize batch: %d %v", code, errBody)
	}
	if code := post(`{"ids":[1]}`, &errBody); code != 400 {
		t.Fatalf("wrong field: %d %v", code, errBody)
	}
	var stats map[string]any
	if code := get("/v1/stats", &stats); code != 200 || stats["online_users"].(float64) != 1 || stats["online_sessions"].(float64) != 2 {
		t.Fatalf("stats = %d %v", code, stats)
	}
}
