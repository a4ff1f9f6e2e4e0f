package web

import (
	"bytes"
	"context"
	"errors"
	"html/template"
	"net"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"heartline/protocol/token"
	"heartline/site/internal/auth"
	"heartline/site/internal/catalog"
	"heartline/site/internal/live"
	"heartline/site/internal/members"
	"heartline/site/internal/store"
	"heartline/site/internal/visibility"
)

// Gateways lists the healthy gateways handed to apps at login (catalog.Catalog).
type Gateways interface {
	Gateways(ctx context.Context) ([]catalog.Gateway, error)
}

// Waker is told when a mail was queued (site/mail.Sender), so it goes out now.
type Waker interface{ Wake() }

// Options configure the site's handler.
type Options struct {
	Store *store.Store
	Keys  *auth.Keys
	// Mail is woken after a mail is queued (nil: the sender finds it on its next round).
	Mail Waker
	// BaseURL prefixes links in e-mails ("https://example.com"); empty: taken from the
	// request (scheme and Host) — set it in production so a forged Host cannot reach a mail.
	BaseURL string
	// DevOutbox serves GET /outbox: the newest mails, links included. Local demos only.
	DevOutbox bool
	// VerifyTTL is how long a verification link works (default 48h).
	VerifyTTL time.Duration
	Limits    *auth.LoginLimits // default auth.DefaultLoginLimits()
	Hub       *live.Hub
	// Presence is the watcher's cache (the same Source the hub reads).
	Presence live.Source
	// Privacy decides who sees whom (required); the hub and every page and API use it.
	Privacy *visibility.Policy
	// KeyRing issues heartbeat tokens at POST /api/session; nil: the endpoint answers 503.
	KeyRing  *token.KeyRing
	Gateways Gateways
	// TokenTTL is the lifetime of issued heartbeat tokens (default 24h).
	TokenTTL time.Duration
	// Interval is the heartbeat interval announced to apps (default 10s; WELCOME is authoritative).
	Interval   time.Duration
	HashParams auth.HashParams // default auth.DefaultHashParams
	// HashConcurrency bounds password hashes running at once (default GOMAXPROCS); an
	// attempt that finds no free slot within HashWait (default 2s) is answered 429/503.
	HashConcurrency int
	HashWait        time.Duration
	PageSize        int // members per page (default 24)
	// Ready reports whether presence is being followed (the watcher's first read finished).
	Ready func() bool
	// TrustProxy takes the client IP (for rate limits) from the last X-Forwarded-For entry.
	TrustProxy bool
	// DemoHint is shown on the login page (e.g. a demo account's e-mail); empty: none.
	DemoHint string
	// Registry receives the site's Prometheus metrics (nil: not exported).
	Registry prometheus.Registerer
	Now      func() time.Time
	Log      *zap.Logger
}

// Server is the site's http.Handler.
type Server struct {
	o      Options
	assets *assets
	tmpl   map[string]*template.Template
	mux    *http.ServeMux
	m      *metrics
	count  memberCount
	// photoSlots bounds concurrent photo decodes.
	photoSlots chan struct{}
	// hashSlots bounds concurrent password hashes (hashslots.go).
	hashSlots chan struct{}
}

// New parses the templates and builds the routes.
func New(o Options) (*Server, error) {
	if o.Store == nil || o.Keys == nil || o.Hub == nil || o.Presence == nil || o.Privacy == nil {
		return nil, errors.New("web: Options.Store, Keys, Hub, Presence and Privacy are required")
	}
	if o.VerifyTTL <= 0 {
		o.VerifyTTL = 48 * time.Hour
	}
	if o.Limits == nil {
		o.Limits = auth.DefaultLoginLimits()
	}
	if o.TokenTTL == 0 {
		o.TokenTTL = 24 * time.Hour
	}
	if o.Interval == 0 {
		o.Interval = 10 * time.Second
	}
	if o.HashParams == (auth.HashParams{}) {
		o.HashParams = auth.DefaultHashParams
	}
	if o.PageSize <= 0 {
		o.PageSize = 24
	}
	if o.HashConcurrency <= 0 {
		o.HashConcurrency = runtime.GOMAXPROCS(0)
	}
	if o.HashWait <= 0 {
		o.HashWait = 2 * time.Second
	}
	if o.Ready == nil {
		o.Ready = func() bool { return true }
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	a, err := loadAssets()
	if err != nil {
		return nil, err
	}
	t, err := parseTemplates(a)
	if err != nil {
		return nil, err
	}
	s := &Server{o: o, assets: a, tmpl: t, mux: http.NewServeMux(), m: newMetrics(o.Registry), photoSlots: make(chan struct{}, 2),
		hashSlots: make(chan struct{}, o.HashConcurrency)}
	o.Hub.SetIdentify(s.identify)
	m := s.mux
	m.HandleFunc("GET /{$}", s.landing)
	m.HandleFunc("GET /signup", s.signupForm)
	m.HandleFunc("POST /signup", s.signup)
	m.HandleFunc("GET /login", s.loginForm)
	m.HandleFunc("POST /login", s.login)
	m.HandleFunc("POST /logout", s.logout)
	m.HandleFunc("POST /logout/all", s.logoutEverywhere)
	m.HandleFunc("GET /verify", s.verify)
	m.HandleFunc("GET /account", s.accountForm)
	m.HandleFunc("POST /account/password", s.changePassword)
	m.HandleFunc("POST /account/visibility", s.setVisibility)
	m.HandleFunc("POST /block", s.block)
	m.HandleFunc("GET /profile", s.profileForm)
	m.HandleFunc("POST /profile", s.saveProfile)
	m.HandleFunc("POST /profile/photo", s.uploadPhoto)
	m.HandleFunc("GET /photos/{name}", s.servePhoto)
	m.HandleFunc("POST /likes", s.like)
	m.HandleFunc("GET /matches", s.matchesPage)
	if o.DevOutbox {
		m.HandleFunc("GET /outbox", s.outboxPage)
	}
	m.HandleFunc("GET /members", s.membersPage)
	m.Handle("GET /events", o.Hub)
	m.Handle("GET /static/{name}", a)
	m.HandleFunc("POST /api/session", s.apiSession)
	m.HandleFunc("GET /api/presence", s.apiPresence)
	m.HandleFunc("POST /api/grant", s.apiGrant)
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeJSONError(w, http.StatusNotFound, "not_found", "no such API endpoint: see site/README.md (POST /api/session, GET /api/presence, POST /api/grant)")
	})
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) }) //nolint:errcheck
	m.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.o.Ready() {
			http.Error(w, "presence watcher has not finished its first read from Consul", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n")) //nolint:errcheck
	})
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.errorPage(w, r, http.StatusNotFound, "页面不存在", "你要找的页面不存在或已被移走。")
	})
	return s, nil
}

// contentSecurityPolicy allows only the site's own scripts, styles and connections.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// ServeHTTP adds security headers, recovers panics and writes the access log.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.o.Now()
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
	if s.o.Keys.Secure {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	if r.URL.Path != "/events" {
		// No server-wide WriteTimeout (SSE streams are long; the hub sets a deadline per
		// write): every other response gets one here, so a client that stops reading
		// cannot hold a handler forever.
		http.NewResponseController(w).SetWriteDeadline(time.Now().Add(30 * time.Second)) //nolint:errcheck
	}
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.o.Log.Error("site: handler panic", zap.Any("panic", v), zap.String("path", r.URL.Path))
			if !rec.wrote {
				http.Error(rec, "internal error", http.StatusInternalServerError)
			}
		}
		s.m.requests.WithLabelValues(codeClass(rec.status)).Inc()
		s.o.Log.Info("access", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Int("status", rec.status),
			zap.Int64("bytes", rec.bytes), zap.Duration("took", s.o.Now().Sub(start)), zap.String("ip", s.clientIP(r)),
			zap.String("ua", truncate(r.UserAgent(), 120)))
	}()
	s.mux.ServeHTTP(rec, r)
}

// recorder captures status and size for the access log; Unwrap keeps
// http.ResponseController (Flush, SetWriteDeadline) working for SSE.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// clientIP is the address rate limits are keyed by.
func (s *Server) clientIP(r *http.Request) string {
	if s.o.TrustProxy {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			parts := strings.Split(xff, ",")
			if ip := net.ParseIP(strings.TrimSpace(parts[len(parts)-1])); ip != nil {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// page is what every template gets.
type page struct {
	Back    string // this page's path and query, for forms that return here
	Page    string
	Title   string
	User    *members.Member
	CSRF    string
	Cursor  string
	LiveIDs string
	Data    any
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	p.Page = name
	p.Back = r.URL.RequestURI()
	if p.User == nil {
		p.User = s.currentUser(r)
	}
	p.CSRF = s.o.Keys.CSRFToken(w, r)
	p.Cursor = s.o.Hub.Cursor()
	var buf bytes.Buffer
	if err := s.tmpl[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		s.o.Log.Error("site: rendering template", zap.String("template", name), zap.Error(err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes()) //nolint:errcheck
}

// currentUser is the member of the request's session, or nil. The session is looked up in
// the database on every request, so a logout elsewhere takes effect at once.
func (s *Server) currentUser(r *http.Request) *members.Member {
	m, _ := s.session(r)
	return m
}

func (s *Server) session(r *http.Request) (*members.Member, string) {
	tok, err := s.o.Keys.Session(r)
	if err != nil {
		return nil, ""
	}
	m, err := s.o.Store.SessionMember(r.Context(), tok)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.o.Log.Warn("site: reading session", zap.Error(err))
		}
		return nil, ""
	}
	return m, tok
}

// requireUser returns the logged-in member and session token, or sends the browser to
// the login page and returns nil.
func (s *Server) requireUser(w http.ResponseWriter, r *http.Request) (*members.Member, string) {
	m, tok := s.session(r)
	if m == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
	}
	return m, tok
}

type errorData struct{ Heading, Message, Back string }

func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, heading, msg string) {
	back := "/" // a failed form goes back to its own page (GET of the same path)
	switch {
	case r.Method != http.MethodPost:
	case r.URL.Path == "/signup" || r.URL.Path == "/login" || r.URL.Path == "/profile":
		back = r.URL.Path
	case r.URL.Path == "/profile/photo":
		back = "/profile"
	case strings.HasPrefix(r.URL.Path, "/account"):
		back = "/account"
	case r.URL.Path == "/likes":
		back = "/members"
	}
	s.render(w, r, status, "error", &page{Title: heading, Data: errorData{heading, msg, back}})
}
