package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.uber.org/zap/zaptest"

	"heartline/protocol/client"
	"heartline/protocol/token"
	"heartline/scripts/consultest"
	"heartline/scripts/proctest"
	"heartline/site/internal/web"
)

const chromiumPath = "/usr/bin/chromium"

// TestBrowserEndToEnd: real Consul, real gateway and agent processes, the site in-process,
// and a real headless Chromium on the members page. A reference client heartbeats as a
// demo member: the member's dot must turn green within 2 s; after BYE it must turn grey
// with a last-seen text. A screenshot is saved under testdata/artifacts/.
func TestBrowserEndToEnd(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("%s not found: the browser test needs Debian's chromium; run scripts/install-test-deps.sh (as root) first", chromiumPath)
	}
	consul := consultest.Start(t, nil)
	dir := t.TempDir()

	bins := proctest.Build(t, "heartline/gateway", "heartline/agent")
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(7*i + 3)
	}
	keyFile := filepath.Join(dir, "keys")
	if err := os.WriteFile(keyFile, []byte("1 "+hex.EncodeToString(secret)+" current\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	udp, tcp, admin, agentHTTP := proctest.FreeAddr(t, "udp"), proctest.FreeAddr(t, "tcp"), proctest.FreeAddr(t, "tcp"), proctest.FreeAddr(t, "tcp")
	sock := filepath.Join(dir, "feed.sock")
	proctest.Start(t, dir, "gateway", bins[0], nil,
		"-udp-addr", udp, "-tcp-addr", tcp, "-admin-addr", admin, "-secret-file", keyFile, "-feed-socket", sock,
		"-gateway-id", "gw-e2e", "-loops", "1", "-max-sessions", "10000", "-flush-interval", "10ms")
	proctest.Start(t, dir, "agent", bins[1], []string{"CONSUL_HTTP_ADDR=" + consul.HTTPAddr},
		"-gateway-id", "gw-e2e", "-feed-socket", sock, "-gateway-admin", "http://"+admin, "-gateway-address", "127.0.0.1",
		"-gateway-udp-port", proctest.Port(udp), "-gateway-tcp-port", proctest.Port(tcp), "-http-addr", agentHTTP,
		"-buckets", "64", "-flush-window", "20ms", "-check-interval", "500ms")

	// The site, in-process, on a real listener.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	site := "http://" + ln.Addr().String()
	cfg, err := parseConfig([]string{"-db", filepath.Join(dir, "site.db"), "-demo-members", "24", "-key-file", keyFile,
		"-consul-addr", consul.HTTPAddr, "-secure-cookies=false", "-log-level", "warn", "-admin-addr", ""})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	siteDone := make(chan error, 1)
	go func() { siteDone <- run(ctx, cfg, ln, zaptest.NewLogger(t)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-siteDone; err != nil {
			t.Errorf("site: %v", err)
		}
	})
	proctest.WaitFor(t, 20*time.Second, "the site's watcher to be ready (agent created the cluster config)", func() bool {
		resp, err := http.Get(site + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	// Log in as demo member 100001 the way an app does, until a healthy gateway is listed.
	const member = 100001
	var sess web.SessionResponse
	proctest.WaitFor(t, 30*time.Second, "the gateway's Consul health check to pass", func() bool {
		e, _, err := consul.Client().Health().Service("heartline-gateway", "", true, nil)
		return err == nil && len(e) == 1
	})

	tries := 0
	proctest.WaitFor(t, 10*time.Second, "POST /api/session to list the healthy gateway", func() bool {
		if tries++; tries > 1 {
			time.Sleep(time.Second)
		}
		body := fmt.Sprintf(`{"email":"demo%d@heartline.invalid","password":%q,"device_id":1}`, member, cfg.DemoPassword)
		resp, err := http.Post(site+"/api/session", "application/json", strings.NewReader(body))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("POST /api/session: %s", resp.Status)
		}
		sess = web.SessionResponse{}
		return json.NewDecoder(resp.Body).Decode(&sess) == nil && len(sess.Gateways) == 1
	})

	if sess.Gateways[0].UDP != udp || sess.Gateways[0].TCP != tcp || sess.UserID != member {
		t.Fatalf("session %+v: want gateway udp %s tcp %s", sess, udp, tcp)
	}
	tok, err := token.ParseText(sess.Token)
	if err != nil {
		t.Fatal(err)
	}
	keyBytes, err := base64.RawURLEncoding.DecodeString(sess.SessionKey)
	if err != nil || len(keyBytes) != token.SessionKeySize {
		t.Fatalf("session key %q: %v", sess.SessionKey, err)
	}
	cred := client.Credentials{Token: tok.Bytes()}
	copy(cred.Key[:], keyBytes)

	// The browser.
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(filepath.Join(dir, "chromium")), chromedp.WindowSize(1280, 1000),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	card := fmt.Sprintf("#m-%d", member)
	// The first action starts the browser, which lives as long as bctx: no timeout on it.
	if err := chromedp.Do(bctx, chromedp.Navigate(site+"/members")); err != nil {
		t.Fatalf("members page in Chromium: %v", err)
	}
	within := func(d time.Duration, a chromedp.Action[chromedp.Void]) error {
		ctx, cancel := context.WithTimeout(bctx, d)
		defer cancel()
		return chromedp.Do(ctx, a)
	}
	if err := within(10*time.Second, chromedp.WaitVisible(card+" [data-dot].offline")); err != nil {
		t.Fatalf("member %d's grey dot on the members page: %v", member, err)
	}
	// Give EventSource a moment to connect (its snapshot sets the count element).
	if err := within(10*time.Second, chromedp.WaitVisible(`main[data-live-state="open"]`)); err != nil {
		t.Fatalf("the page's SSE stream did not open: %v", err)
	}

	c, err := client.New(cred, client.Options{Gateways: []string{sess.Gateways[0].UDP}, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	start := time.Now()
	if err := c.Connect(cctx); err != nil {
		t.Fatalf("reference client HELLO: %v", err)
	}
	go c.Run(cctx) //nolint:errcheck
	if err := within(2*time.Second, chromedp.WaitVisible(card+" [data-dot].online")); err != nil {
		t.Fatalf("member %d's dot did not turn green within 2 s of HELLO: %v", member, err)
	}
	green := time.Since(start)
	t.Logf("dot green %v after HELLO", green)
	// The count is pushed at most once a second (live.Options.CountEvery).
	cctx2, c2cancel := context.WithTimeout(bctx, 3*time.Second)
	_, err = chromedp.Run(cctx2, chromedp.Poll[bool](`document.querySelector("[data-live-count]").textContent.trim() === "1"`))
	c2cancel()
	if err != nil {
		count, _ := chromedp.Run(bctx, chromedp.Text(`[data-live-count]`))
		t.Errorf("online count on the page %q, want 1 within 3 s: %v", count, err)
	}
	artifacts, _ := filepath.Abs(filepath.Join("testdata", "artifacts"))
	os.MkdirAll(artifacts, 0o755) //nolint:errcheck
	if shot, err := chromedp.Run(bctx, chromedp.CaptureScreenshot()); err == nil {
		p := filepath.Join(artifacts, "members-online.png")
		if os.WriteFile(p, shot, 0o644) == nil {
			t.Logf("screenshot (online): %s", p)
		}
	}

	start = time.Now()
	if err := c.Bye(); err != nil {
		t.Fatalf("BYE: %v", err)
	}
	if err := within(5*time.Second, chromedp.WaitVisible(card+" [data-dot].offline")); err != nil {
		t.Fatalf("member %d's dot did not turn grey within 5 s of BYE: %v", member, err)
	}
	t.Logf("dot grey %v after BYE", time.Since(start))
	seen, err := chromedp.Run(bctx, chromedp.Text(card+" [data-seen]"))
	if err != nil {
		t.Fatal(err)
	}
	if seen != "刚刚在线" {
		t.Errorf("last-seen text after BYE %q, want 刚刚在线", seen)
	}
	cctx3, c3cancel := context.WithTimeout(bctx, 3*time.Second)
	_, err = chromedp.Run(cctx3, chromedp.Poll[bool](`document.querySelector("[data-live-count]").textContent.trim() === "0"`))
	c3cancel()
	if err != nil {
		t.Errorf("online count did not return to 0 within 3 s of BYE: %v", err)
	}
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	p := filepath.Join(artifacts, "members-e2e.png")
	if err := os.WriteFile(p, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot (after BYE): %s", p)
}
