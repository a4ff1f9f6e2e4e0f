package web

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"heartline/protocol/privacy"
)

// presenceOf asks GET /api/presence as c for one id and returns the raw entry.
func presenceOf(t *testing.T, f *fixture, c *http.Client, id string) string {
	t.Helper()
	resp, body := get(t, c, f.srv.URL+"/api/presence?ids="+id)
	if resp.StatusCode != 200 {
		t.Fatalf("presence of %s: %d %s", id, resp.StatusCode, body)
	}
	var out struct{ Presence []json.RawMessage }
	if err := json.Unmarshal([]byte(body), &out); err != nil || len(out.Presence) != 1 {
		t.Fatalf("presence body %s", body)
	}
	return string(out.Presence[0])
}

// cardOf returns the presence line of id's card on the members page as c sees it ("" if
// the card is not there).
func cardOf(t *testing.T, f *fixture, c *http.Client, id string) string {
	t.Helper()
	_, body := get(t, c, f.srv.URL+"/members?recent=1")
	i := strings.Index(body, `id="m-`+id+`"`)
	if i < 0 {
		return ""
	}
	j := strings.Index(body[i:], "</p>")
	return body[i : i+j]
}

// sseLines opens /events as c and returns a channel of its data lines.
func sseLines(t *testing.T, f *fixture, c *http.Client, ids string) <-chan string {
	t.Helper()
	resp, err := c.Get(f.srv.URL + "/events?ids=" + ids)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("events: %v %v", err, resp)
	}
	t.Cleanup(func() { resp.Body.Close() })
	out := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				out <- d
			}
		}
	}()
	return out
}

func nextLine(t *testing.T, c <-chan string) string {
	t.Helper()
	select {
	case l := <-c:
		return l
	case <-time.After(5 * time.Second):
		t.Fatal("no SSE data within 5s")
	}
	return ""
}

func quiet(t *testing.T, c <-chan string, d time.Duration) {
	t.Helper()
	select {
	case l := <-c:
		t.Fatalf("unexpected SSE data %s", l)
	case <-time.After(d):
	}
}

// TestBlockHidesEverywhereAtOnce: 100001 (online) blocks 100005. Before, 100005 sees it
// online on the page, the API and its open stream; after, the stream gets it offline at
// once, the API and page say offline with no last seen, the members list no longer has
// it, and a grant for it carries no basis. A third member still sees it.
func TestBlockHidesEverywhereAtOnce(t *testing.T) {
	f := newFixture(t, nil)
	blocker, blocked, other := f.browser(t), f.browser(t), f.browser(t)
	tokA := f.login(t, blocker, 100001)
	f.login(t, blocked, 100005)
	f.login(t, other, 100006)
	if p := presenceOf(t, f, blocked, "100001"); p != `{"id":100001,"online":true}` {
		t.Fatalf("before the block: %s", p)
	}
	stream := sseLines(t, f, blocked, "100001")
	if d := nextLine(t, stream); !strings.Contains(d, `{"id":100001,"online":true}`) {
		t.Fatalf("snapshot before the block: %s", d)
	}
	resp, _ := post(t, blocker, f.srv.URL+"/block", url.Values{"csrf_token": {tokA}, "member_id": {"100005"}, "back": {"/members"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("block: %d", resp.StatusCode)
	}
	if d := nextLine(t, stream); !strings.Contains(d, `"id":100001,"online":false,"server_ms"`) {
		t.Fatalf("stream after the block: %s", d)
	}
	if p := presenceOf(t, f, blocked, "100001"); p != `{"id":100001,"online":false}` {
		t.Fatalf("API after the block: %s", p)
	}
	if c := cardOf(t, f, blocked, "100001"); c != "" {
		t.Fatalf("the blocked member still finds the blocker: %s", c)
	}
	if p := presenceOf(t, f, other, "100001"); p != `{"id":100001,"online":true}` {
		t.Fatalf("a third member: %s", p)
	}
	// Later changes reach the third member's stream, never the blocked one's.
	f.src.mu.Lock()
	delete(f.src.p, 100001)
	f.src.mu.Unlock()
	quiet(t, stream, 100*time.Millisecond)
	// A grant for the blocked member's app names the blocker with no basis (sealed).
	g := grantFor(t, f, blocked, []uint64{100001, 100006})
	if g.BasisOf(100001) != privacy.BasisNone || g.BasisOf(100006) != privacy.BasisMember || g.Viewer != 100005 {
		t.Fatalf("grant: %+v", g)
	}
}

// grantFor asks POST /api/grant as c (cookie session) and opens the grant.
func grantFor(t *testing.T, f *fixture, c *http.Client, ids []uint64) *privacy.Grant {
	t.Helper()
	b, _ := json.Marshal(GrantRequest{IDs: ids})
	resp, err := c.Post(f.srv.URL+"/api/grant", "application/json", strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out GrantResponse
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&out) != nil {
		t.Fatalf("grant: %d", resp.StatusCode)
	}
	raw, err := base64.RawURLEncoding.DecodeString(out.Grant)
	if err != nil {
		t.Fatal(err)
	}
	g, err := privacy.Open(f.ring, raw, f.now.UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestVisibilityModes: match-only hides 100001 from a non-match but not from a match;
// invisible hides it from the match too while it still sees itself online; switching back
// shows it again on the open streams.
func TestVisibilityModes(t *testing.T) {
	f := newFixture(t, nil)
	me, match, stranger := f.browser(t), f.browser(t), f.browser(t)
	tokMe := f.login(t, me, 100001)
	tokMatch := f.login(t, match, 100007)
	f.login(t, stranger, 100008)
	post(t, me, f.srv.URL+"/likes", url.Values{"csrf_token": {tokMe}, "member_id": {"100007"}})
	post(t, match, f.srv.URL+"/likes", url.Values{"csrf_token": {tokMatch}, "member_id": {"100001"}})
	setMode := func(mode string) {
		t.Helper()
		resp, _ := post(t, me, f.srv.URL+"/account/visibility", url.Values{"csrf_token": {tokMe}, "visibility": {mode}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("visibility %s: %d", mode, resp.StatusCode)
		}
	}
	matchStream := sseLines(t, f, match, "100001")
	strangerStream := sseLines(t, f, stranger, "100001")
	nextLine(t, matchStream)
	nextLine(t, strangerStream)

	setMode("matches")
	if d := nextLine(t, strangerStream); !strings.Contains(d, `"id":100001,"online":false,"server_ms"`) {
		t.Fatalf("stranger after match-only: %s", d)
	}
	quiet(t, matchStream, 50*time.Millisecond)
	if p := presenceOf(t, f, stranger, "100001"); p != `{"id":100001,"online":false}` {
		t.Fatalf("stranger API: %s", p)
	}
	if p := presenceOf(t, f, match, "100001"); p != `{"id":100001,"online":true}` {
		t.Fatalf("match API: %s", p)
	}
	if _, body := get(t, me, f.srv.URL+"/account"); !strings.Contains(body, `value="matches" checked`) {
		t.Fatal("settings page does not show the mode")
	}

	setMode("nobody")
	if d := nextLine(t, matchStream); !strings.Contains(d, `"id":100001,"online":false,"server_ms"`) {
		t.Fatalf("match after invisible: %s", d)
	}
	quiet(t, strangerStream, 50*time.Millisecond)
	if p := presenceOf(t, f, match, "100001"); p != `{"id":100001,"online":false}` {
		t.Fatalf("match API while invisible: %s", p)
	}
	if p := presenceOf(t, f, me, "100001"); !strings.Contains(p, `"online":true,"status":2,"devices":1`) {
		t.Fatalf("self while invisible: %s", p)
	}
	// The landing page's count leaves invisible members out.
	if _, body := get(t, f.browser(t), f.srv.URL+"/"); !strings.Contains(body, `data-live-count>0<`) {
		t.Fatal("the online count includes an invisible member")
	}

	setMode("members")
	for _, s := range []<-chan string{matchStream, strangerStream} {
		if d := nextLine(t, s); !strings.Contains(d, `"id":100001,"online":true`) {
			t.Fatalf("after visible again: %s", d)
		}
	}
	// Unmatching while match-only hides at once from the former match.
	setMode("matches")
	nextLine(t, strangerStream)
	post(t, match, f.srv.URL+"/likes", url.Values{"csrf_token": {tokMatch}, "member_id": {"100001"}, "action": {"unlike"}})
	if d := nextLine(t, matchStream); !strings.Contains(d, `"id":100001,"online":false,"server_ms"`) {
		t.Fatalf("former match after unmatching: %s", d)
	}
	if resp, _ := post(t, me, f.srv.URL+"/account/visibility", url.Values{"csrf_token": {tokMe}, "visibility": {"everyone"}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("unknown mode: %d", resp.StatusCode)
	}
}
