package hl1

import (
	"encoding/binary"
	"time"

	"heartline/protocol/token"
)

// HELLO layout: [vt:1][flags:1][client_time_ms:8][nonce:4][token_len:1][token:N][tag:8],
// N = 43 for token version 1.
const (
	helloFixed = 1 + 1 + 8 + 4 + 1 // bytes before the token
	// HelloSize is the size of a HELLO carrying a version-1 token.
	HelloSize = helloFixed + token.Size + TagSize // 66

	// FlagActive is HELLO flags bit 0: the session starts active (foreground). The other
	// bits are reserved: v1 senders set them to 0, receivers ignore them (they are covered
	// by the tag, so they cannot be altered in flight).
	FlagActive = 0x01
	// FlagLogout is HELLO flags bit 1: end the (user, device) session this gateway holds,
	// whatever its slot, and start none; nothing is answered. A client logging out sends it
	// to a gateway it moved away from: a BYE there names the slot it knew, and that slot is
	// gone if a HELLO it gave up on re-found the session under a new one. A gateway that
	// predates the flag treats it as a plain HELLO (the session stays until it expires, as
	// it would have anyway).
	FlagLogout = 0x02

	// DefaultMaxClockSkew is the default bound on |client_time - server_time| for HELLO.
	DefaultMaxClockSkew = 5 * time.Minute
)

// Hello is a decoded HELLO frame. The token is copied out of the frame (43 bytes), so the
// frame buffer can be reused at once.
type Hello struct {
	Flags        uint8
	ClientTimeMS uint64 // client's Unix time in milliseconds
	Nonce        uint32 // random per HELLO; WELCOME's tag covers it
	Token        [token.Size]byte
	Tag          uint64 // SipHash(session key, all preceding bytes)
}

// Active reports flags bit 0.
func (h Hello) Active() bool { return h.Flags&FlagActive != 0 }

// Logout reports flags bit 1 (FlagLogout).
func (h Hello) Logout() bool { return h.Flags&FlagLogout != 0 }

// Seal returns h with Tag computed under the session key that came with its token.
func (h Hello) Seal(key MACKey) Hello {
	h.Tag = h.tag(key)
	return h
}

// Verify reports whether h.Tag proves the sender holds the token's session key. The
// gateway's order (PROTOCOL.md, HELLO): the checks that cost no MAC (ParseHello,
// token.KeyRing.Precheck, CheckClock), its rate limits, then token.KeyRing.Open (which
// yields the key), then Verify.
func (h Hello) Verify(key MACKey) bool { return h.tag(key) == h.Tag }

func (h Hello) tag(key MACKey) uint64 {
	var buf [HelloSize]byte
	b := appendHelloBody(buf[:0], h)
	return key.Sum(b)
}

// CheckClock returns ErrClockSkew if client_time is more than maxSkew away from now (a
// negative maxSkew counts as 0).
func (h Hello) CheckClock(now time.Time, maxSkew time.Duration) error {
	maxSkew = max(maxSkew, 0)
	server := now.UnixMilli()
	if server < 0 {
		server = 0
	}
	s, c := uint64(server), h.ClientTimeMS
	diff := c - s
	if s > c {
		diff = s - c
	}
	if diff > uint64(maxSkew.Milliseconds()) {
		return ErrClockSkew
	}
	return nil
}

func appendHelloBody(dst []byte, h Hello) []byte {
	dst = append(dst, byte(TypeHello), h.Flags)
	dst = binary.BigEndian.AppendUint64(dst, h.ClientTimeMS)
	dst = binary.BigEndian.AppendUint32(dst, h.Nonce)
	dst = append(dst, token.Size)
	return append(dst, h.Token[:]...)
}

// AppendHello appends the 66-byte frame of h (use h.Seal(key) first) to dst.
func AppendHello(dst []byte, h Hello) []byte {
	dst = appendHelloBody(dst, h)
	return binary.BigEndian.AppendUint64(dst, h.Tag)
}

// ParseHello decodes a HELLO. It checks the structure only (token_len must be 43); the
// token and the tag are checked by the caller as described at Verify.
func ParseHello(frame []byte) (Hello, error) {
	if _, err := checkType(frame, TypeHello); err != nil {
		return Hello{}, err
	}
	if len(frame) < helloFixed {
		return Hello{}, ErrShort
	}
	if frame[helloFixed-1] != token.Size {
		return Hello{}, ErrBadLength
	}
	if err := checkSize(frame, HelloSize); err != nil {
		return Hello{}, err
	}
	h := Hello{
		Flags:        frame[1],
		ClientTimeMS: binary.BigEndian.Uint64(frame[2:10]),
		Nonce:        binary.BigEndian.Uint32(frame[10:14]),
		Tag:          binary.BigEndian.Uint64(frame[HelloSize-TagSize:]),
	}
	copy(h.Token[:], frame[helloFixed:helloFixed+token.Size])
	return h, nil
}
