package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"
)

// Cookie names. With Secure cookies (production) both carry the "__Host-" prefix, so a
// browser accepts them only from this host over HTTPS with Path=/ and no Domain: a sibling
// subdomain or a plain-HTTP page cannot plant or overwrite them. Keys.SessionName and
// CSRFName give the name in use.
const (
	SessionCookie = "hl_session"
	CSRFCookie    = "hl_csrf"
	HostPrefix    = "__Host-"
)

// SessionName is the session cookie's name ("__Host-hl_session" when Secure).
func (k *Keys) SessionName() string { return k.cookieName(SessionCookie) }

// CSRFName is the CSRF cookie's name ("__Host-hl_csrf" when Secure).
func (k *Keys) CSRFName() string { return k.cookieName(CSRFCookie) }

func (k *Keys) cookieName(base string) string {
	if k.Secure {
		return HostPrefix + base
	}
	return base
}

// ErrNoSession means the request carries no valid session cookie.
var ErrNoSession = errors.New("auth: no valid session")

// Keys signs session cookies and CSRF tokens. Its secret is the site's own (not the
// heartbeat cluster secret): rotating one must not invalidate the other.
type Keys struct {
	secret [32]byte
	// Secure sets the Secure attribute on cookies. Turn off only for local plain-HTTP demos.
	Secure bool
	// SessionTTL is how long a login lasts. Default 7 days.
	SessionTTL time.Duration
}

// NewKeys returns Keys for secret (at least 32 bytes; it is hashed to 32).
func NewKeys(secret []byte, secure bool) (*Keys, error) {
	if len(secret) < 32 {
		return nil, errors.New("auth: cookie secret too short: use at least 32 random bytes")
	}
	return &Keys{secret: sha256.Sum256(secret), Secure: secure, SessionTTL: 7 * 24 * time.Hour}, nil
}

// RandomKeys returns Keys with a random secret (sessions do not survive a restart).
func RandomKeys(secure bool) *Keys {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	k, _ := NewKeys(b[:], secure)
	return k
}

func (k *Keys) mac(purpose byte, msg []byte) []byte {
	h := hmac.New(sha256.New, k.secret[:])
	h.Write([]byte{purpose})
	h.Write(msg)
	return h.Sum(nil)
}

var enc = base64.RawURLEncoding.Strict() // strict: one text per value

// maxTokenLen bounds the session token a cookie may carry (site/store's are 43 characters).
const maxTokenLen = 64

// SetSession sets the session cookie to a server-side session's token (site/store), signed:
// base64url(token) "." base64url(HMAC(token)[:16]). The signature lets a forged or mangled
// cookie be refused before any database lookup; the session itself lives in the database,
// so logging out deletes it and the cookie stops working even if someone kept a copy.
func (k *Keys) SetSession(w http.ResponseWriter, token string, expires time.Time, now time.Time) {
	v := k.SessionValue(token)
	http.SetCookie(w, &http.Cookie{Name: k.SessionName(), Value: v, Path: "/", Expires: expires, MaxAge: int(expires.Sub(now) / time.Second),
		HttpOnly: true, Secure: k.Secure, SameSite: http.SameSiteLaxMode})
}

// ClearSession removes the session cookie.
func (k *Keys) ClearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: k.SessionName(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: k.Secure, SameSite: http.SameSiteLaxMode})
}

// Session returns the session token of a cookie this site signed. Whether the session still
// exists (not logged out, not expired) is the database's answer, not the cookie's.
func (k *Keys) Session(r *http.Request) (string, error) {
	c, err := r.Cookie(k.SessionName())
	if err != nil {
		return "", ErrNoSession
	}
	return k.parseSessionValue(c.Value)
}

// SessionValue is the signed form of a session token: the cookie's value, and the api_token
// apps send as "Authorization: Bearer <api_token>".
func (k *Keys) SessionValue(token string) string {
	return token + "." + enc.EncodeToString(k.mac('s', []byte(token))[:16])
}

// Bearer returns the session token of an "Authorization: Bearer" header this site signed.
func (k *Keys) Bearer(r *http.Request) (string, error) {
	v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return "", ErrNoSession
	}
	return k.parseSessionValue(v)
}

func (k *Keys) parseSessionValue(v string) (string, error) {
	if len(v) > maxTokenLen+32 {
		return "", ErrNoSession
	}
	tok, sig, ok := strings.Cut(v, ".")
	if !ok || tok == "" || len(tok) > maxTokenLen {
		return "", ErrNoSession
	}
	mac, err := enc.DecodeString(sig)
	if err != nil || !hmac.Equal(mac, k.mac('s', []byte(tok))[:16]) {
		return "", ErrNoSession
	}
	return tok, nil
}
