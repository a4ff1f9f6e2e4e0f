package conformance

import (
	"testing"
	"time"

	"heartline/protocol/hl1"
	"heartline/protocol/token"
)

// refusedHellos are HELLOs the gateway must refuse for authentication (UDP: drop; TCP:
// CLOSE 3), each sealed with the key the sender would hold: token malformed, unknown key,
// expired, forged token MAC, tag invalid, client clock a day off. The replayed HELLO needs
// a first, accepted copy: the rows send it themselves.
func (s *suite) refusedHellos(t testing.TB) []namedFrame {
	t.Helper()
	c := s.newCreds(t)
	seal := func(tok [token.Size]byte, key hl1.MACKey, clientMS uint64) []byte {
		return hl1.AppendHello(nil, hl1.Hello{Flags: hl1.FlagActive, ClientTimeMS: clientMS, Nonce: 7, Token: tok}.Seal(key))
	}
	now := uint64(time.Now().UnixMilli())

	malformed := c.tok.Bytes()
	malformed[0] = 2 // token version
	unknownKey := c.tok
	unknownKey.KeyID = s.unusedKeyID()
	forgedMAC := c.tok.Bytes()
	forgedMAC[token.Size-1] ^= 1
	badTag, _ := c.helloFrame(hl1.FlagActive)
	badTag[len(badTag)-1] ^= 1

	expired, err := s.Keys.Sign(token.Token{KeyID: c.tok.KeyID, UserID: c.tok.UserID, DeviceID: c.tok.DeviceID + 1<<30,
		Expiry: uint32(time.Now().Add(-time.Hour).Unix()), Nonce: 99})
	if err != nil {
		t.Fatal(err)
	}
	expiredKey, err := s.Keys.DeriveSessionKey(expired)
	if err != nil {
		t.Fatal(err)
	}
	return []namedFrame{
		{"token malformed (version 2)", seal(malformed, c.key, now)},
		{"token unknown key id", seal(unknownKey.Bytes(), c.key, now)},
		{"token expired", seal(expired.Bytes(), hl1.NewMACKey(expiredKey), now)},
		{"token MAC forged", seal(forgedMAC, c.key, now)},
		{"tag invalid", badTag},
		{"client clock a day behind", seal(c.tok.Bytes(), c.key, now-24*3600*1000)},
	}
}

// unusedKeyID is a key id the target's ring does not hold.
func (s *suite) unusedKeyID() uint16 {
	held := map[uint16]bool{}
	for _, id := range s.Keys.IDs() {
		held[id] = true
	}
	id := uint16(65535)
	for held[id] {
		id--
	}
	return id
}
