package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"time"
)

// Cookie names.
const (
	SessionCookie = "hl_session"
	CSRFCookie    = "hl_csrf"
)

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

// SetSession sets the session cookie for user: base64url(user:8 | expiry:8 | mac:32).
func (k *Keys) SetSession(w http.ResponseWriter, user uint64, now time.Time) {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], user)
	exp := now.Add(k.SessionTTL)
	binary.BigEndian.PutUint64(b[8:], uint64(exp.Unix()))
	v := enc.EncodeToString(append(b[:], k.mac('s', b[:])...))
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: v, Path: "/", Expires: exp, MaxAge: int(k.SessionTTL / time.Second),
		HttpOnly: true, Secure: k.Secure, SameSite: http.SameSiteLaxMode})
}

// ClearSession removes the session cookie.
func (k *Keys) ClearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: k.Secure, SameSite: http.SameSiteLaxMode})
}

// Session returns the user of a valid, unexpired session cookie.
func (k *Keys) Session(r *http.Request, now time.Time) (uint64, error) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || len(c.Value) > 128 {
		return 0, ErrNoSession
	}
	b, err := enc.DecodeString(c.Value)
	if err != nil || len(b) != 48 {
		return 0, ErrNoSession
	}
	if !hmac.Equal(b[16:], k.mac('s', b[:16])) {
		return 0, ErrNoSession
	}
	if int64(binary.BigEndian.Uint64(b[8:16])) <= now.Unix() {
		return 0, ErrNoSession
	}
	return binary.BigEndian.Uint64(b[:8]), nil
}
