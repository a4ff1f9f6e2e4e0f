package web

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"heartline/agent/watcher"
	"heartline/site/internal/members"
	"heartline/site/internal/photo"
	"heartline/site/internal/store"
)

// login logs a demo member in on c and returns a CSRF token for c.
func (f *fixture) login(t *testing.T, c *http.Client, id uint64) string {
	t.Helper()
	tok := csrf(t, c, f.srv.URL+"/login")
	resp, _ := post(t, c, f.srv.URL+"/login", url.Values{"csrf_token": {tok}, "email": {members.DemoEmail(id)}, "password": {demoPassword}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login as %d: %d", id, resp.StatusCode)
	}
	return csrf(t, c, f.srv.URL+"/account")
}

func TestUnverifiedMemberCannotLogIn(t *testing.T) {
	f := newFixture(t, nil)
	c := f.browser(t)
	tok := csrf(t, c, f.srv.URL+"/signup")
	post(t, c, f.srv.URL+"/signup", signupForm(tok))
	resp, body := post(t, c, f.srv.URL+"/login", url.Values{"csrf_token": {tok}, "email": {"new@example.com"}, "password": {"secret123"}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "邮箱尚未验证") {
		t.Fatalf("unverified login: %d", resp.StatusCode)
	}
	resp, out := postJSON(t, f.srv.URL+"/api/session", "application/json", `{"email":"new@example.com","password":"secret123"}`)
	if resp.StatusCode != http.StatusForbidden || out["error"].(map[string]any)["code"] != "unverified" {
		t.Fatalf("unverified API login: %d %v", resp.StatusCode, out)
	}
	if resp, body := get(t, c, f.srv.URL+"/verify?token=forged"); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "验证链接无效") {
		t.Fatalf("forged verification link: %d", resp.StatusCode)
	}
}

func TestConcurrentDuplicateSignupsStoreOneAccount(t *testing.T) {
	f := newFixture(t, nil)
	const n = 6
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		c := f.browser(t)
		tok := csrf(t, c, f.srv.URL+"/signup")
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.PostForm(f.srv.URL+"/signup", signupForm(tok))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	for i, code := range codes {
		if code != http.StatusOK {
			t.Fatalf("sign-up %d answered %d; every one must get the same 200 page", i, code)
		}
	}
	res, err := f.store.Search(context.Background(), storeAll())
	if err != nil {
		t.Fatal(err)
	}
	if m, err := f.store.MemberByEmail(context.Background(), "new@example.com"); err != nil || m.ID != members.FirstSignupID {
		t.Fatalf("stored: %+v %v", m, err)
	}
	mails, _ := f.store.RecentMail(context.Background(), 50)
	verify := 0
	for _, m := range mails {
		if strings.Contains(m.Body, "/verify?token=") {
			verify++
		}
	}
	if verify != 1 || len(mails) != n || len(res.Members) != 30 {
		t.Fatalf("%d verification mails of %d (want 1 of %d); %d listed members", verify, len(mails), n, len(res.Members))
	}
}

func TestLogoutEverywhereAndPasswordChange(t *testing.T) {
	f := newFixture(t, nil)
	a, b := f.browser(t), f.browser(t)
	tokA := f.login(t, a, 100004)
	f.login(t, b, 100004)
	cookieB := sessionCookie(t, b, f.srv.URL)
	// password change: wrong current password changes nothing
	resp, body := post(t, a, f.srv.URL+"/account/password", url.Values{"csrf_token": {tokA}, "current": {"wrong"}, "password": {"newpass123"}, "confirm": {"newpass123"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "当前密码不正确") || !loggedIn(t, f.srv.URL, cookieB) {
		t.Fatalf("wrong current password: %d", resp.StatusCode)
	}
	resp, _ = post(t, a, f.srv.URL+"/account/password", url.Values{"csrf_token": {tokA}, "current": {demoPassword}, "password": {"newpass123"}, "confirm": {"newpass123"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("password change: %d", resp.StatusCode)
	}
	if loggedIn(t, f.srv.URL, cookieB) {
		t.Fatal("the other browser's session survived the password change")
	}
	cookieA := sessionCookie(t, a, f.srv.URL)
	if !loggedIn(t, f.srv.URL, cookieA) {
		t.Fatal("the browser that changed the password was logged out")
	}
	// log out everywhere, including this browser
	c := f.browser(t)
	tokC := csrf(t, c, f.srv.URL+"/login")
	post(t, c, f.srv.URL+"/login", url.Values{"csrf_token": {tokC}, "email": {members.DemoEmail(100004)}, "password": {"newpass123"}})
	cookieC := sessionCookie(t, c, f.srv.URL)
	resp, _ = post(t, a, f.srv.URL+"/logout/all", url.Values{"csrf_token": {tokA}})
	if resp.StatusCode != http.StatusSeeOther || loggedIn(t, f.srv.URL, cookieA) || loggedIn(t, f.srv.URL, cookieC) {
		t.Fatalf("log out everywhere: %d", resp.StatusCode)
	}
}

func sampleJPEG(t *testing.T, w, h int, exif string) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 4), 200, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	j := b.Bytes()
	payload := append([]byte("Exif\x00\x00"), exif...)
	seg := []byte{0xFF, 0xE1, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)}
	return append(append(append(append([]byte{}, j[:2]...), seg...), payload...), j[2:]...)
}

func upload(t *testing.T, c *http.Client, u, tok string, data []byte) (*http.Response, string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	w.WriteField("csrf_token", tok) //nolint:errcheck
	fw, _ := w.CreateFormFile("photo", "me.jpg")
	fw.Write(data) //nolint:errcheck
	w.Close()
	resp, err := c.Post(u, w.FormDataContentType(), &b)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestProfileEditAndPhoto(t *testing.T) {
	f := newFixture(t, nil)
	c := f.browser(t)
	tok := f.login(t, c, 100003)
	form := url.Values{"csrf_token": {tok}, "nickname": {"改名了"}, "city": {"成都"}, "height_cm": {"172"}, "education": {"硕士"},
		"occupation": {"'; DROP TABLE x;--"}, "bio": {"新的介绍"}, "interests": {"徒步", "猫"}}
	resp, body := post(t, c, f.srv.URL+"/profile", func() url.Values { v := url.Values{}; maps(v, form); v.Set("height_cm", "tall"); return v }())
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "身高请填写") {
		t.Fatalf("bad height: %d", resp.StatusCode)
	}
	if m, _ := f.store.MemberByID(context.Background(), 100003); m.Nickname == "改名了" {
		t.Fatal("an invalid form changed the profile")
	}
	if resp, _ := post(t, c, f.srv.URL+"/profile", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d", resp.StatusCode)
	}
	m, _ := f.store.MemberByID(context.Background(), 100003)
	if m.Nickname != "改名了" || m.City != "成都" || m.HeightCM != 172 || m.Occupation != "'; DROP TABLE x;--" || len(m.Interests) != 2 {
		t.Fatalf("saved profile %+v", m)
	}
	// photo with GPS metadata: stored re-encoded, served immutable
	const gps = "GPSLatitude 31.2304 N"
	resp, _ = upload(t, c, f.srv.URL+"/profile/photo", tok, sampleJPEG(t, 64, 64, gps))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("upload: %d", resp.StatusCode)
	}
	m, _ = f.store.MemberByID(context.Background(), 100003)
	if !photo.ValidName(m.Photo) {
		t.Fatalf("photo name %q", m.Photo)
	}
	resp, img := get(t, c, f.srv.URL+"/photos/"+m.Photo)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") ||
		!strings.Contains(resp.Header.Get("Cache-Control"), "max-age=31536000") || strings.Contains(img, "GPS") {
		t.Fatalf("photo served: %d %v", resp.StatusCode, resp.Header)
	}
	req, _ := http.NewRequest("GET", f.srv.URL+"/photos/"+m.Photo, nil)
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	if r2, err := c.Do(req); err != nil || r2.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation: %v %v", r2, err)
	}
	if _, body := get(t, c, f.srv.URL+"/members"); !strings.Contains(body, `src="/photos/`+m.Photo+`"`) {
		t.Fatal("members page does not show the photo")
	}
	// bad uploads: a Chinese message on the page, the photo unchanged
	for name, data := range map[string][]byte{
		"corrupt":   []byte("\xff\xd8\xff\xe0 this is not really a jpeg"),
		"text":      []byte("<svg onload=alert(1)>"),
		"oversized": append(sampleJPEG(t, 64, 64, ""), make([]byte, photo.MaxBytes)...),
	} {
		resp, body := upload(t, c, f.srv.URL+"/profile/photo", tok, data)
		if resp.StatusCode < 400 || !regexp.MustCompile(`照片|图片|上传`).MatchString(body) || !strings.Contains(body, `class="alert"`) {
			t.Errorf("%s upload: %d", name, resp.StatusCode)
		}
		if after, _ := f.store.MemberByID(context.Background(), 100003); after.Photo != m.Photo {
			t.Errorf("%s upload replaced the photo", name)
		}
	}
	for _, p := range []string{"/photos/abc.jpg", "/photos/..%2F..%2Fetc%2Fpasswd", "/photos/" + strings.Repeat("0", 64) + ".jpg"} {
		if resp, _ := get(t, c, f.srv.URL+p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d", p, resp.StatusCode)
		}
	}
	// anonymous: sent to the login page
	if resp, _ := get(t, f.browser(t), f.srv.URL+"/profile"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("anonymous /profile: %d", resp.StatusCode)
	}
}

func maps(dst, src url.Values) {
	for k, v := range src {
		dst[k] = append([]string(nil), v...)
	}
}

func TestSearchOnlineNowAndFilters(t *testing.T) {
	f := newFixture(t, nil)
	c := f.browser(t)
	f.login(t, c, 100030)
	f.src.mu.Lock()
	f.src.p[100020] = watcher.Presence{Online: true, Status: 2}
	f.src.mu.Unlock()
	_, body := get(t, c, f.srv.URL+"/members?online=1")
	ids := regexp.MustCompile(`data-member-id="(\d+)"`).FindAllStringSubmatch(body, -1)
	got := []string{}
	for _, m := range ids {
		got = append(got, m[1])
	}
	if strings.Join(got, ",") != "100001,100020" {
		t.Fatalf("online now lists %v, want 100001,100020", got)
	}
	_, body = get(t, c, f.srv.URL+"/members?gender=female")
	for _, m := range regexp.MustCompile(`<p class="facts">(.)`).FindAllStringSubmatch(body, -1) {
		if m[1] != "女" {
			t.Fatalf("gender filter shows %q", m[1])
		}
	}
	// keyset pages: page size 12 over 30 members, no repeats, all reached
	seen := map[string]bool{}
	next := "/members"
	for pages := 0; next != ""; pages++ {
		_, body := get(t, c, f.srv.URL+next)
		for _, m := range regexp.MustCompile(`data-member-id="(\d+)"`).FindAllStringSubmatch(body, -1) {
			if seen[m[1]] {
				t.Fatalf("member %s on two pages", m[1])
			}
			seen[m[1]] = true
		}
		nm := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindStringSubmatch(body)
		next = ""
		if nm != nil {
			next = strings.ReplaceAll(nm[1], "&amp;", "&")
		}
		if pages > 5 {
			t.Fatal("pages do not end")
		}
	}
	if len(seen) != 30 {
		t.Fatalf("pages showed %d members, want 30", len(seen))
	}
	if resp, _ := get(t, c, f.srv.URL+"/members?page=2"); resp.StatusCode != http.StatusMovedPermanently {
		t.Fatalf("old page links: %d", resp.StatusCode)
	}
}

func TestLikesMakeMatches(t *testing.T) {
	f := newFixture(t, nil)
	a, b := f.browser(t), f.browser(t)
	tokA, tokB := f.login(t, a, 100001), f.login(t, b, 100002)
	like := func(c *http.Client, tok string, id uint64, action string) *http.Response {
		resp, _ := post(t, c, f.srv.URL+"/likes", url.Values{"csrf_token": {tok}, "member_id": {fmt.Sprint(id)}, "action": {action}, "back": {"/members?online=1"}})
		return resp
	}
	if r := like(a, tokA, 100002, "like"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/members?online=1" {
		t.Fatalf("like: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	if _, body := get(t, a, f.srv.URL+"/members"); !strings.Contains(body, `已喜欢`) {
		t.Fatal("liked card not marked")
	}
	if r := like(b, tokB, 100001, "like"); r.Header.Get("Location") != "/matches?new=100001" {
		t.Fatalf("mutual like goes to %s", r.Header.Get("Location"))
	}
	_, body := get(t, b, f.srv.URL+"/matches?new=100001")
	if !strings.Contains(body, "配对成功") || !strings.Contains(body, `data-member-id="100001"`) {
		t.Fatal("match not shown")
	}
	if _, body := get(t, a, f.srv.URL+"/matches"); !strings.Contains(body, `data-member-id="100002"`) {
		t.Fatal("match not shown to the other member")
	}
	like(a, tokA, 100002, "unlike")
	if _, body := get(t, b, f.srv.URL+"/matches"); strings.Contains(body, `data-member-id="100001"`) {
		t.Fatal("match survived an unlike")
	}
	for name, form := range map[string]url.Values{
		"self":    {"member_id": {"100001"}},
		"garbage": {"member_id": {"1 OR 1=1"}},
		"unknown": {"member_id": {"99999999"}},
		"action":  {"member_id": {"100002"}, "action": {"delete"}},
	} {
		form.Set("csrf_token", tokA)
		resp, body := post(t, a, f.srv.URL+"/likes", form)
		if resp.StatusCode < 400 || !strings.Contains(body, "会员") && !strings.Contains(body, "操作") {
			t.Errorf("%s: %d", name, resp.StatusCode)
		}
	}
	// an off-site back link is not followed
	resp, _ := post(t, a, f.srv.URL+"/likes", url.Values{"csrf_token": {tokA}, "member_id": {"100003"}, "back": {"//evil.example/"}})
	if resp.Header.Get("Location") != "/members" {
		t.Fatalf("redirected to %s", resp.Header.Get("Location"))
	}
}

func TestOutboxOnlyInDevMode(t *testing.T) {
	f := newFixture(t, nil)
	if resp, _ := get(t, f.browser(t), f.srv.URL+"/outbox"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/outbox without -dev-outbox: %d", resp.StatusCode)
	}
	d := newFixture(t, func(o *Options) { o.DevOutbox = true; o.BaseURL = "https://site.example" })
	c := d.browser(t)
	tok := csrf(t, c, d.srv.URL+"/signup")
	post(t, c, d.srv.URL+"/signup", signupForm(tok))
	_, body := get(t, c, d.srv.URL+"/outbox")
	if !strings.Contains(body, "https://site.example/verify?token=") || !strings.Contains(body, `data-mail-to="new@example.com"`) {
		t.Fatal("outbox page lacks the verification link built from BaseURL")
	}
}

func storeAll() store.SearchOptions { return store.SearchOptions{Limit: 100} }
