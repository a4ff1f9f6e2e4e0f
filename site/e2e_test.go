package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.uber.org/zap/zaptest"

	"heartline/protocol/client"
	"heartline/protocol/hl1"
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
	proctest.Start(t, dir, "gateway", bins[0], []string{"CONSUL_HTTP_ADDR=" + consul.HTTPAddr}, // app subscriptions on
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
	root, rootCancel := chromedp.NewContext(actx)
	defer rootCancel()
	// The first action starts the browser, which lives as long as root: no timeout on it.
	if err := chromedp.Do(root, chromedp.Navigate(site+"/login")); err != nil {
		t.Fatalf("Chromium: %v", err)
	}
	// Viewers, each in its own browser context (own cookies): 100002 is 100001's match;
	// 100003 was a match, then 100001 blocked it; 100004 is neither. Each logs in through the
	// login form; 100001 (over HTTP) makes the matches and the block first.
	const match, blocked, stranger = 100002, 100003, 100004
	owner := siteLogin(t, site, member, cfg.DemoPassword)
	for _, v := range []uint64{match, blocked} {
		other := siteLogin(t, site, v, cfg.DemoPassword)
		sitePost(t, owner, site, "/likes", url.Values{"member_id": {fmt.Sprint(v)}})
		sitePost(t, other, site, "/likes", url.Values{"member_id": {fmt.Sprint(member)}})
	}
	sitePost(t, owner, site, "/block", url.Values{"member_id": {fmt.Sprint(blocked)}})
	viewer := func(id uint64, page string) context.Context {
		ctx, cancel := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		// The first action creates the tab, which lives as long as the context it ran on.
		if err := chromedp.Do(ctx, chromedp.Navigate(site+"/login")); err != nil {
			t.Fatalf("viewer %d: %v", id, err)
		}
		lctx, lcancel := context.WithTimeout(ctx, 20*time.Second)
		defer lcancel()
		if err := chromedp.Do(lctx,
			chromedp.SetValue(`input[name=email]`, fmt.Sprintf("demo%d@heartline.invalid", id)),
			chromedp.SetValue(`input[name=password]`, cfg.DemoPassword),
			chromedp.Submit(`input[name=password]`),
			pollTrue(`!location.pathname.startsWith("/login") && document.readyState === "complete"`),
			chromedp.Navigate(site+page),
			chromedp.WaitVisible(`main[data-live-state="open"]`),
		); err != nil {
			t.Fatalf("viewer %d on %s: %v", id, page, err)
		}
		return ctx
	}
	bctx := viewer(match, "/members")
	blockedCtx := viewer(blocked, "/matches")
	strangerCtx := viewer(stranger, "/members")
	card := fmt.Sprintf("#m-%d", member)
	within := func(d time.Duration, a chromedp.Action[chromedp.Void]) error {
		ctx, cancel := context.WithTimeout(bctx, d)
		defer cancel()
		return chromedp.Do(ctx, a)
	}
	if err := within(10*time.Second, chromedp.WaitVisible(card+" [data-dot].offline")); err != nil {
		ectx, ecancel := context.WithTimeout(bctx, 5*time.Second)
		html, herr := chromedp.Run(ectx, chromedp.Evaluate[string](`location.href + " " + document.querySelector("main").outerHTML.slice(0, 3000)`))
		ecancel()
		t.Fatalf("member %d's grey dot on the members page: %v\n%s %v", member, err, html, herr)
	}
	// Give EventSource a moment to connect (its snapshot sets the count element).
	if err := within(10*time.Second, chromedp.WaitVisible(`main[data-live-state="open"]`)); err != nil {
		t.Fatalf("the page's SSE stream did not open: %v", err)
	}

	// The same viewers' apps at the gateway: each logs in over the API, fetches a grant for
	// 100001 and subscribes over TCP.
	matchApp := gatewayApp(t, site, tcp, match, cfg.DemoPassword, member)
	blockedApp := gatewayApp(t, site, tcp, blocked, cfg.DemoPassword, member)
	for _, a := range []*appEvents{matchApp, blockedApp} {
		if e := a.next(t, 20*time.Second); e.State != hl1.StateOffline || e.LastSeenMS != 0 {
			t.Fatalf("app of %d: initial %+v, want offline", a.user, e)
		}
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
		t.Fatalf("member %d's dot did not turn green within 2 s of HELLO for its match: %v", member, err)
	}
	green := time.Since(start)
	t.Logf("dot green %v after HELLO (the match's page)", green)
	if e := matchApp.next(t, 2*time.Second); e.State != hl1.StateActive || e.Devices != 1 || e.LastSeenMS != 0 {
		t.Fatalf("the match's app: %+v, want online (coarse)", e)
	}
	// The blocked former match still has the card on /matches: grey, "离线", and it stays so.
	// The barrier is another page's dot: the hub decides for every stream watching the member
	// in one pass (Hub.Publish), so once the stranger's dot is green the blocked viewer's
	// stream has been passed over, not merely not reached yet.
	sctx, scancel := context.WithTimeout(strangerCtx, 5*time.Second)
	if err := chromedp.Do(sctx, chromedp.WaitVisible(card+" [data-dot].online")); err != nil {
		t.Fatalf("another member: member %d's dot not green within 5 s of HELLO: %v", member, err)
	}
	scancel()
	for _, c := range []struct {
		ctx  context.Context
		name string
	}{{blockedCtx, "blocked viewer"}, {strangerCtx, "another member"}} {
		attr, err := chromedp.Run(c.ctx, chromedp.AttributeValue(card+" [data-dot]", "class"))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		seen, err := chromedp.Run(c.ctx, chromedp.Text(card+" [data-seen]"))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		cls := attr.Value
		if c.name == "blocked viewer" && (!strings.Contains(cls, "offline") || seen != "离线") {
			t.Errorf("%s sees member %d as %q %q while online, want a grey dot and 离线", c.name, member, cls, seen)
		}
		if c.name == "another member" && !strings.Contains(cls, "online") {
			t.Errorf("%s: dot %q, want green (member %d is visible to members)", c.name, cls, member)
		}
	}
	if shot, err := chromedp.Run(blockedCtx, chromedp.CaptureScreenshot()); err == nil {
		p := filepath.Join(artifactsDir(), "blocked-viewer-grey.png")
		if os.WriteFile(p, shot, 0o644) == nil {
			t.Logf("screenshot (blocked viewer while the member is online): %s", p)
		}
	}
	// Match-only: the other member's dot turns grey within a second; the match's stays green.
	sitePost(t, owner, site, "/account/visibility", url.Values{"visibility": {"matches"}})
	if err := within(time.Second, chromedp.WaitVisible(card+" [data-dot].offline")); err == nil {
		t.Error("the match lost sight of a match-only member")
	}
	waitDot := func(ctx context.Context, state, what string) {
		t.Helper()
		start := time.Now()
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if err := chromedp.Do(wctx, chromedp.WaitVisible(card+" [data-dot]."+state)); err != nil {
			t.Errorf("%s: the dot is not %s within 1 s: %v", what, state, err)
			return
		}
		t.Logf("%s: %s after %v", what, state, time.Since(start))
	}
	waitDot(strangerCtx, "offline", "another member, after match-only")
	// Invisible with the app running (heartbeats go on): the match sees grey within 1 s,
	// then green again within 1 s of switching back.
	sitePost(t, owner, site, "/account/visibility", url.Values{"visibility": {"nobody"}})
	switched := time.Now()
	waitDot(bctx, "offline", "the match, after invisible")
	if e := matchApp.next(t, time.Second); e.State != hl1.StateOffline || e.LastSeenMS != 0 {
		t.Errorf("the match's app after invisible: %+v, want offline with no last seen", e)
	} else {
		t.Logf("the match's app: offline %v after the switch", time.Since(switched))
	}
	sitePost(t, owner, site, "/account/visibility", url.Values{"visibility": {"members"}})
	switched = time.Now()
	waitDot(bctx, "online", "the match, after visible again")
	if e := matchApp.next(t, time.Second); e.State != hl1.StateActive {
		t.Errorf("the match's app after visible again: %+v, want online", e)
	} else {
		t.Logf("the match's app: online %v after the switch back", time.Since(switched))
	}
	waitDot(strangerCtx, "online", "another member, after visible again")
	// The count is pushed at most once a second (live.Options.CountEvery).
	cctx2, c2cancel := context.WithTimeout(bctx, 3*time.Second)
	_, err = chromedp.Run(cctx2, chromedp.Poll[bool](`document.querySelector("[data-live-count]").textContent.trim() === "3"`))
	c2cancel()
	if err != nil {
		count, _ := chromedp.Run(bctx, chromedp.Text(`[data-live-count]`))
		t.Errorf("online count on the page %q, want 3 (100001 and the two viewers' apps) within 3 s: %v", count, err)
	}
	artifacts := artifactsDir()
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
	if e := matchApp.next(t, 5*time.Second); e.State != hl1.StateOffline || e.LastSeenMS%(24*3600*1000) != 0 {
		t.Errorf("the match's app after BYE: %+v, want offline with a day-granular last seen", e)
	}
	// Through all of it (online, match-only, invisible and back, BYE) the blocked viewer's
	// app got nothing after its initial "offline".
	blockedApp.none(t, 200*time.Millisecond)
	seen, err := chromedp.Run(bctx, chromedp.Text(card+" [data-seen]"))
	if err != nil {
		t.Fatal(err)
	}
	if seen != "今天来过" { // others see coarse recency, never minutes
		t.Errorf("last-seen text after BYE %q, want 今天来过", seen)
	}
	cctx3, c3cancel := context.WithTimeout(bctx, 3*time.Second)
	_, err = chromedp.Run(cctx3, chromedp.Poll[bool](`document.querySelector("[data-live-count]").textContent.trim() === "2"`))
	c3cancel()
	if err != nil {
		t.Errorf("online count did not return to 2 (the viewers' apps) within 3 s of BYE: %v", err)
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

func artifactsDir() string {
	p, _ := filepath.Abs(filepath.Join("testdata", "artifacts"))
	os.MkdirAll(p, 0o755) //nolint:errcheck
	return p
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// siteLogin logs demo member id in through the login form and returns its browser-like client.
func siteLogin(t *testing.T, site string, id uint64, password string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	sitePostTo(t, c, site, "/login", "/login", url.Values{"email": {fmt.Sprintf("demo%d@heartline.invalid", id)}, "password": {password}})
	return c
}

// sitePost submits a form as c, with the CSRF token of c's /account page.
func sitePost(t *testing.T, c *http.Client, site, path string, form url.Values) {
	t.Helper()
	sitePostTo(t, c, site, "/account", path, form)
}

func sitePostTo(t *testing.T, c *http.Client, site, formPage, path string, form url.Values) {
	t.Helper()
	resp, err := c.Get(site + formPage)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1<<20)
	n, _ := io.ReadFull(resp.Body, b)
	resp.Body.Close()
	m := csrfField.FindSubmatch(b[:n])
	if m == nil {
		t.Fatalf("no CSRF token on %s (%s)", formPage, resp.Status)
	}
	form.Set("csrf_token", string(m[1]))
	resp, err = c.PostForm(site+path, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST %s: %s", path, resp.Status)
	}
}

// appEvents is a viewer's app subscribed at the gateway.
type appEvents struct {
	user   uint64
	events chan hl1.Event
}

func (a *appEvents) next(t *testing.T, within time.Duration) hl1.Event {
	t.Helper()
	select {
	case e := <-a.events:
		return e
	case <-time.After(within):
		t.Fatalf("app of %d: no EVENT within %v", a.user, within)
	}
	return hl1.Event{}
}

func (a *appEvents) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case e := <-a.events:
		t.Errorf("app of %d learned %+v", a.user, e)
	case <-time.After(d):
	}
}

// gatewayApp logs viewer in as an app would (POST /api/session), fetches a grant for
// subject (POST /api/grant with the api_token) and subscribes to it at the gateway over TCP.
func gatewayApp(t *testing.T, site, tcpAddr string, viewer uint64, password string, subject uint64) *appEvents {
	t.Helper()
	body := fmt.Sprintf(`{"email":"demo%d@heartline.invalid","password":%q,"device_id":7}`, viewer, password)
	resp, err := http.Post(site+"/api/session", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var sess web.SessionResponse
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&sess) != nil {
		t.Fatalf("app login of %d: %s", viewer, resp.Status)
	}
	resp.Body.Close()
	req, _ := http.NewRequest("POST", site+"/api/grant", strings.NewReader(fmt.Sprintf(`{"ids":[%d]}`, subject)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+sess.APIToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var gr web.GrantResponse
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&gr) != nil {
		t.Fatalf("grant for %d: %s", viewer, resp.Status)
	}
	resp.Body.Close()
	sealed, err := base64.RawURLEncoding.DecodeString(gr.Grant)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := token.ParseText(sess.Token)
	if err != nil {
		t.Fatal(err)
	}
	cred := client.Credentials{Token: tok.Bytes()}
	key, _ := base64.RawURLEncoding.DecodeString(sess.SessionKey)
	copy(cred.Key[:], key)
	a := &appEvents{user: viewer, events: make(chan hl1.Event, 256)}
	c, err := client.New(cred, client.Options{Gateways: []string{tcpAddr}, Network: "tcp",
		OnEvent: func(e hl1.Event) {
			if e.UserID == subject {
				a.events <- e
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	defer ccancel()
	if err := c.Connect(cctx); err != nil {
		cancel()
		t.Fatalf("app of %d: %v", viewer, err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; c.Close() })
	if err := c.Grant(sealed); err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe([]uint64{subject}); err != nil {
		t.Fatal(err)
	}
	return a
}
