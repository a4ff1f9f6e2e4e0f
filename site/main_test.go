package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"heartline/scripts/proctest"
	"heartline/site/internal/auth"
	"heartline/site/internal/members"
	"heartline/site/internal/store"
)

func TestParseConfigEnvAndFlags(t *testing.T) {
	t.Setenv("PORT", "9999")
	t.Setenv("HEARTLINE_PREFIX", "hl-test")
	t.Setenv("HEARTLINE_PAGE_SIZE", "30")
	c, err := parseConfig([]string{"-page-size", "12"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":9999" || c.Prefix != "hl-test" || c.PageSize != 12 || !c.SecureCookies || c.DemoMembers != 0 {
		t.Fatalf("config %+v", c)
	}
	t.Setenv("HEARTLINE_SECURE_COOKIES", "maybe")
	if _, err := parseConfig(nil); err == nil || !strings.Contains(err.Error(), "HEARTLINE_SECURE_COOKIES") {
		t.Fatalf("bad env value: %v", err)
	}
	t.Setenv("HEARTLINE_SECURE_COOKIES", "false")
	for _, args := range [][]string{{"-prefix", "/heartline/"}, {"-page-size", "0"}, {"-demo-members", "-1"}, {"stray"}, {"-login-ip-burst", "0"},
		{"-sse-max-per-addr", "0"}, {"-hash-concurrency", "0"}, {"-grant-ttl", "1s"}, {"-log-level", "loud"}} {
		if _, err := parseConfig(args); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestSeedCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "site.db")
	var out bytes.Buffer
	if err := seedCommand([]string{"-n", "7", "-db", path, "-password", "pass-word-9"}, &out); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), store.Options{DSN: path})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := st.MemberByEmail(context.Background(), members.DemoEmail(members.FirstDemoID+6))
	n, _ := st.CountMembers(context.Background())
	if err != nil || n != 7 || !strings.Contains(out.String(), "100001..100007") {
		t.Fatalf("seeded %d members (%v), output %q", n, err, out.String())
	}
	if ok, err := auth.CheckPassword(m.PasswordHash, "pass-word-9"); !ok || err != nil {
		t.Fatalf("demo password does not verify: %v", err)
	}
	if err := seedCommand([]string{"-n", "0", "-db", path}, io.Discard); err == nil {
		t.Fatal("-n 0 accepted")
	}
	if err := seedCommand([]string{"-n", "3", "-db", path}, io.Discard); err == nil {
		t.Fatal("seeding the same ids twice accepted")
	}
	if n2, _ := st.CountMembers(context.Background()); n2 != 7 {
		t.Fatalf("a failed second seed changed the count to %d", n2)
	}
}

func TestImportCommand(t *testing.T) {
	dir := t.TempDir()
	file, db := filepath.Join(dir, "members.json"), filepath.Join(dir, "site.db")
	old := []*members.Member{{ID: 5000001, Email: "Old@Example.com", PasswordHash: "h", Nickname: "老会员", Gender: "male", BirthYear: 1990, City: "北京",
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}}
	if err := members.WriteFile(file, old); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := importCommand([]string{"-members", file, "-db", db}, &out); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), store.Options{DSN: db})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := st.MemberByEmail(context.Background(), "old@example.com")
	if err != nil || m.ID != 5000001 || !m.Verified || m.LastActive == 0 || !strings.Contains(out.String(), "imported 1 members") {
		t.Fatalf("imported %+v %v %q", m, err, out.String())
	}
	next := &members.Member{Email: "new@example.com", PasswordHash: "h", Nickname: "新人", Gender: "female", BirthYear: 1995, City: "上海", CreatedAt: time.Now()}
	if err := st.CreateMember(context.Background(), next); err != nil || next.ID != 5000002 {
		t.Fatalf("sign-up after import got id %d (%v), want 5000002", next.ID, err)
	}
}

// Graceful shutdown ends open SSE streams instead of waiting for them, even while Consul
// is unreachable (the watcher keeps retrying in the background).
func TestRunShutsDownWithOpenSSEStream(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	adminAddr := proctest.FreeAddr(t, "tcp")
	cfg, err := parseConfig([]string{"-db", filepath.Join(dir, "site.db"), "-demo-members", "5", "-consul-addr", deadAddr,
		"-secure-cookies=false", "-admin-addr", adminAddr})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, ln, zaptest.NewLogger(t)) }()
	base := "http://" + ln.Addr().String()
	var resp *http.Response
	for i := 0; i < 100; i++ {
		if resp, err = http.Get(base + "/events"); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if r, err := http.Get(base + "/readyz"); err != nil || r.StatusCode != 503 {
		t.Fatalf("readyz without Consul: %v %v", r, err)
	}
	mr, err := http.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(mr.Body)
	mr.Body.Close()
	for _, want := range []string{"heartline_site_sse_clients 1", "heartline_site_http_requests_total{code=\"5xx\"} 1", "go_goroutines"} {
		if !strings.Contains(string(mb), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("run did not return: shutdown waited for the SSE stream")
	}
	if _, err := io.ReadAll(resp.Body); err != nil && !strings.Contains(err.Error(), "EOF") {
		t.Logf("stream ended with %v", err)
	}
}
