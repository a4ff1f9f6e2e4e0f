package token

import (
	"encoding/base64"
	"encoding/binary"
	"time"
)

// Binary layout of a version-1 token (all integers big-endian):
//
//	[ver:1 = 1][key_id:2][user_id:8][device_id:4][expiry_unix_s:4][nonce:8][mac:16]
const (
	Version        = 1  // the only token version this package issues and accepts
	Size           = 43 // bytes of a binary token
	TextSize       = 58 // characters of its base64url (unpadded) text form
	BodySize       = 27 // bytes covered by the MAC: token[0:27]
	MACSize        = 16 // truncated HMAC-SHA256
	SessionKeySize = 16 // bytes of the per-session heartbeat key
)

// Token is a decoded login token. The zero Token is not valid.
type Token struct {
	KeyID    uint16   // which cluster secret signed it (see KeyRing)
	UserID   uint64   // the member
	DeviceID uint32   // the member's device (a session is (UserID, DeviceID))
	Expiry   uint32   // Unix seconds; the token is valid while now < Expiry
	Nonce    uint64   // random per issue: two logins never share a session key
	MAC      [16]byte // HMAC-SHA256(secret, "heartline/hl1/token\x00" || body)[:16]
}

// SessionKey is the 16-byte heartbeat key of one session (the SipHash key of HL1 tags).
// It converts directly to the [16]byte that hl1.NewMACKey takes.
type SessionKey [SessionKeySize]byte

// ExpiresAt returns Expiry as a time.Time.
func (t Token) ExpiresAt() time.Time { return time.Unix(int64(t.Expiry), 0) }

// Parse decodes a binary token. It checks only the structure (length and version byte);
// use KeyRing.Verify or KeyRing.Open to authenticate it.
func Parse(b []byte) (Token, error) {
	if len(b) != Size || b[0] != Version {
		return Token{}, ErrMalformed
	}
	t := Token{
		KeyID:    binary.BigEndian.Uint16(b[1:3]),
		UserID:   binary.BigEndian.Uint64(b[3:11]),
		DeviceID: binary.BigEndian.Uint32(b[11:15]),
		Expiry:   binary.BigEndian.Uint32(b[15:19]),
		Nonce:    binary.BigEndian.Uint64(b[19:27]),
	}
	copy(t.MAC[:], b[BodySize:Size])
	return t, nil
}

// Append appends the 43-byte binary form of t to dst.
func (t Token) Append(dst []byte) []byte {
	dst = appendBody(dst, t)
	return append(dst, t.MAC[:]...)
}

// Bytes returns the binary form as an array (no allocation).
func (t Token) Bytes() [Size]byte {
	var b [Size]byte
	t.Append(b[:0])
	return b
}

func appendBody(dst []byte, t Token) []byte {
	dst = append(dst, Version)
	dst = binary.BigEndian.AppendUint16(dst, t.KeyID)
	dst = binary.BigEndian.AppendUint64(dst, t.UserID)
	dst = binary.BigEndian.AppendUint32(dst, t.DeviceID)
	dst = binary.BigEndian.AppendUint32(dst, t.Expiry)
	return binary.BigEndian.AppendUint64(dst, t.Nonce)
}

// String returns the base64url (unpadded) text form, as carried in JSON and HTTP.
func (t Token) String() string {
	b := t.Bytes()
	return textEncoding.EncodeToString(b[:])
}

// MarshalText implements encoding.TextMarshaler (base64url, unpadded), so a Token in a
// JSON document is its text form.
func (t Token) MarshalText() ([]byte, error) {
	b := t.Bytes()
	out := make([]byte, TextSize)
	textEncoding.Encode(out, b[:])
	return out, nil
}

// UnmarshalText implements encoding.TextUnmarshaler; see ParseText.
func (t *Token) UnmarshalText(text []byte) error {
	v, err := parseText(text)
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// textEncoding is strict so that exactly one text maps to each token (the 4 unused low
// bits of the last character must be zero).
var textEncoding = base64.RawURLEncoding.Strict()

// ParseText decodes the base64url (unpadded) text form. Like Parse it checks structure only.
func ParseText(s string) (Token, error) {
	if len(s) != TextSize {
		return Token{}, ErrMalformed
	}
	return parseText([]byte(s))
}

func parseText(text []byte) (Token, error) {
	if len(text) != TextSize {
		return Token{}, ErrMalformed
	}
	var b [Size]byte
	n, err := textEncoding.Decode(b[:], text)
	if err != nil || n != Size {
		return Token{}, ErrMalformed
	}
	return Parse(b[:])
}
