package auth

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// FuzzParseHash: the stored-hash decoder never panics, accepts only bounded parameters, and
// whatever it accepts re-encodes to the same text.
func FuzzParseHash(f *testing.F) {
	good, _ := HashPassword("pw", HashParams{Time: 1, Memory: 64, Threads: 1})
	f.Add(good)
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$argon2id$v=19$m=99999999999,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA$trailing")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := parseHash(s)
		if err != nil {
			if err != ErrBadHash {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if p.Memory > maxMemory || p.Time > 16 || p.Threads == 0 || len(salt) > 64 || len(key) > 64 {
			t.Fatalf("unbounded parameters accepted: %+v", p)
		}
		re := fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
		if re != s {
			t.Fatalf("accepted %q but it re-encodes as %q", s, re)
		}
	})
}

// FuzzSessionCookie: any cookie value is rejected or names the token it was signed for.
func FuzzSessionCookie(f *testing.F) {
	k, _ := NewKeys(bytes.Repeat([]byte{1}, 32), true)
	now := time.Unix(1_800_000_000, 0)
	w := &headerWriter{h: http.Header{}}
	k.SetSession(w, "tok-42", now.Add(time.Hour), now)
	c, _ := http.ParseSetCookie(w.h.Get("Set-Cookie"))
	f.Add(c.Value)
	f.Add("")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, v string) {
		r, _ := http.NewRequest("GET", "/", nil)
		r.AddCookie(&http.Cookie{Name: k.SessionName(), Value: v})
		sent, _ := r.Cookie(k.SessionName()) // net/http drops bytes a cookie may not hold
		tok, err := k.Session(r)
		if err == nil && (tok != "tok-42" || sent.Value != c.Value) {
			t.Fatalf("forged cookie %q accepted as session %q", v, tok)
		}
	})
}

type headerWriter struct{ h http.Header }

func (w *headerWriter) Header() http.Header         { return w.h }
func (w *headerWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *headerWriter) WriteHeader(int)             {}
