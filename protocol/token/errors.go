package token

import "errors"

// Errors returned by Parse, ParseText, Verify and Open. They are sentinels (compare with
// errors.Is) so the hot path never allocates an error value; each message says what to do.
var (
	// ErrMalformed: wrong length, wrong version byte or invalid base64url text.
	ErrMalformed = errors.New("token: malformed (want 43 bytes / 58 base64url characters, version 1): the app must log in again at the site to get a fresh token")
	// ErrUnknownKey: the token names a key id this key ring does not hold.
	ErrUnknownKey = errors.New("token: unknown key id: the token was issued with a secret this server does not have; check that every site and gateway loads the same key file, or log in again")
	// ErrBadMAC: the MAC does not match; the token was altered or forged.
	ErrBadMAC = errors.New("token: MAC mismatch (altered or forged token, or the secret for its key id differs between site and gateway): log in again; if it persists, compare key files")
	// ErrExpired: the token's expiry is at or before now.
	ErrExpired = errors.New("token: expired: the app must log in again at the site")
	// ErrNoCurrentKey: Issue was called on a key ring without a current key.
	ErrNoCurrentKey = errors.New("token: key ring has no current key: mark one line of the key file `current` (or call SetCurrent)")
	// ErrWeakSecret: a secret shorter than MinSecretLen bytes.
	ErrWeakSecret = errors.New("token: secret too short: use at least 32 random bytes (64 hex characters), e.g. `openssl rand -hex 32`")
)
