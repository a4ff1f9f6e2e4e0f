// Package auth owns the site's credentials handling: password hashing (argon2id from
// golang.org/x/crypto, PHC string format), session cookies (carrying a server-side session's
// token with an HMAC tag; the session itself lives in site/store), CSRF tokens bound to a
// per-browser cookie, and login rate limiting per IP and per account with bounded memory.
//
// Every function that depends on time takes now as a parameter; nothing here reads the clock.
//
// This package must not touch: templates, the members store, Consul, or anything under
// gateway/ or agent/. Heartbeat credentials are protocol/token's business.
package auth
