package web

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"heartline/agent/privacywatch"
	"heartline/agent/watcher"
	"heartline/protocol/token"
	"heartline/site/internal/auth"
	"heartline/site/internal/catalog"
	"heartline/site/internal/live"
	"heartline/site/internal/members"
	"heartline/site/internal/store"
	"heartline/site/internal/visibility"
)

var cheap = auth.HashParams{Time: 1, Memory: 64, Threads: 1}

type fakeSource struct {
	mu sync.Mutex
	p  map[uint64]watcher.Presence
}

func (f *fakeSource) Lookup(u uint64) watcher.Presence {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.p[u]
	p.User = u
	return p
}

func (f *fakeSource) OnlineUsers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, p := range f.p {
		if p.Online {
			n++
		}
	}
	return n
}

type fakeGateways struct{ err error }

func (g fakeGateways) Gateways(context.Context) ([]catalog.Gateway, error) {
	return []catalog.Gateway{{ID: "gw-1", UDP: "127.0.0.1:7946", TCP: "127.0.0.1:7947"}}, g.err
}

type fixture struct {
	srv    *httptest.Server
	store  *store.Store
	src    *fakeSource
	ring   *token.KeyRing
	now    time.Time
	view   *privacywatch.View
	hub    *live.Hub
	server *Server
}

const demoPassword = "demo-pass-1"

func newFixture(t *testing.T, mod func(*Options)) *fixture {
	t.Helper()
	return newFixtureOn(t, filepath.Join(t.TempDir(), "site.db"), mod)
}

// newFixtureOn is newFixture on the database dsn (SQLite path or postgres:// URL).
func newFixtureOn(t *testing.T, dsn string, mod func(*Options)) *fixture {
	t.Helper()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	hash, err := auth.HashPassword(demoPassword, cheap)
	if err != nil {
		t.Fatal(err)
	}
	demo, err := members.GenerateDemo(members.DemoOptions{N: 30, PasswordHash: hash, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), store.Options{DSN: dsn, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	i := 0
	if _, err := st.InsertMembers(context.Background(), func() (*members.Member, error) {
		if i == len(demo) {
			return nil, nil
		}
		m := demo[i]
		m.LastActive = now.Add(-time.Duration(i+1) * time.Minute).UnixMilli() // list order = id order
		i++
		return m, nil
	}); err != nil {
		t.Fatal(err)
	}
	src := &fakeSource{p: map[uint64]watcher.Presence{
		100001: {Online: true, Status: 2, Devices: []watcher.Device{{Device: 1, Gateway: "gw-1", Status: 2, Since: now.Add(-time.Minute).UnixMilli(), Version: 9}}},
		100002: {LastSeen: now.Add(-5 * time.Minute).UnixMilli()},
	}}
	ring := token.NewKeyRing()
	if err := ring.Add(1, []byte(strings.Repeat("k", 32))); err != nil {
		t.Fatal(err)
	}
	ring.SetCurrent(1) //nolint:errcheck
	view := privacywatch.NewStatic()
	policy, err := visibility.New(visibility.Options{Store: st, View: view, Records: &visibility.MemoryRecords{View: view}, Keys: ring,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	counted := live.HidingSource{Source: src, View: view}
	hub := live.NewHub(live.Options{Source: counted, Privacy: view, Now: func() time.Time { return now }})
	view.Subscribe(func(c privacywatch.Change) { hub.PrivacyChanged(c.Subjects) })
	o := Options{Store: st, Keys: auth.RandomKeys(false), Hub: hub, Presence: counted, Privacy: policy,
		KeyRing: ring, Gateways: fakeGateways{}, HashParams: cheap, PageSize: 12, Now: func() time.Time { return now },
		Limits: &auth.LoginLimits{IP: auth.NewLimiter(100, time.Second, 100), Account: auth.NewLimiter(3, time.Minute, 100)}}
	if mod != nil {
		mod(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, store: st, src: src, ring: ring, now: now, view: view, hub: hub, server: s}
}

// sessionCookie returns the browser's session cookie for base.
func sessionCookie(t *testing.T, c *http.Client, base string) *http.Cookie {
	t.Helper()
	u, _ := url.Parse(base)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == auth.SessionCookie {
			return ck
		}
	}
	t.Fatal("no session cookie")
	return nil
}

// loggedIn reports whether a fresh client carrying only cookie is logged in.
func loggedIn(t *testing.T, base string, cookie *http.Cookie) bool {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/account", nil)
	req.AddCookie(cookie)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// browser is a client with cookies that does not follow redirects.
func (f *fixture) browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var csrfRe = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// csrf loads a page and returns its form token.
func csrf(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	_, body := get(t, c, u)
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("%s has no CSRF field", u)
	}
	return m[1]
}

func post(t *testing.T, c *http.Client, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestPagesRenderWithSecurityHeaders(t *testing.T) {
	f := newFixture(t, nil)
	c := f.browser(t)
	if resp, _ := get(t, c, f.srv.URL+"/members"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("anonymous GET /members: %d %q, want a redirect to /login (no presence for anonymous visitors)", resp.StatusCode, resp.Header.Get("Location"))
	}
	f.login(t, c, 100030)
	for _, p := range []struct {
		path, want string
		status     int
	}{
		{"/", "此刻 <strong id=\"online-count\" data-live-count>1</strong> 位会员在线", 200},
		{"/signup", "免费注册", 200},
		{"/login", "登录", 200},
		{"/members", "会员", 200},
		{"/members?gender=female&city=%E6%9D%AD%E5%B7%9E&age_min=20&age_max=40&online=1&recent=1", "会员", 200},
		{"/members?age_min=x", "年龄范围无效", 400},
		{"/members?age_min=40&age_max=30", "年龄范围无效", 400},
		{"/members?city=Atlantis", "请从列表中选择城市", 400},
		{"/members?after=1.x", "分页参数无效", 400},
		{"/nope", "页面不存在", 404},
	} {
		resp, body := get(t, c, f.srv.URL+p.path)
		if resp.StatusCode != p.status || !strings.Contains(body, p.want) {
			t.Errorf("GET %s: %d, want %d and %q", p.path, resp.StatusCode, p.status, p.want)
		}
		if !strings.Contains(body, "<title>") || !strings.Contains(body, "遇见对的人 · Go相亲官网</title>") {
			t.Errorf("GET %s: title missing", p.path)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET %s: CSP %q", p.path, csp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: security headers missing", p.path)
		}
		if regexp.MustCompile(`<script>|<script [^>]*>[^<]`).MatchString(body) || strings.Contains(body, " style=") || strings.Contains(body, "onclick") {
			t.Errorf("GET %s: inline script or style", p.path)
		}
	}
}

func TestMembersPageShowsPresence(t *testing.T) {
	f := newFixture(t, nil)
	c := f.browser(t)
	f.login(t, c, 100030)
	_, body := get(t, c, f.srv.URL+"/members")
	card := func(id string) string {
		i := strings.Index(body, `id="m-`+id+`"`)
		if i < 0 {
			t.Fatalf("no card for %s", id)
		}
		j := strings.Index(body[i:], "</li>\n")
		return body[i : i+j]
	}
	if c := card("100001"); !strings.Contains(c, `class="dot online"`) || !strings.Contains(c, ">在线<") {
		t.Errorf("online member card: %s", c)
	}
	// Others are shown coarse: "today", never the minutes.
	if c := card("100002"); !strings.Contains(c, `class="dot offline"`) || !strings.Contains(c, ">今天来过<") || strings.Contains(c, "data-last-seen=") {
		t.Errorf("recently seen member card: %s", c)
	}
	if c := card("100003"); !strings.Contains(c, `class="dot offline"`) || !strings.Contains(c, ">离线<") {
		t.Errorf("never seen member card: %s", c)
	}
	if !regexp.MustCompile(`data-live-ids="[0-9,]*100001,100002,`).MatchString(body) || !strings.Contains(body, `data-live-cursor="`) {
		t.Error("page does not tell app.js what to watch")
	}
}

func TestStaticAssetsCaching(t *testing.T) {
	f := newFixture(t, nil)
	c := f.browser(t)
	_, body := get(t, c, f.srv.URL+"/")
	hashed := regexp.MustCompile(`/static/app\.[0-9a-f]{10}\.css`).FindString(body)
	if hashed == "" {
		t.Fatal("page does not link a content-hashed stylesheet")
	}
	resp, css := get(t, c, f.srv.URL+hashed)
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") || !strings.Contains(css, ".dot.online") {
		t.Fatalf("hashed asset: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = get(t, c, f.srv.URL+"/static/app.js")
	etag := resp.Header.Get("ETag")
	if etag == "" || !strings.Contains(resp.Header.Get("Cache-Control"), "must-revalidate") {
		t.Fatalf("plain asset headers %v", resp.Header)
	}
	req, _ := http.NewRequest("GET", f.srv.URL+"/static/app.js", nil)
	req.Header.Set("If-None-Match", etag)
	r2, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation: %d", r2.StatusCode)
	}
	if resp, _ := get(t, c, f.srv.URL+"/static/nope.css"); resp.StatusCode != 404 {
		t.Fatalf("missing asset: %d", resp.StatusCode)
	}
}

func signupForm(token string) url.Values {
	return url.Values{"csrf_token": {token}, "nickname": {"新会员"}, "email": {"new@example.com"}, "password": {"secret123"},
		"confirm": {"secret123"}, "gender": {"female"}, "birth_year": {"1996"}, "city": {"杭州"}, "bio": {"<script>alert(1)</script> 你好"}}
}

func TestSignupValidationSuccessAndEscaping(t *testing.T) {
	f := newFixture(t, nil)
	c := f.browser(t)
	tok := csrf(t, c, f.srv.URL+"/signup")

	bad := signupForm(tok)
	bad.Set("email", "nope")
	bad.Set("confirm", "other")
	bad.Set("nickname", `"><img src=x>`)
	resp, body := post(t, c, f.srv.URL+"/signup", bad)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "邮箱格式不正确") || !strings.Contains(body, "两次输入的密码不一致") {
		t.Fatalf("invalid sign-up: %d", resp.StatusCode)
	}
	if strings.Contains(body, `"><img src=x>`) || !strings.Contains(body, `&#34;&gt;&lt;img src=x&gt;`) {
		t.Fatal("submitted nickname not escaped when the form is shown again")
	}
	if strings.Contains(body, "secret123") {
		t.Fatal("password echoed back into the form")
	}

	resp, page1 := post(t, c, f.srv.URL+"/signup", signupForm(tok))
	if resp.StatusCode != http.StatusOK || !strings.Contains(page1, "请查收邮件") {
		t.Fatalf("sign-up: %d", resp.StatusCode)
	}
	m, err := f.store.MemberByEmail(context.Background(), "new@example.com")
	if err != nil || m.ID != members.FirstSignupID || !strings.HasPrefix(m.PasswordHash, "$argon2id$") || m.Verified {
		t.Fatalf("stored member %+v %v", m, err)
	}
	if _, body := get(t, c, f.srv.URL+"/"); strings.Contains(body, "退出") {
		t.Fatal("logged in before verifying the e-mail address")
	}
	// The verification link from the outbox logs the member in.
	link := f.mailLink(t, "new@example.com")
	resp, _ = get(t, c, link)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/profile?welcome=1" {
		t.Fatalf("verify: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == auth.SessionCookie {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie %+v", session)
	}
	if resp, _ := get(t, c, link); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("verification link used twice: %d", resp.StatusCode)
	}
	// Logged in: the header greets the member; the list (most recently active first) escapes the bio.
	_, body = get(t, c, f.srv.URL+"/members")
	if !strings.Contains(body, "你好，新会员") {
		t.Fatal("not logged in after verifying")
	}
	if strings.Contains(body, "<script>alert(1)</script>") || !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Fatal("bio not escaped")
	}
	// Signing up again with the address answers exactly as the first time, and mails the owner.
	other := f.browser(t)
	tok2 := csrf(t, other, f.srv.URL+"/signup")
	resp, page2 := post(t, other, f.srv.URL+"/signup", signupForm(tok2))
	if resp.StatusCode != http.StatusOK || stripTokens(page2) != stripTokens(page1) {
		t.Fatalf("duplicate sign-up answered differently: %d", resp.StatusCode)
	}
	mails, _ := f.store.RecentMail(context.Background(), 10)
	if len(mails) != 2 || !slices.ContainsFunc(mails, func(m store.Mail) bool { return strings.Contains(m.Subject, "有人尝试用你的邮箱注册") }) {
		t.Fatalf("outbox after a duplicate sign-up: %+v", mails)
	}
	if got, _ := f.store.MemberByEmail(context.Background(), "new@example.com"); got.ID != m.ID || got.PasswordHash != m.PasswordHash {
		t.Fatal("a duplicate sign-up changed the stored account")
	}
}

// stripTokens removes what differs between any two page loads (CSRF token, live cursor).
func stripTokens(body string) string {
	body = csrfRe.ReplaceAllString(body, "")
	return regexp.MustCompile(`data-live-cursor="[^"]*"`).ReplaceAllString(body, "")
}

var linkRe = regexp.MustCompile(`http://[^\s]+/verify\?token=[A-Za-z0-9_-]+`)

// mailLink returns the verification link in the newest mail to addr.
func (f *fixture) mailLink(t *testing.T, addr string) string {
	t.Helper()
	mails, err := f.store.RecentMail(context.Background(), 50)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mails {
		if m.To == addr {
			if l := linkRe.FindString(m.Body); l != "" {
				return l
			}
		}
	}
	t.Fatalf("no verification mail to %s in %+v", addr, mails)
	return ""
}

func TestCSRFRejected(t *testing.T) {
	f := newFixture(t, nil)
	c := f.browser(t)
	tok := csrf(t, c, f.srv.URL+"/signup")
	for name, form := range map[string]url.Values{
		"missing": func() url.Values { v := signupForm(""); v.Del("csrf_token"); return v }(),
		"altered": signupForm(tok[:len(tok)-3] + "abc"),
	} {
		resp, body := post(t, c, f.srv.URL+"/signup", form)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "CSRF") {
			t.Errorf("%s token: %d", name, resp.StatusCode)
		}
	}
	// The right token from a browser without the cookie (a cross-site form) is rejected too.
	other := f.browser(t)
	for _, p := range []string{"/signup", "/login", "/logout"} {
		resp, _ := post(t, other, f.srv.URL+p, signupForm(tok))
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s without the CSRF cookie: %d", p, resp.StatusCode)
		}
	}
	if _, err := f.store.MemberByEmail(context.Background(), "new@example.com"); err == nil {
		t.Fatal("a rejected form created an account")
	}
}

func TestLoginLogoutAndRateLimit(t *testing.T) {
	f := newFixture(t, nil)
	c := f.browser(t)
	tok := csrf(t, c, f.srv.URL+"/login")
	email := members.DemoEmail(100005)
	resp, body := post(t, c, f.srv.URL+"/login", url.Values{"csrf_token": {tok}, "email": {""}, "password": {""}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "请填写邮箱") {
		t.Fatalf("empty login: %d", resp.StatusCode)
	}
	resp, _ = post(t, c, f.srv.URL+"/login", url.Values{"csrf_token": {tok}, "email": {email}, "password": {demoPassword}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	if _, body := get(t, c, f.srv.URL+"/"); !strings.Contains(body, "退出") {
		t.Fatal("not logged in")
	}
	stolen := sessionCookie(t, c, f.srv.URL)
	// The CSRF token is bound to the session: the one from before the login is refused.
	if resp, _ := post(t, c, f.srv.URL+"/logout", url.Values{"csrf_token": {tok}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("logout with the pre-login CSRF token: %d, want 403", resp.StatusCode)
	}
	resp, _ = post(t, c, f.srv.URL+"/logout", url.Values{"csrf_token": {csrf(t, c, f.srv.URL+"/account")}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if _, body := get(t, c, f.srv.URL+"/"); strings.Contains(body, "退出") {
		t.Fatal("still logged in after logout")
	}
	// A copy of the cookie taken before the logout no longer works: the session is gone.
	if loggedIn(t, f.srv.URL, stolen) {
		t.Fatal("a copied cookie still works after logout")
	}
	// The account allows 3 failures, then refuses even the right password for a while.
	for i := range 3 {
		resp, body := post(t, c, f.srv.URL+"/login", url.Values{"csrf_token": {tok}, "email": {email}, "password": {"wrong-pass-1"}})
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "邮箱或密码不正确") {
			t.Fatalf("wrong password %d: %d", i, resp.StatusCode)
		}
	}
	resp, body = post(t, c, f.srv.URL+"/login", url.Values{"csrf_token": {tok}, "email": {email}, "password": {demoPassword}})
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "登录尝试次数过多") {
		t.Fatalf("after the failure budget: %d", resp.StatusCode)
	}
	// Unknown accounts answer like wrong passwords.
	resp, _ = post(t, c, f.srv.URL+"/login", url.Values{"csrf_token": {tok}, "email": {"nobody@example.com"}, "password": {"x"}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unknown account: %d", resp.StatusCode)
	}
}

// TestLoginLimitsByRangeWithoutOwnerLockout: failures lock an account only for the address
// range they came from (the owner elsewhere still logs in), and an IPv6 /64 is one range
// (a fresh address in it does not reset the budget).
func TestLoginLimitsByRangeWithoutOwnerLockout(t *testing.T) {
	f := newFixture(t, func(o *Options) {
		o.TrustProxy = true
		o.Limits = &auth.LoginLimits{IP: auth.NewLimiter(5, time.Minute, 100), Account: auth.NewLimiter(2, time.Minute, 100)}
	})
	email := members.DemoEmail(100005)
	attempt := func(from, password string) int {
		t.Helper()
		c := f.browser(t)
		tok := csrf(t, c, f.srv.URL+"/login")
		req, _ := http.NewRequest("POST", f.srv.URL+"/login", strings.NewReader(url.Values{"csrf_token": {tok}, "email": {email}, "password": {password}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", from)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i, from := range []string{"2001:db8:1:2::1", "2001:db8:1:2::ffff"} { // one /64
		if code := attempt(from, "wrong-pass-1"); code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, code)
		}
	}
	if code := attempt("2001:db8:1:2:aaaa::3", demoPassword); code != http.StatusTooManyRequests {
		t.Fatalf("right password from the attacker's /64 after its failures: %d, want 429", code)
	}
	if code := attempt("2001:db8:9:9::1", demoPassword); code != http.StatusSeeOther {
		t.Fatalf("the owner from another range: %d, want a login (no lockout)", code)
	}
	if code := attempt("198.51.100.7", demoPassword); code != http.StatusSeeOther {
		t.Fatalf("the owner over IPv4: %d", code)
	}
}

// TestHashSlotsBoundConcurrentHashing: with every slot taken, a login waits HashWait and is
// answered 429 without hashing; once a slot is free, logins work again.
func TestHashSlotsBoundConcurrentHashing(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.HashConcurrency = 1; o.HashWait = 50 * time.Millisecond })
	srv := f.server
	srv.hashSlots <- struct{}{} // an attacker's hash in progress
	c := f.browser(t)
	tok := csrf(t, c, f.srv.URL+"/login")
	resp, _ := post(t, c, f.srv.URL+"/login", url.Values{"csrf_token": {tok}, "email": {members.DemoEmail(100005)}, "password": {demoPassword}})
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("login with no free hash slot: %d, want 429 with Retry-After", resp.StatusCode)
	}
	<-srv.hashSlots
	f.login(t, c, 100005)
	if len(srv.hashSlots) != 0 {
		t.Fatal("a hash slot leaked")
	}
}

func TestLoginRateLimitPerIP(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFixture(t, func(o *Options) {
		o.Registry = reg
		o.Limits = &auth.LoginLimits{IP: auth.NewLimiter(2, time.Minute, 100), Account: auth.NewLimiter(100, time.Minute, 100)}
	})
	c := f.browser(t)
	tok := csrf(t, c, f.srv.URL+"/login")
	codes := []int{}
	for i := range 3 {
		resp, _ := post(t, c, f.srv.URL+"/login", url.Values{"csrf_token": {tok}, "email": {members.DemoEmail(100001 + uint64(i))}, "password": {"wrong1234"}})
		codes = append(codes, resp.StatusCode)
	}
	if codes[0] != 401 || codes[1] != 401 || codes[2] != 429 {
		t.Fatalf("codes %v, want 401 401 429 (IP budget of 2 across accounts)", codes)
	}
	n, err := testutil.GatherAndCount(reg, "heartline_site_logins_total")
	if err != nil || n != 2 {
		t.Fatalf("login metric series %d (%v), want bad_credentials and rate_limited", n, err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`# HELP heartline_site_logins_total Login attempts by channel (web form, app API) and result.
# TYPE heartline_site_logins_total counter
heartline_site_logins_total{channel="web",result="bad_credentials"} 2
heartline_site_logins_total{channel="web",result="rate_limited"} 1
`), "heartline_site_logins_total"); err != nil {
		t.Fatal(err)
	}
}

func postJSON(t *testing.T, u, ctype, body string) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := http.Post(u, ctype, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("POST %s: response is not JSON: %v", u, err)
	}
	return resp, out
}

func TestAPISession(t *testing.T) {
	f := newFixture(t, nil)
	u := f.srv.URL + "/api/session"
	resp, out := postJSON(t, u, "application/json", `{"email":"demo100007@heartline.invalid","password":"`+demoPassword+`","device_id":77}`)
	if resp.StatusCode != 200 {
		t.Fatalf("session: %d %v", resp.StatusCode, out)
	}
	tok, err := token.ParseText(out["token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if tok.UserID != 100007 || tok.DeviceID != 77 {
		t.Fatalf("token claims %+v", tok)
	}
	_, wantKey, err := f.ring.Open(tok.Append(nil), f.now)
	if err != nil {
		t.Fatalf("issued token does not verify: %v", err)
	}
	if out["session_key"] != base64.RawURLEncoding.EncodeToString(wantKey[:]) {
		t.Fatal("session key is not the one gateways derive")
	}
	if out["interval_s"].(float64) != 10 || tok.ExpiresAt().Sub(f.now) != 24*time.Hour {
		t.Fatalf("interval %v expiry %v", out["interval_s"], tok.ExpiresAt())
	}
	gws := out["gateways"].([]any)
	if len(gws) != 1 || gws[0].(map[string]any)["udp"] != "127.0.0.1:7946" {
		t.Fatalf("gateways %v", gws)
	}
	for _, c := range []struct {
		ctype, body string
		status      int
		code        string
	}{
		{"text/plain", `{}`, 415, "bad_content_type"},
		{"application/json", `{"email":`, 400, "bad_json"},
		{"application/json", `{"email":"a","password":"b","extra":1}`, 400, "bad_json"},
		{"application/json", `{"email":"a","password":"b"} {}`, 400, "bad_json"},
		{"application/json", `{"email":"","password":""}`, 400, "missing_credentials"},
		{"application/json", `{"email":"demo100007@heartline.invalid","password":"wrong"}`, 401, "bad_credentials"},
		{"application/json", `{"email":"x@y.z","password":"` + strings.Repeat("a", 5000) + `"}`, 400, "bad_json"},
	} {
		resp, out := postJSON(t, u, c.ctype, c.body)
		e, _ := out["error"].(map[string]any)
		if resp.StatusCode != c.status || e["code"] != c.code || e["message"] == "" {
			t.Errorf("%s %.40s: %d %v, want %d %s", c.ctype, c.body, resp.StatusCode, out, c.status, c.code)
		}
	}
}

func TestAPISessionRateLimitedAndUnconfigured(t *testing.T) {
	f := newFixture(t, nil)
	u := f.srv.URL + "/api/session"
	var last *http.Response
	for range 4 {
		last, _ = postJSON(t, u, "application/json", `{"email":"demo100008@heartline.invalid","password":"wrong"}`)
	}
	if last.StatusCode != 429 || last.Header.Get("Retry-After") == "" {
		t.Fatalf("4th failure: %d", last.StatusCode)
	}
	g := newFixture(t, func(o *Options) { o.KeyRing = nil })
	resp, out := postJSON(t, g.srv.URL+"/api/session", "application/json", `{"email":"a@b.c","password":"x"}`)
	if resp.StatusCode != 503 || out["error"].(map[string]any)["code"] != "no_key_file" {
		t.Fatalf("no key ring: %d %v", resp.StatusCode, out)
	}
	h := newFixture(t, func(o *Options) { o.Gateways = fakeGateways{err: io.ErrUnexpectedEOF} })
	resp, out = postJSON(t, h.srv.URL+"/api/session", "application/json", `{"email":"demo100001@heartline.invalid","password":"`+demoPassword+`"}`)
	if resp.StatusCode != 503 || out["error"].(map[string]any)["code"] != "no_gateways" {
		t.Fatalf("Consul down: %d %v", resp.StatusCode, out)
	}
}

func TestAPIPresence(t *testing.T) {
	f := newFixture(t, nil)
	if resp, body := get(t, http.DefaultClient, f.srv.URL+"/api/presence?ids=100001,100002,100003"); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `"login_required"`) {
		t.Fatalf("anonymous presence: %d %s", resp.StatusCode, body)
	}
	c := f.browser(t)
	f.login(t, c, 100030)
	resp, body := get(t, c, f.srv.URL+"/api/presence?ids=100001,100002,100003")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("presence: %d", resp.StatusCode)
	}
	var out struct {
		Presence []struct {
			ID       uint64 `json:"id"`
			Online   bool   `json:"online"`
			LastSeen int64  `json:"last_seen_ms"`
			Since    int64  `json:"since_ms"`
			Recent   string `json:"recent"`
			Devices  int    `json:"devices"`
		} `json:"presence"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	p := out.Presence
	// Another member's presence is coarse: no times, no devices.
	if len(p) != 3 || !p[0].Online || p[0].Since != 0 || p[0].Devices != 0 || p[1].Online || p[1].LastSeen != 0 || p[1].Recent != "today" || p[2].Online || p[2].Recent != "" {
		t.Fatalf("presence %s", body)
	}
	for _, q := range []string{"", "?ids=", "?ids=abc", "?ids=" + strings.Repeat("1,", 300) + "1"} {
		resp, body := get(t, c, f.srv.URL+"/api/presence"+q)
		if resp.StatusCode != 400 || !strings.Contains(body, `"error"`) {
			t.Errorf("%q: %d %s", q, resp.StatusCode, body)
		}
	}
	resp, body = get(t, http.DefaultClient, f.srv.URL+"/api/nope")
	if resp.StatusCode != 404 || !strings.Contains(body, `"not_found"`) {
		t.Errorf("unknown API: %d %s", resp.StatusCode, body)
	}
}

func TestEventsEndpointAndHealth(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Ready = func() bool { return false } })
	c := f.browser(t)
	f.login(t, c, 100030)
	resp, err := c.Get(f.srv.URL + "/events?ids=100001")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, _ := io.ReadAtLeast(resp.Body, buf, 100)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") || !strings.Contains(string(buf[:n]), `"id":100001,"online":true`) {
		t.Fatalf("events: %s %q", ct, buf[:n])
	}
	if r, _ := get(t, http.DefaultClient, f.srv.URL+"/healthz"); r.StatusCode != 200 {
		t.Fatal("healthz")
	}
	if r, _ := get(t, http.DefaultClient, f.srv.URL+"/readyz"); r.StatusCode != 503 {
		t.Fatal("readyz while the watcher is not ready")
	}
}

func TestLastSeenText(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for _, c := range []struct {
		ago  time.Duration
		want string
	}{{30 * time.Second, "刚刚在线"}, {5 * time.Minute, "5 分钟前在线"}, {3 * time.Hour, "3 小时前在线"}, {50 * time.Hour, "2 天前在线"}, {90 * 24 * time.Hour, "很久没上线"}} {
		if got := LastSeenText(now.Add(-c.ago).UnixMilli(), now); got != c.want {
			t.Errorf("%v ago: %q, want %q", c.ago, got, c.want)
		}
	}
	if LastSeenText(0, now) != "离线" {
		t.Error("never seen")
	}
}
