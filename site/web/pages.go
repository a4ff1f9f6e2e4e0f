package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"heartline/site/auth"
	"heartline/site/members"
)

// maxFormBytes bounds a form submission.
const maxFormBytes = 16 << 10

type landingData struct{ Online, Members int }

func (s *Server) landing(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "landing", &page{Data: landingData{s.o.Presence.OnlineUsers(), s.o.Members.Count()}})
}

// parseForm bounds the body, parses it and checks the CSRF token; on failure it has
// answered the request.
func (s *Server) parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "提交失败", "表单内容无效或过大，请返回重试。")
		return false
	}
	if !s.o.Keys.CheckCSRF(r) {
		s.errorPage(w, r, http.StatusForbidden, "页面已过期", "安全校验失败（CSRF）：请刷新页面后重新提交。如果问题持续，请确认浏览器允许本站的 Cookie。")
		return false
	}
	return true
}

type signupData struct {
	Form             members.Signup
	Errors           members.Errors
	Cities           []string
	MinYear, MaxYear int
}

func (s *Server) signupPage(w http.ResponseWriter, r *http.Request, status int, f members.Signup, errs members.Errors) {
	f.Password, f.Confirm = "", ""
	y := s.o.Now().Year()
	s.render(w, r, status, "signup", &page{Title: "免费注册", Data: signupData{f, errs, members.Cities(), y - members.AgeMax, y - members.AgeMin}})
}

func (s *Server) signupForm(w http.ResponseWriter, r *http.Request) {
	s.signupPage(w, r, http.StatusOK, members.Signup{}, nil)
}

func (s *Server) signup(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	pf := r.PostForm
	f := members.Signup{Nickname: pf.Get("nickname"), Email: pf.Get("email"), Password: pf.Get("password"), Confirm: pf.Get("confirm"),
		Gender: pf.Get("gender"), BirthYear: pf.Get("birth_year"), City: pf.Get("city"), Bio: pf.Get("bio")}
	now := s.o.Now()
	m, errs := f.Validate(now)
	if len(errs) > 0 {
		s.m.signups.WithLabelValues("invalid").Inc()
		s.signupPage(w, r, http.StatusUnprocessableEntity, f, errs)
		return
	}
	if ok, wait := s.o.Limits.IP.Allow(s.clientIP(r), now); !ok {
		s.m.signups.WithLabelValues("rate_limited").Inc()
		w.Header().Set("Retry-After", retryAfter(wait))
		s.signupPage(w, r, http.StatusTooManyRequests, f, members.Errors{"email": fmt.Sprintf("操作太频繁，请 %s 后再试。", waitText(wait))})
		return
	}
	hash, err := auth.HashPassword(f.Password, s.o.HashParams)
	if err != nil {
		s.o.Log.Error("site: hashing password", zap.Error(err))
		s.errorPage(w, r, http.StatusInternalServerError, "注册失败", "服务器暂时无法完成注册，请稍后再试。")
		return
	}
	m.PasswordHash = hash
	if err := s.o.Members.Create(m); err != nil {
		if errors.Is(err, members.ErrEmailTaken) {
			s.m.signups.WithLabelValues("taken").Inc()
			s.signupPage(w, r, http.StatusConflict, f, members.Errors{"email": "该邮箱已注册，请直接登录。"})
			return
		}
		s.m.signups.WithLabelValues("error").Inc()
		s.o.Log.Error("site: creating member", zap.Error(err))
		s.errorPage(w, r, http.StatusInternalServerError, "注册失败", "服务器暂时无法保存账号，请稍后再试。")
		return
	}
	s.m.signups.WithLabelValues("ok").Inc()
	s.o.Log.Info("site: member signed up", zap.Uint64("user", m.ID))
	s.o.Keys.SetSession(w, m.ID, now)
	http.Redirect(w, r, "/members", http.StatusSeeOther)
}

type loginData struct {
	Email, Message, DemoHint string
	Errors                   members.Errors
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request, status int, d loginData) {
	d.DemoHint = s.o.DemoHint
	s.render(w, r, status, "login", &page{Title: "登录", Data: d})
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	s.loginPage(w, r, http.StatusOK, loginData{})
}

// errLimited carries the wait of a rate-limited login.
type errLimited struct{ wait time.Duration }

func (e errLimited) Error() string { return "rate limited" }

var errBadLogin = errors.New("wrong e-mail or password")

// authenticate checks a login under the rate limits. Unknown accounts cost the same hash as
// known ones, so response time does not reveal which e-mails are registered.
func (s *Server) authenticate(ip, email, password string) (*members.Member, error) {
	now := s.o.Now()
	account := members.NormalizeEmail(email)
	if ok, wait := s.o.Limits.Begin(ip, account, now); !ok {
		return nil, errLimited{wait}
	}
	m := s.o.Members.ByEmail(account)
	hash := dummyHash(s.o.HashParams)
	if m != nil {
		hash = m.PasswordHash
	}
	ok, err := auth.CheckPassword(hash, password)
	if err != nil {
		s.o.Log.Error("site: stored password hash unusable", zap.Uint64("user", idOf(m)), zap.Error(err))
	}
	if !ok || m == nil {
		s.o.Limits.Failed(account, now)
		return nil, errBadLogin
	}
	return m, nil
}

func asLimited(err error, lim *errLimited) bool { return errors.As(err, lim) }

func idOf(m *members.Member) uint64 {
	if m == nil {
		return 0
	}
	return m.ID
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	email, password := strings.TrimSpace(r.PostForm.Get("email")), r.PostForm.Get("password")
	errs := members.Errors{}
	if email == "" {
		errs["email"] = "请填写邮箱。"
	}
	if password == "" {
		errs["password"] = "请填写密码。"
	}
	if len(email) > members.EmailMax || len(password) > members.PasswordMax*4 {
		errs["email"] = "邮箱或密码过长。"
	}
	if len(errs) > 0 {
		s.loginPage(w, r, http.StatusUnprocessableEntity, loginData{Email: email, Errors: errs})
		return
	}
	m, err := s.authenticate(s.clientIP(r), email, password)
	s.m.logins.WithLabelValues("web", loginResult(err)).Inc()
	var lim errLimited
	switch {
	case errors.As(err, &lim):
		w.Header().Set("Retry-After", retryAfter(lim.wait))
		s.loginPage(w, r, http.StatusTooManyRequests, loginData{Email: email, Message: fmt.Sprintf("登录尝试次数过多，请 %s 后再试。", waitText(lim.wait))})
		return
	case err != nil:
		s.loginPage(w, r, http.StatusUnauthorized, loginData{Email: email, Message: "邮箱或密码不正确。"})
		return
	}
	s.o.Keys.SetSession(w, m.ID, s.o.Now())
	http.Redirect(w, r, "/members", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	s.o.Keys.ClearSession(w)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func retryAfter(d time.Duration) string {
	return strconv.Itoa(int((d + time.Second - 1) / time.Second))
}

func waitText(d time.Duration) string {
	sec := int((d + time.Second - 1) / time.Second)
	if sec < 60 {
		return fmt.Sprintf("%d 秒", max(sec, 1))
	}
	return fmt.Sprintf("%d 分钟", (sec+59)/60)
}

// card is one member on the members page.
type card struct {
	*members.Member
	Age      int
	Online   bool
	LastSeen int64
	SeenText string
}

type membersData struct {
	Cards                     []card
	Online, Total             int
	PageNo, Pages, Prev, Next int
}

func (s *Server) membersPage(w http.ResponseWriter, r *http.Request) {
	n := 1
	if v := r.URL.Query().Get("page"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 {
			s.errorPage(w, r, http.StatusBadRequest, "页码无效", "页码必须是正整数。")
			return
		}
		n = p
	}
	total := s.o.Members.Count()
	pages := max((total+s.o.PageSize-1)/s.o.PageSize, 1)
	if n > pages {
		s.errorPage(w, r, http.StatusNotFound, "没有这一页", fmt.Sprintf("会员列表只有 %d 页。", pages))
		return
	}
	now := s.o.Now()
	list := s.o.Members.Page((n-1)*s.o.PageSize, s.o.PageSize)
	d := membersData{Online: s.o.Presence.OnlineUsers(), Total: total, PageNo: n, Pages: pages}
	if n > 1 {
		d.Prev = n - 1
	}
	if n < pages {
		d.Next = n + 1
	}
	ids := make([]string, 0, len(list))
	for _, m := range list {
		p := s.o.Presence.Lookup(m.ID)
		c := card{Member: m, Age: m.Age(now), Online: p.Online}
		if p.Online {
			c.SeenText = "在线"
		} else {
			c.LastSeen = p.LastSeen
			c.SeenText = LastSeenText(p.LastSeen, now)
		}
		d.Cards = append(d.Cards, c)
		ids = append(ids, strconv.FormatUint(m.ID, 10))
	}
	s.render(w, r, http.StatusOK, "members", &page{Title: "会员", LiveIDs: strings.Join(ids, ","), Data: d})
}

// LastSeenText is the Chinese "last seen" text for a unix-ms time (0: never seen); app.js
// computes the same text in the browser.
func LastSeenText(ms int64, now time.Time) string {
	if ms == 0 {
		return "离线"
	}
	min := int(now.Sub(time.UnixMilli(ms)) / time.Minute)
	switch {
	case min < 1:
		return "刚刚在线"
	case min < 60:
		return fmt.Sprintf("%d 分钟前在线", min)
	case min < 24*60:
		return fmt.Sprintf("%d 小时前在线", min/60)
	case min < 30*24*60:
		return fmt.Sprintf("%d 天前在线", min/(24*60))
	}
	return "很久没上线"
}
