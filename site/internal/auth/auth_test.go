package auth

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

var cheap = HashParams{Time: 1, Memory: 64, Threads: 1}

func TestPasswordHashRoundTrip(t *testing.T) {
	h, err := HashPassword("correct horse 1", cheap)
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := HashPassword("correct horse 1", cheap)
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
	if ok, err := CheckPassword(h, "correct horse 1"); !ok || err != nil {
		t.Fatalf("right password: %v %v", ok, err)
	}
	if ok, _ := CheckPassword(h, "correct horse 2"); ok {
		t.Fatal("wrong password accepted")
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", strings.Replace(h, "$v=19$", "$v=18$", 1)} {
		if _, err := CheckPassword(bad, "x"); err != ErrBadHash {
			t.Errorf("%q: err %v, want ErrBadHash", bad, err)
		}
	}
}

func reqWithCookies(w *httptest.ResponseRecorder) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	for _, c := range w.Result().Cookies() {
		r.AddCookie(c)
	}
	return r
}

func TestSessionCookie(t *testing.T) {
	k, err := NewKeys([]byte(strings.Repeat("s", 32)), true)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	w := httptest.NewRecorder()
	k.SetSession(w, "tok-abc", now.Add(k.SessionTTL), now)
	c := w.Result().Cookies()[0]
	if c.Name != "__Host-hl_session" || c.Path != "/" || c.Domain != "" {
		t.Fatalf("a Secure session cookie must be a __Host- cookie: %+v", c)
	}
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.MaxAge != int(k.SessionTTL/time.Second) {
		t.Fatalf("cookie attributes: %+v", c)
	}
	r := reqWithCookies(w)
	if tok, err := k.Session(r); err != nil || tok != "tok-abc" {
		t.Fatalf("session: %q %v", tok, err)
	}
	other := RandomKeys(true)
	if _, err := other.Session(r); err != ErrNoSession {
		t.Fatal("cookie signed by another key accepted")
	}
	for i := range len(c.Value) {
		tampered := httptest.NewRequest("GET", "/", nil)
		b := []byte(c.Value)
		b[i] ^= 1
		tampered.AddCookie(&http.Cookie{Name: k.SessionName(), Value: string(b)})
		if tok, err := k.Session(tampered); err != ErrNoSession {
			t.Fatalf("cookie with byte %d flipped accepted as %q", i, tok)
		}
	}
	if _, err := k.Session(httptest.NewRequest("GET", "/", nil)); err != ErrNoSession {
		t.Fatal("no cookie accepted")
	}
	if _, err := NewKeys([]byte("short"), true); err == nil {
		t.Fatal("short secret accepted")
	}
}

func TestCSRF(t *testing.T) {
	k := RandomKeys(false)
	w := httptest.NewRecorder()
	tok := k.CSRFToken(w, httptest.NewRequest("GET", "/", nil))
	post := func(field string, withCookie bool) *http.Request {
		r := httptest.NewRequest("POST", "/", strings.NewReader(url.Values{CSRFField: {field}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if withCookie {
			for _, c := range w.Result().Cookies() {
				r.AddCookie(c)
			}
		}
		r.ParseForm() //nolint:errcheck
		return r
	}
	if !k.CheckCSRF(post(tok, true)) {
		t.Fatal("valid token rejected")
	}
	if k.CheckCSRF(post(tok, false)) {
		t.Fatal("token without its cookie accepted")
	}
	if k.CheckCSRF(post("", true)) || k.CheckCSRF(post(tok[:len(tok)-2]+"AA", true)) {
		t.Fatal("missing or altered token accepted")
	}
	// A second page view in the same browser reuses the cookie and gets the same token.
	if again := k.CSRFToken(httptest.NewRecorder(), reqWithCookies(w)); again != tok {
		t.Fatal("token changed for the same browser")
	}
	// Another browser's token does not fit this browser's cookie.
	otherTok := k.CSRFToken(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if k.CheckCSRF(post(otherTok, true)) {
		t.Fatal("another browser's token accepted")
	}
}

func TestLimiterFakeClock(t *testing.T) {
	l := NewLimiter(3, 10*time.Second, 100)
	t0 := time.Unix(1000, 0)
	for i := range 3 {
		if ok, _ := l.Allow("ip", t0); !ok {
			t.Fatalf("attempt %d denied within burst", i)
		}
	}
	ok, wait := l.Allow("ip", t0)
	if ok || wait != 10*time.Second {
		t.Fatalf("4th attempt: ok %v wait %v", ok, wait)
	}
	if ok, _ := l.Allow("other", t0); !ok {
		t.Fatal("another key limited")
	}
	if ok, _ := l.Allow("ip", t0.Add(9*time.Second)); ok {
		t.Fatal("refilled too early")
	}
	if ok, _ := l.Allow("ip", t0.Add(11*time.Second)); !ok {
		t.Fatal("not refilled after the interval")
	}
}

func TestLimiterBoundedMemory(t *testing.T) {
	l := NewLimiter(1, time.Hour, 10)
	t0 := time.Unix(1000, 0)
	for i := range 1000 {
		l.Allow(string(rune('a'+i%26))+strings.Repeat("x", i), t0)
	}
	if l.Len() != 10 {
		t.Fatalf("tracked keys %d, want the cap 10", l.Len())
	}
}

func TestLoginLimitsCountFailuresPerAccount(t *testing.T) {
	l := &LoginLimits{IP: NewLimiter(100, time.Second, 100), Account: NewLimiter(2, time.Minute, 100)}
	t0 := time.Unix(1000, 0)
	for i := range 5 { // successful logins do not use the account budget
		if ok, _ := l.Begin("1.2.3.4", "a@x", t0); !ok {
			t.Fatalf("attempt %d denied", i)
		}
	}
	l.Failed("a@x", t0)
	l.Failed("a@x", t0)
	if ok, wait := l.Begin("5.6.7.8", "a@x", t0); ok || wait <= 0 {
		t.Fatal("account not limited after its failures (from another IP)")
	}
	if ok, _ := l.Begin("5.6.7.8", "b@x", t0); !ok {
		t.Fatal("other account limited")
	}
}

// TestCSRFBoundToSession: a token is valid only with the cookie and the session it was made
// for; __Host- names when Secure.
func TestCSRFBoundToSession(t *testing.T) {
	k, _ := NewKeys([]byte(strings.Repeat("c", 32)), true)
	now := time.Unix(1_800_000_000, 0)
	w := httptest.NewRecorder()
	anon := httptest.NewRequest("GET", "/", nil)
	tokAnon := k.CSRFToken(w, anon)
	csrfC := w.Result().Cookies()[0]
	if csrfC.Name != "__Host-hl_csrf" || !csrfC.Secure || csrfC.Path != "/" {
		t.Fatalf("CSRF cookie %+v", csrfC)
	}
	sw := httptest.NewRecorder()
	k.SetSession(sw, "session-A", now.Add(time.Hour), now)
	sessA := sw.Result().Cookies()[0]
	sw = httptest.NewRecorder()
	k.SetSession(sw, "session-B", now.Add(time.Hour), now)
	sessB := sw.Result().Cookies()[0]
	form := func(token string, cookies ...*http.Cookie) *http.Request {
		r := httptest.NewRequest("POST", "/", strings.NewReader(CSRFField+"="+token))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range cookies {
			r.AddCookie(c)
		}
		r.ParseForm() //nolint:errcheck
		return r
	}
	withA := httptest.NewRequest("GET", "/", nil)
	withA.AddCookie(csrfC)
	withA.AddCookie(sessA)
	tokA := k.CSRFToken(httptest.NewRecorder(), withA)
	switch {
	case !k.CheckCSRF(form(tokAnon, csrfC)):
		t.Error("anonymous token refused on an anonymous form")
	case !k.CheckCSRF(form(tokA, csrfC, sessA)):
		t.Error("session token refused in its session")
	case k.CheckCSRF(form(tokAnon, csrfC, sessA)):
		t.Error("a token from before the login accepted in the session")
	case k.CheckCSRF(form(tokA, csrfC, sessB)):
		t.Error("a token of session A accepted in session B")
	case k.CheckCSRF(form(tokA, csrfC)):
		t.Error("a session's token accepted without the session")
	}
}
