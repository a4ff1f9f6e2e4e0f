package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"net/http"
)

// CSRF protection: each browser gets a random, HttpOnly, SameSite=Strict cookie (hl_csrf,
// "__Host-hl_csrf" when Secure); forms carry HMAC(site secret, cookie value || session
// token) in a hidden field named CSRFField. A forged cross-site form cannot read the cookie
// and so cannot produce the field; a token copied from another browser does not match that
// browser's cookie; and the token is bound to the login session: one taken before a login
// (or from another session planted in the browser) does not validate after it.

// CSRFField is the form field carrying the token.
const CSRFField = "csrf_token"

// CSRFToken returns the token for this browser's forms, setting the CSRF cookie first if
// the request has none (call before writing the body).
func (k *Keys) CSRFToken(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(k.CSRFName())
	var raw []byte
	if err == nil {
		raw, err = enc.DecodeString(c.Value)
	}
	if err != nil || len(raw) != 32 {
		raw = make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			panic(err)
		}
		http.SetCookie(w, &http.Cookie{Name: k.CSRFName(), Value: enc.EncodeToString(raw), Path: "/",
			HttpOnly: true, Secure: k.Secure, SameSite: http.SameSiteStrictMode})
	}
	return enc.EncodeToString(k.csrfMAC(raw, r))
}

// csrfMAC binds the CSRF cookie to the request's session (none: the anonymous forms).
func (k *Keys) csrfMAC(raw []byte, r *http.Request) []byte {
	msg := append([]byte(nil), raw...)
	if tok, err := k.Session(r); err == nil {
		msg = append(append(msg, 0), tok...)
	}
	return k.mac('c', msg)
}

// CheckCSRF reports whether the request's form token matches its CSRF cookie. Call after
// ParseForm.
func (k *Keys) CheckCSRF(r *http.Request) bool {
	c, err := r.Cookie(k.CSRFName())
	if err != nil {
		return false
	}
	raw, err := enc.DecodeString(c.Value)
	if err != nil || len(raw) != 32 {
		return false
	}
	got, err := enc.DecodeString(r.PostForm.Get(CSRFField))
	if err != nil {
		return false
	}
	return hmac.Equal(got, k.csrfMAC(raw, r))
}
