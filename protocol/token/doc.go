// Package token implements Heartline login tokens (HL1 token version 1) and the per-session
// heartbeat keys derived from them.
//
// The site issues a token and its session key to an app at login (over HTTPS). Any gateway
// holding the cluster secrets verifies the token and re-derives the same session key from
// token + secret alone: no database, no coordination. The byte layout and the derivation are
// specified in ../PROTOCOL.md ("Token").
//
// What lives here:
//   - token.go:   the 43-byte binary form and its base64url text form (Parse, ParseText, Token);
//   - keyring.go: KeyRing (key id -> secret, current id for issuing, rotation), Issue, Verify,
//     Open (verify + derive the session key);
//   - keyfile.go: LoadKeyRing / ParseKeyRing, the documented text format for secrets;
//   - errors.go:  the typed errors (ErrMalformed, ErrUnknownKey, ErrBadMAC, ErrExpired ...).
//
// Verification is allocation-free and safe for concurrent use: the gateway calls
// KeyRing.Open for every HELLO. The clock is always a parameter (now time.Time), never read
// here.
//
// This package must not touch: sockets, files other than the key file it is asked to load,
// process state, or anything under gateway/, agent/ or site/.
package token
