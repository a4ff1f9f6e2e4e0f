package privacy

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"heartline/protocol/bitpack"
)

// A grant says which members' presence one viewer's app may subscribe to at a gateway, and
// on what basis, until when. The site seals it (AES-256-GCM under a key derived from the
// cluster secret); any gateway opens it with the same key file and no database. Sealing
// rather than only signing keeps the grant opaque to the app: the basis of each entry
// (none for a member who blocks the viewer) would otherwise tell the viewer who blocked
// them. Layout (PROTOCOL.md, "Presence grants"):
//
//	sealed    = ver(1)=1 | key_id(2) | nonce(12) | AES-256-GCM(key, nonce, plaintext, aad=ver|key_id)
//	plaintext = viewer(8) | issued_ms(8) | expires_ms(8) | subjects (bitpack sorted, strictly
//	            increasing, 1..MaxGrantSubjects) | basis (2 bits per subject, first subject in
//	            the high bits of the first byte; ceil(n/4) bytes; unused bits zero)
//	key       = HMAC-SHA256(secret[key_id], "heartline/privacy/grant\x00")

// GrantKeyLabel is the derivation label of the grant key (token.KeyRing.DeriveKey).
const GrantKeyLabel = "heartline/privacy/grant\x00"

// GrantVersion is byte 0 of a sealed grant.
const GrantVersion = 1

// MaxGrantSubjects bounds one grant (the gateway's default per-connection subscription limit).
const MaxGrantSubjects = 1000

// MaxSealedGrant bounds a sealed grant's size (it travels in one HL1 frame).
const MaxSealedGrant = 4000

const (
	grantHeader = 1 + 2 + 12
	grantTag    = 16
	grantFixed  = 8 + 8 + 8
)

// Grant errors. A gateway counts them and answers CLOSE; the site never produces them.
var (
	ErrGrantMalformed  = errors.New("privacy: grant is malformed (wrong version, length or encoding)")
	ErrGrantUnknownKey = errors.New("privacy: grant's key id is not in this key ring (rotate keys on the gateways first)")
	ErrGrantBadSeal    = errors.New("privacy: grant failed authentication (forged, corrupted or sealed under another key)")
	ErrGrantExpired    = errors.New("privacy: grant expired: fetch a new one from the site (POST /api/grant)")
	ErrGrantTooLarge   = errors.New("privacy: grant names too many members: ask for at most 1000 per grant")
)

// Grant is the content of a sealed grant.
type Grant struct {
	Viewer    uint64
	IssuedMS  int64
	ExpiresMS int64
	Subjects  []uint64 // strictly increasing
	Basis     []Basis  // Basis[i] is for Subjects[i]
}

// BasisOf returns the basis of subject (BasisNone when the grant does not name it).
func (g *Grant) BasisOf(subject uint64) Basis {
	if i, ok := slices.BinarySearch(g.Subjects, subject); ok {
		return g.Basis[i]
	}
	return BasisNone
}

// Keys gives the grant keys: Current for sealing, Key(id) for opening.
// token.KeyRing satisfies it through RingKeys.
type Keys interface {
	Current() (uint16, bool)
	DeriveKey(id uint16, label string) ([32]byte, bool)
}

func aead(keys Keys, id uint16) (cipher.AEAD, error) {
	k, ok := keys.DeriveKey(id, GrantKeyLabel)
	if !ok {
		return nil, ErrGrantUnknownKey
	}
	b, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// Seal encodes and seals g under the current key, appending to dst.
func Seal(dst []byte, keys Keys, g *Grant) ([]byte, error) {
	n := len(g.Subjects)
	if n == 0 || n != len(g.Basis) {
		return dst, fmt.Errorf("privacy: a grant needs 1..%d subjects, each with a basis (got %d subjects, %d bases)", MaxGrantSubjects, n, len(g.Basis))
	}
	if n > MaxGrantSubjects {
		return dst, ErrGrantTooLarge
	}
	for i := 1; i < n; i++ {
		if g.Subjects[i] <= g.Subjects[i-1] {
			return dst, errors.New("privacy: grant subjects must be strictly increasing")
		}
	}
	id, ok := keys.Current()
	if !ok {
		return dst, errors.New("privacy: the key ring has no current key: mark one line of the key file `current`")
	}
	a, err := aead(keys, id)
	if err != nil {
		return dst, err
	}
	pt := make([]byte, 0, grantFixed+4*n+n/4+8)
	pt = binary.BigEndian.AppendUint64(pt, g.Viewer)
	pt = binary.BigEndian.AppendUint64(pt, uint64(g.IssuedMS))
	pt = binary.BigEndian.AppendUint64(pt, uint64(g.ExpiresMS))
	pt, _ = bitpack.AppendSorted(pt, g.Subjects)
	bits := make([]byte, (n+3)/4)
	for i, b := range g.Basis {
		if b > BasisMatch {
			return dst, fmt.Errorf("privacy: basis %d is not none, member or match", b)
		}
		bits[i/4] |= byte(b) << (6 - 2*(i%4))
	}
	pt = append(pt, bits...)
	orig := len(dst)
	dst = append(dst, GrantVersion, byte(id>>8), byte(id))
	var nonce [12]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return dst[:orig], err
	}
	dst = append(dst, nonce[:]...)
	dst = a.Seal(dst, nonce[:], pt, dst[orig:orig+3])
	if len(dst)-orig > MaxSealedGrant {
		return dst[:orig], ErrGrantTooLarge
	}
	return dst, nil
}

// Open authenticates and decodes a sealed grant; it fails on anything but a grant sealed
// under a key of keys that is unexpired at nowMS. Memory is bounded by the input's size.
func Open(keys Keys, sealed []byte, nowMS int64) (*Grant, error) {
	if len(sealed) < grantHeader+grantTag+grantFixed || len(sealed) > MaxSealedGrant || sealed[0] != GrantVersion {
		return nil, ErrGrantMalformed
	}
	a, err := aead(keys, binary.BigEndian.Uint16(sealed[1:3]))
	if err != nil {
		return nil, err
	}
	pt, err := a.Open(nil, sealed[3:grantHeader], sealed[grantHeader:], sealed[:3])
	if err != nil {
		return nil, ErrGrantBadSeal
	}
	g, err := decodePlain(pt)
	if err != nil {
		return nil, err
	}
	if nowMS >= g.ExpiresMS {
		return nil, ErrGrantExpired
	}
	return g, nil
}

func decodePlain(pt []byte) (*Grant, error) {
	if len(pt) < grantFixed {
		return nil, ErrGrantMalformed
	}
	g := &Grant{Viewer: binary.BigEndian.Uint64(pt), IssuedMS: int64(binary.BigEndian.Uint64(pt[8:])), ExpiresMS: int64(binary.BigEndian.Uint64(pt[16:]))}
	ids, used, err := bitpack.DecodeSorted(nil, pt[grantFixed:], MaxGrantSubjects)
	if err != nil || len(ids) == 0 {
		return nil, ErrGrantMalformed
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] == ids[i-1] {
			return nil, ErrGrantMalformed
		}
	}
	rest := pt[grantFixed+used:]
	n := len(ids)
	if len(rest) != (n+3)/4 {
		return nil, ErrGrantMalformed
	}
	g.Subjects, g.Basis = ids, make([]Basis, n)
	for i := range n {
		b := Basis(rest[i/4] >> (6 - 2*(i%4)) & 3)
		if b > BasisMatch {
			return nil, ErrGrantMalformed
		}
		g.Basis[i] = b
	}
	if n%4 != 0 && rest[len(rest)-1]&(0xff>>(2*(n%4))) != 0 {
		return nil, ErrGrantMalformed
	}
	return g, nil
}
