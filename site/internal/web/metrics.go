package web

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the handler's counters (namespace heartline_site_).
type metrics struct {
	requests *prometheus.CounterVec // code class: 2xx, 3xx, 4xx, 5xx
	logins   *prometheus.CounterVec // channel: web, api; result: ok, bad_credentials, unverified, rate_limited, error
	signups  *prometheus.CounterVec // result: ok, invalid, taken, rate_limited, error
	sessions prometheus.Counter     // heartbeat credentials issued at POST /api/session
	hashBusy prometheus.Counter     // password checks refused because every hash slot stayed busy
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "heartline", Subsystem: "site", Name: "http_requests_total",
			Help: "HTTP requests by status class."}, []string{"code"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "heartline", Subsystem: "site", Name: "logins_total",
			Help: "Login attempts by channel (web form, app API) and result."}, []string{"channel", "result"}),
		signups: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "heartline", Subsystem: "site", Name: "signups_total",
			Help: "Sign-up submissions by result."}, []string{"result"}),
		sessions: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "heartline", Subsystem: "site", Name: "heartbeat_tokens_issued_total",
			Help: "Heartbeat tokens issued to apps at POST /api/session."}),
		hashBusy: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "heartline", Subsystem: "site", Name: "password_hash_busy_total",
			Help: "Password hashes refused (429/503) because every hashing slot stayed busy for -hash-wait."}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.logins, m.signups, m.sessions, m.hashBusy)
	}
	return m
}

func codeClass(code int) string {
	switch {
	case code < 300:
		return "2xx"
	case code < 400:
		return "3xx"
	case code < 500:
		return "4xx"
	}
	return "5xx"
}

func loginResult(err error) string {
	var lim errLimited
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &lim):
		return "rate_limited"
	case errors.Is(err, errUnverified):
		return "unverified"
	case !errors.Is(err, errBadLogin):
		return "error"
	}
	return "bad_credentials"
}
