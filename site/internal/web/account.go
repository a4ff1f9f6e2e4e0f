package web

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"heartline/protocol/privacy"
	"heartline/site/internal/auth"
	"heartline/site/internal/members"
	"heartline/site/internal/store"
)

// Accounts: sign-up with e-mail verification, login into a server-side session, logout
// (this browser or everywhere), password change.

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

type checkmailData struct{ Email string }

// signup answers the same page whether or not the address already has an account: a new
// address gets a verification link, a registered one a note that someone tried to sign up
// with it. Either way the password is hashed, so the timing does not tell them apart.
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
	if ok, wait := s.o.Limits.IP.Allow(auth.AddrKey(s.clientIP(r)), now); !ok {
		s.m.signups.WithLabelValues("rate_limited").Inc()
		w.Header().Set("Retry-After", retryAfter(wait))
		s.signupPage(w, r, http.StatusTooManyRequests, f, members.Errors{"email": fmt.Sprintf("操作太频繁，请 %s 后再试。", waitText(wait))})
		return
	}
	var hash string
	var err error
	if wait := s.withHashSlot(r.Context(), func() { hash, err = auth.HashPassword(f.Password, s.o.HashParams) }); wait > 0 {
		s.m.signups.WithLabelValues("rate_limited").Inc()
		w.Header().Set("Retry-After", retryAfter(wait))
		s.signupPage(w, r, http.StatusTooManyRequests, f, members.Errors{"email": fmt.Sprintf("服务器繁忙，请 %s 后再试。", waitText(wait))})
		return
	}
	if err != nil {
		s.o.Log.Error("site: hashing password", zap.Error(err))
		s.errorPage(w, r, http.StatusInternalServerError, "注册失败", "服务器暂时无法完成注册，请稍后再试。")
		return
	}
	m.PasswordHash = hash
	base := s.baseURL(r)
	err = s.o.Store.CreateMemberTx(r.Context(), m, func(tx *sql.Tx) error {
		return s.o.Store.EnqueueVerification(r.Context(), tx, m.ID, m.Email, s.o.VerifyTTL, "请验证你的邮箱 · 遇见对的人",
			func(tok string) string { return verifyMail(m.Nickname, base+"/verify?token="+tok, s.o.VerifyTTL) })
	})
	result := "ok"
	if errors.Is(err, store.ErrEmailTaken) {
		result = "taken"
		err = s.o.Store.EnqueueMail(r.Context(), store.Mail{To: m.Email, Subject: "有人尝试用你的邮箱注册 · 遇见对的人", Body: takenMail(s.o.BaseURL)})
	}
	if err != nil {
		s.m.signups.WithLabelValues("error").Inc()
		s.o.Log.Error("site: signing up", zap.Error(err))
		s.errorPage(w, r, http.StatusInternalServerError, "注册失败", "服务器暂时无法保存账号，请稍后再试。你填写的内容没有被保存。")
		return
	}
	s.m.signups.WithLabelValues(result).Inc()
	if s.o.Mail != nil {
		s.o.Mail.Wake()
	}
	s.render(w, r, http.StatusOK, "checkmail", &page{Title: "请查收邮件", Data: checkmailData{m.Email}})
}

func verifyMail(nick, link string, ttl time.Duration) string {
	return fmt.Sprintf("%s，你好！\n\n欢迎注册「遇见对的人」。请在 %d 小时内打开下面的链接完成邮箱验证：\n\n%s\n\n如果不是你本人注册，请忽略这封邮件。\n", nick, int(ttl/time.Hour), link)
}

func takenMail(base string) string {
	login := "本站的登录页"
	if base != "" {
		login = base + "/login"
	}
	return "你好！\n\n刚才有人用这个邮箱在「遇见对的人」注册。这个邮箱已经有账号了，所以没有创建新账号。\n如果是你本人，请直接登录：" + login + "\n如果不是你，请忽略这封邮件，你的账号没有任何变化。\n"
}

// baseURL is the prefix of links in mails.
func (s *Server) baseURL(r *http.Request) string {
	if s.o.BaseURL != "" {
		return strings.TrimRight(s.o.BaseURL, "/")
	}
	scheme := "http"
	if r.TLS != nil || s.o.Keys.Secure {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// verify consumes a verification link and logs the member in.
func (s *Server) verify(w http.ResponseWriter, r *http.Request) {
	id, err := s.o.Store.Verify(r.Context(), r.URL.Query().Get("token"))
	if errors.Is(err, store.ErrNotFound) {
		s.errorPage(w, r, http.StatusNotFound, "验证链接无效", "这个验证链接已失效、已使用过或不完整。请登录试试；如果仍未验证，请重新注册以获取新的链接。")
		return
	}
	if err != nil {
		s.o.Log.Error("site: verifying", zap.Error(err))
		s.errorPage(w, r, http.StatusInternalServerError, "验证失败", "服务器暂时无法完成验证，请稍后再打开链接。")
		return
	}
	s.count.invalidate()
	if !s.startSession(w, r, id) {
		return
	}
	http.Redirect(w, r, "/profile?welcome=1", http.StatusSeeOther)
}

// startSession creates a server-side session and sets its cookie; on failure it has
// answered the request.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, id uint64) bool {
	tok, exp, err := s.o.Store.CreateSession(r.Context(), id, s.o.Keys.SessionTTL)
	if err != nil {
		s.o.Log.Error("site: creating session", zap.Error(err))
		s.errorPage(w, r, http.StatusInternalServerError, "登录失败", "服务器暂时无法登录，请稍后再试。")
		return false
	}
	s.o.Keys.SetSession(w, tok, exp, s.o.Now())
	s.touchActive(r.Context(), id)
	return true
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

var (
	errBadLogin   = errors.New("wrong e-mail or password")
	errUnverified = errors.New("e-mail address not verified")
)

// authenticate checks a login under the rate limits. Unknown accounts cost the same hash as
// known ones, so response time does not reveal which e-mails are registered. An unverified
// account is reported only after its password matched.
func (s *Server) authenticate(ctx context.Context, ip, email, password string) (*members.Member, error) {
	now := s.o.Now()
	account := members.NormalizeEmail(email)
	// Limits key on the address range (an IPv6 /64 counts as one address), and failures on
	// the account *from that range*: guessing from elsewhere never locks the owner out.
	addr := auth.AddrKey(ip)
	acctKey := account + " " + addr
	if ok, wait := s.o.Limits.Begin(addr, acctKey, now); !ok {
		return nil, errLimited{wait}
	}
	m, err := s.o.Store.MemberByEmail(ctx, account)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	hash := dummyHash(s.o.HashParams)
	if m != nil {
		hash = m.PasswordHash
	}
	var ok bool
	if wait := s.withHashSlot(ctx, func() { ok, err = auth.CheckPassword(hash, password) }); wait > 0 {
		return nil, errLimited{wait}
	}
	if err != nil {
		s.o.Log.Error("site: stored password hash unusable", zap.Uint64("user", idOf(m)), zap.Error(err))
	}
	if !ok || m == nil {
		s.o.Limits.Failed(acctKey, now)
		return nil, errBadLogin
	}
	if !m.Verified {
		return nil, errUnverified
	}
	return m, nil
}

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
	m, err := s.authenticate(r.Context(), s.clientIP(r), email, password)
	s.m.logins.WithLabelValues("web", loginResult(err)).Inc()
	var lim errLimited
	switch {
	case errors.As(err, &lim):
		w.Header().Set("Retry-After", retryAfter(lim.wait))
		s.loginPage(w, r, http.StatusTooManyRequests, loginData{Email: email, Message: fmt.Sprintf("登录尝试次数过多，请 %s 后再试。", waitText(lim.wait))})
		return
	case errors.Is(err, errUnverified):
		s.loginPage(w, r, http.StatusForbidden, loginData{Email: email, Message: "邮箱尚未验证：请打开注册时收到的验证邮件中的链接，然后再登录。"})
		return
	case errors.Is(err, errBadLogin):
		s.loginPage(w, r, http.StatusUnauthorized, loginData{Email: email, Message: "邮箱或密码不正确。"})
		return
	case err != nil:
		s.o.Log.Error("site: login", zap.Error(err))
		s.loginPage(w, r, http.StatusInternalServerError, loginData{Email: email, Message: "服务器暂时无法登录，请稍后再试。"})
		return
	}
	if !s.startSession(w, r, m.ID) {
		return
	}
	http.Redirect(w, r, "/members", http.StatusSeeOther)
}

// logout deletes this browser's session: the cookie stops working everywhere it was copied.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	if tok, err := s.o.Keys.Session(r); err == nil {
		if err := s.o.Store.DeleteSession(r.Context(), tok); err != nil {
			s.o.Log.Error("site: deleting session", zap.Error(err))
			s.errorPage(w, r, http.StatusInternalServerError, "退出失败", "服务器暂时无法结束登录，请稍后再试。")
			return
		}
	}
	s.o.Keys.ClearSession(w)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logoutEverywhere deletes every session of the member (all browsers and devices).
func (s *Server) logoutEverywhere(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	m, _ := s.requireUser(w, r)
	if m == nil {
		return
	}
	if _, err := s.o.Store.DeleteSessions(r.Context(), m.ID, ""); err != nil {
		s.o.Log.Error("site: deleting sessions", zap.Error(err))
		s.errorPage(w, r, http.StatusInternalServerError, "退出失败", "服务器暂时无法结束登录，请稍后再试。")
		return
	}
	s.o.Keys.ClearSession(w)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

type accountData struct {
	Message    string
	Errors     members.Errors
	Visibility string // members, matches or nobody
}

func (s *Server) accountForm(w http.ResponseWriter, r *http.Request) {
	m, _ := s.requireUser(w, r)
	if m == nil {
		return
	}
	d := accountData{Visibility: m.PresenceVisibility}
	if r.URL.Query().Get("changed") == "1" {
		d.Message = "密码已修改，其他设备上的登录已全部退出。"
	}
	if r.URL.Query().Get("saved") == "visibility" {
		d.Message = "在线状态设置已保存，立即生效。"
	}
	s.render(w, r, http.StatusOK, "account", &page{Title: "账号安全", User: m, Data: d})
}

// changePassword checks the current password, stores the new one and ends every other
// session of the member in the same transaction.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	m, tok := s.requireUser(w, r)
	if m == nil {
		return
	}
	cur, pw, confirm := r.PostForm.Get("current"), r.PostForm.Get("password"), r.PostForm.Get("confirm")
	errs := members.Errors{}
	if len(cur) > members.PasswordMax*4 {
		errs["current"] = "当前密码不正确。"
	} else {
		var ok bool
		if wait := s.withHashSlot(r.Context(), func() { ok, _ = auth.CheckPassword(m.PasswordHash, cur) }); wait > 0 {
			w.Header().Set("Retry-After", retryAfter(wait))
			s.errorPage(w, r, http.StatusServiceUnavailable, "服务器繁忙", "请稍后再试。")
			return
		}
		if !ok {
			errs["current"] = "当前密码不正确。"
		}
	}
	if msg := members.PasswordProblem(pw); msg != "" {
		errs["password"] = msg
	}
	if confirm != pw {
		errs["confirm"] = "两次输入的密码不一致。"
	}
	if len(errs) > 0 {
		s.render(w, r, http.StatusUnprocessableEntity, "account", &page{Title: "账号安全", User: m, Data: accountData{Errors: errs, Visibility: m.PresenceVisibility}})
		return
	}
	var hash string
	var err error
	if wait := s.withHashSlot(r.Context(), func() { hash, err = auth.HashPassword(pw, s.o.HashParams) }); wait > 0 {
		w.Header().Set("Retry-After", retryAfter(wait))
		s.errorPage(w, r, http.StatusServiceUnavailable, "服务器繁忙", "请稍后再试，原密码仍然有效。")
		return
	}
	if err == nil {
		err = s.o.Store.ChangePassword(r.Context(), m.ID, hash, tok)
	}
	if err != nil {
		s.o.Log.Error("site: changing password", zap.Error(err))
		s.errorPage(w, r, http.StatusInternalServerError, "修改失败", "服务器暂时无法修改密码，原密码仍然有效。请稍后再试。")
		return
	}
	http.Redirect(w, r, "/account?changed=1", http.StatusSeeOther)
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

// touchActive moves a member up the activity order at login, unless their presence is not
// for everyone (match-only, invisible): their position would tell everyone they logged in.
func (s *Server) touchActive(ctx context.Context, id uint64) {
	if s.o.Privacy.View().Subject(id).Mode != privacy.ModeMembers {
		return
	}
	if err := s.o.Store.TouchActive(ctx, map[uint64]int64{id: s.o.Now().UnixMilli()}); err != nil {
		s.o.Log.Warn("site: recording activity", zap.Error(err))
	}
}
