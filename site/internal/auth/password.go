package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// HashParams are argon2id's cost parameters.
type HashParams struct {
	Time    uint32 // passes
	Memory  uint32 // KiB
	Threads uint8
}

// DefaultHashParams follow OWASP's argon2id minimum (19 MiB, 2 passes, 1 lane): ~30 ms per
// hash on one core. Login rate limiting bounds how often an attacker can make us pay it.
var DefaultHashParams = HashParams{Time: 2, Memory: 19 * 1024, Threads: 1}

// ErrBadHash means a stored hash is not in the format HashPassword writes.
var ErrBadHash = errors.New("auth: stored password hash is malformed (want $argon2id$v=19$m=…,t=…,p=…$salt$hash)")

const (
	saltLen = 16
	keyLen  = 32
	// maxMemory (KiB) bounds the memory a stored hash may ask for (a corrupted file must not OOM us).
	maxMemory = 256 << 10
)

var b64 = base64.RawStdEncoding.Strict() // strict: one text per hash (no non-zero padding bits)

// HashPassword returns the PHC-format argon2id hash of password with a fresh random salt.
func HashPassword(password string, p HashParams) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches the encoded hash, in constant time
// with respect to the hash contents.
func CheckPassword(encoded, password string) (bool, error) {
	p, salt, want, err := parseHash(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// maxHashLen bounds the encoded hash accepted by parseHash.
const maxHashLen = 256

// parseHash decodes "$argon2id$v=19$m=…,t=…,p=…$salt$hash" with bounded parameters, so a
// corrupted or hostile members file can neither panic nor make a login allocate gigabytes.
func parseHash(encoded string) (p HashParams, salt, key []byte, err error) {
	// The base64 decoder skips CR and LF; a stored hash has neither, so one text is one hash.
	if len(encoded) > maxHashLen || strings.ContainsAny(encoded, "\r\n") {
		return p, nil, nil, ErrBadHash
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return p, nil, nil, ErrBadHash
	}
	var m, t, th uint64
	var rest string
	if n, _ := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d%s", &m, &t, &th, &rest); n != 3 ||
		parts[3] != fmt.Sprintf("m=%d,t=%d,p=%d", m, t, th) ||
		m < 8*th || m > maxMemory || t == 0 || t > 16 || th == 0 || th > 16 {
		return p, nil, nil, ErrBadHash
	}
	p = HashParams{Time: uint32(t), Memory: uint32(m), Threads: uint8(th)}
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) < 8 || len(salt) > 64 {
		return p, nil, nil, ErrBadHash
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, ErrBadHash
	}
	return p, salt, key, nil
}
