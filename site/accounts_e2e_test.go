package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"heartline/agent/privacywatch"
	"heartline/agent/watcher"
	"heartline/scripts/proctest"
	"heartline/site/internal/auth"
	"heartline/site/internal/live"
	"heartline/site/internal/members"
	"heartline/site/internal/store"
	"heartline/site/internal/visibility"
	"heartline/site/internal/web"
)

// onlineSet is a presence source with a fixed set of online members: this test is about
// accounts, profiles, search and likes in a real browser. (TestBrowserEndToEnd covers
// presence from real gateways through Consul to the page.)
type onlineSet struct {
	mu sync.Mutex
	on map[uint64]bool
}

func (o *onlineSet) Lookup(u uint64) watcher.Presence {
	o.mu.Lock()
	defer o.mu.Unlock()
	return watcher.Presence{User: u, Online: o.on[u], Status: 2}
}

func (o *onlineSet) OnlineUsers() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.on)
}

// TestBrowserAccountJourney drives Debian's Chromium through sign-up → the verification link
// from the outbox → profile edit with a photo upload → search "此刻在线" → like → match, then
// logout, and checks the logged-out cookie no longer works anywhere.
func TestBrowserAccountJourney(t *testing.T) {
	proctest.SkipShort(t) // drives a real Chromium process
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("this test needs Chromium at %s: run scripts/install-test-deps.sh (installs Debian's chromium): %v", chromiumPath, err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, store.Options{DSN: filepath.Join(dir, "site.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := seed(ctx, st, 30, 1, "heartline-demo-1"); err != nil {
		t.Fatal(err)
	}
	const crush = members.FirstDemoID + 1 // online now; will like the new member back
	src := &onlineSet{on: map[uint64]bool{crush: true}}
	cheap := auth.HashParams{Time: 1, Memory: 64, Threads: 1}
	view := privacywatch.NewStatic() // presence is a fixed set here; TestBrowserEndToEnd has the Consul path
	policy, err := visibility.New(visibility.Options{Store: st, View: view, Records: &visibility.MemoryRecords{View: view}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := web.New(web.Options{Store: st, Keys: auth.RandomKeys(false), Hub: live.NewHub(live.Options{Source: src, Privacy: view}), Presence: src,
		Privacy: policy, DevOutbox: true, HashParams: cheap})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	site := hs.URL

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(filepath.Join(dir, "chromium")), chromedp.WindowSize(1280, 1000),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	if err := chromedp.Do(bctx, chromedp.Navigate(site+"/signup")); err != nil { // starts the browser: no timeout
		t.Fatalf("sign-up page in Chromium: %v", err)
	}
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		c, cancel := context.WithTimeout(bctx, 15*time.Second)
		defer cancel()
		if err := chromedp.Do(c, actions...); err != nil {
			html, _ := chromedp.Run(bctx, chromedp.OuterHTML("main"))
			t.Fatalf("%s: %v\npage: %.2000s", name, err, html)
		}
	}
	text := func(sel string) string {
		t.Helper()
		c, cancel := context.WithTimeout(bctx, 15*time.Second)
		defer cancel()
		s, err := chromedp.Run(c, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}

	// 1. Sign up.
	email := "xiaoyu@example.com"
	step("sign up",
		chromedp.WaitVisible(`input[name=nickname]`),
		chromedp.SendKeys(`input[name=nickname]`, "小雨"),
		chromedp.SendKeys(`input[name=email]`, email),
		chromedp.SendKeys(`input[name=password]`, "xiaoyu2026"),
		chromedp.SendKeys(`input[name=confirm]`, "xiaoyu2026"),
		chromedp.Click(`input[name=gender][value=female]`),
		chromedp.SendKeys(`input[name=birth_year]`, "1996"),
		chromedp.SetValue(`select[name=city]`, "杭州"),
		chromedp.Submit(`form[action="/signup"]`),
		chromedp.WaitVisible(`[data-checkmail]`),
	)
	// 2. Verify: the link from the demo outbox logs the new member in.
	step("outbox", chromedp.Navigate(site+"/outbox"), chromedp.WaitVisible(`[data-mail-to="`+email+`"]`))
	link := regexp.MustCompile(`http://[^\s<]+/verify\?token=[A-Za-z0-9_-]+`).FindString(text(`[data-mail-to="` + email + `"] .mail-body`))
	if link == "" {
		t.Fatal("no verification link in the outbox")
	}
	step("verify", chromedp.Navigate(link), chromedp.WaitVisible(`#profile-form`))
	if got := text(`.notice`); !strings.Contains(got, "邮箱验证成功") {
		t.Fatalf("after verifying: %q", got)
	}
	// 3. Edit the profile and upload a photo (with a GPS-looking EXIF block to be stripped).
	step("edit profile",
		chromedp.SetValue(`input[name=occupation]`, "设计师"),
		chromedp.SetValue(`textarea[name=bio]`, "喜欢徒步和猫。"),
		chromedp.Click(`input[name=interests][value="徒步"]`),
		chromedp.Submit(`#profile-form`),
		pollTrue(`location.search.includes("saved=1") && document.readyState === "complete"`),
	)
	if got := text(`.notice`); got != "资料已保存。" {
		t.Fatalf("after saving: %q", got)
	}
	photoPath := filepath.Join(dir, "me.jpg")
	if err := os.WriteFile(photoPath, jpegWithGPS(t), 0o644); err != nil {
		t.Fatal(err)
	}
	step("upload photo",
		chromedp.SetUploadFiles(`input[name=photo]`, []string{photoPath}),
		chromedp.Submit(`form[action="/profile/photo"]`),
		chromedp.WaitVisible(`img.photo-large`),
	)
	me, err := st.MemberByEmail(ctx, email)
	if err != nil || me.Occupation != "设计师" || me.Photo == "" || !me.Verified {
		t.Fatalf("stored member after the profile steps: %+v %v", me, err)
	}
	if ph, err := st.PhotoByName(ctx, me.Photo); err != nil || bytes.Contains(ph.Data, []byte("GPS")) {
		t.Fatalf("stored photo: %v (GPS metadata must be gone)", err)
	}
	// 4. Search "online now": only the online member is listed.
	step("search online now",
		chromedp.Navigate(site+"/members"),
		chromedp.WaitVisible(`#search`),
		chromedp.Click(`#search input[name=online]`),
		chromedp.Submit(`#search`),
		pollTrue(`location.search.includes("online=1") && document.readyState === "complete"`),
		chromedp.WaitVisible(fmt.Sprintf(`#m-%d [data-dot].online`, crush)),
	)
	n, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("li.card").length`))
	if err != nil || n != 1 {
		t.Fatalf("online-now search shows %d cards (%v), want 1", n, err)
	}
	// 5. Like; the other member liked back already, so this is a match.
	if _, err := st.Like(ctx, crush, me.ID); err != nil {
		t.Fatal(err)
	}
	step("like → match",
		chromedp.Click(fmt.Sprintf(`[data-like="%d"]`, crush)),
		chromedp.WaitVisible(fmt.Sprintf(`[data-new-match="%d"]`, crush)),
		chromedp.WaitVisible(fmt.Sprintf(`#m-%d`, crush)),
	)
	saveScreenshot(t, bctx, "account-journey-match.png")
	// 6. Logout revokes the session: the cookie copied before logging out is dead too.
	cookie := browserSessionCookie(t, bctx, site)
	step("logout", chromedp.Click(`form[action="/logout"] button`), chromedp.WaitVisible(`a[href="/signup"]`))
	req, _ := http.NewRequest("GET", site+"/account", nil)
	req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: cookie})
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("the logged-out cookie still opens /account: %d", resp.StatusCode)
	}
}

// pollTrue waits until the JavaScript expression is true on the current page (e.g. the next
// page has loaded: waiting for an element could match the page the form was submitted
// from). Evaluation errors while the old page is being replaced count as "not yet".
func pollTrue(expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		for {
			if ok, err := chromedp.Evaluate[bool](expr)(ctx, t); err == nil && ok {
				return chromedp.Void{}, nil
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, fmt.Errorf("waiting for %s: %w", expr, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// browserSessionCookie reads the HttpOnly session cookie through the DevTools protocol.
func browserSessionCookie(t *testing.T, bctx context.Context, site string) string {
	t.Helper()
	res, err := chromedp.Run(bctx, func(ctx context.Context, tg *chromedp.Target) (network.GetCookiesResult, error) {
		return cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{site}})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == auth.SessionCookie {
			return c.Value
		}
	}
	t.Fatal("the browser has no session cookie")
	return ""
}

func saveScreenshot(t *testing.T, bctx context.Context, name string) {
	artifacts, _ := filepath.Abs(filepath.Join("testdata", "artifacts"))
	os.MkdirAll(artifacts, 0o755) //nolint:errcheck
	if shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)); err == nil {
		p := filepath.Join(artifacts, name)
		if os.WriteFile(p, shot, 0o644) == nil {
			t.Logf("screenshot: %s", p)
		}
	}
}

// jpegWithGPS is a 96×96 JPEG carrying an EXIF block that mentions GPS.
func jpegWithGPS(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 96, 96))
	for y := range 96 {
		for x := range 96 {
			img.Set(x, y, color.RGBA{uint8(200 + x/2), uint8(80 + y), 120, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	j := b.Bytes()
	payload := []byte("Exif\x00\x00GPSLatitude 30.2741 N GPSLongitude 120.1551 E")
	seg := []byte{0xFF, 0xE1, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)}
	return append(append(append(append([]byte{}, j[:2]...), seg...), payload...), j[2:]...)
}
