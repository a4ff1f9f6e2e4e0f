package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"heartline/scripts/pgtest"
	"heartline/site/internal/store"
)

// TestSiteOnPostgres walks the site's main paths with PostgreSQL as the database (the store
// suite covers each query on both engines; this checks the handlers on the production one).
func TestSiteOnPostgres(t *testing.T) {
	pg := pgtest.Start(t)
	f := newFixtureOn(t, pg.NewDatabase(t), nil)
	if f.store.Engine() != store.Postgres {
		t.Fatalf("engine %s", f.store.Engine())
	}
	c := f.browser(t)
	v := f.browser(t)
	f.login(t, v, 100029)
	if _, body := get(t, v, f.srv.URL+"/members?online=1"); !strings.Contains(body, `data-member-id="100001"`) {
		t.Fatal("online member not listed")
	}
	tok := csrf(t, c, f.srv.URL+"/signup")
	if resp, body := post(t, c, f.srv.URL+"/signup", signupForm(tok)); resp.StatusCode != http.StatusOK || !strings.Contains(body, "请查收邮件") {
		t.Fatalf("sign-up: %d", resp.StatusCode)
	}
	if resp, _ := get(t, c, f.mailLink(t, "new@example.com")); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("verify: %d", resp.StatusCode)
	}
	tok = csrf(t, c, f.srv.URL+"/account")
	post(t, c, f.srv.URL+"/likes", url.Values{"csrf_token": {tok}, "member_id": {"100002"}})
	b := f.browser(t)
	tokB := f.login(t, b, 100002)
	m, _ := f.store.MemberByEmail(context.Background(), "new@example.com")
	resp, _ := post(t, b, f.srv.URL+"/likes", url.Values{"csrf_token": {tokB}, "member_id": {itoa(int(m.ID))}})
	if !strings.HasPrefix(resp.Header.Get("Location"), "/matches?new=") {
		t.Fatalf("mutual like on PostgreSQL went to %q", resp.Header.Get("Location"))
	}
	cookie := sessionCookie(t, c, f.srv.URL)
	post(t, c, f.srv.URL+"/logout", url.Values{"csrf_token": {tok}})
	if loggedIn(t, f.srv.URL, cookie) {
		t.Fatal("cookie works after logout on PostgreSQL")
	}
}
