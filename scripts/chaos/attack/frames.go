// Package attack builds hostile HL1 input and sends it at a gateway: forged MACs, replayed
// frames, truncated and oversize datagrams, HELLO floods carrying invalid, expired and
// wrong-key tokens from many source addresses, and TCP abuse (slowloris, garbage, oversize
// length prefixes). It only produces traffic and counts what it sent; judging the gateway
// (drop counters, goodput, memory) is the caller's job.
//
// It uses protocol/hl1 and protocol/token to build frames and benchmarks/mmsg to send them
// in batches; it must not import gateway/ or agent/.
package attack

import (
	"encoding/binary"
	"math/rand/v2"
	"time"

	"heartline/protocol/hl1"
	"heartline/protocol/token"
)

// Kind is one sort of hostile datagram.
type Kind int

// The kinds, in the order of Kinds.
const (
	ForgedMAC     Kind = iota // a real session's next heartbeat with a guessed tag
	Replay                    // a captured legit heartbeat sent again unchanged
	RandomSlot                // a well-formed heartbeat for a slot nobody holds
	Truncated                 // the first 1..16 bytes of a heartbeat
	Oversize                  // 5000 bytes (above hl1.MaxFrame)
	Garbage                   // 17..200 random bytes
	HelloBadToken             // HELLO whose token bytes are random
	HelloExpired              // HELLO with a correctly signed but expired token
	HelloWrongKey             // HELLO with a token signed by a secret the gateway does not have
	HelloBadTag               // HELLO with a valid token but a tag not made with its session key
	nKinds
)

// Kinds lists every kind.
var Kinds = func() []Kind {
	out := make([]Kind, nKinds)
	for i := range out {
		out[i] = Kind(i)
	}
	return out
}()

func (k Kind) String() string {
	return [...]string{"forged_mac", "replay", "random_slot", "truncated", "oversize", "garbage",
		"hello_bad_token", "hello_expired", "hello_wrong_key", "hello_bad_tag"}[k]
}

// Material is what the attacker knows: captured legit frames (an on-path observer) and
// the keys to mint tokens it should not be able to use.
type Material struct {
	Captured [][hl1.HeartbeatSize]byte // legit heartbeats seen on the wire
	Expired  [token.Size]byte          // signed by the real secret, expired
	WrongKey [token.Size]byte          // same key id, another secret
	Valid    [token.Size]byte          // a real token whose session key the attacker lacks

	pool [nKinds][][]byte // pre-built datagrams (Prepare), so a flood spends no CPU building them
}

// Prepare pre-builds n datagrams of every kind; Pick then returns one of them. A flood
// sender on a small machine must not spend its CPU generating random bytes.
func (m *Material) Prepare(n int, rng *rand.Rand) {
	for _, k := range Kinds {
		m.pool[k] = make([][]byte, n)
		for i := range m.pool[k] {
			m.pool[k][i] = m.Append(nil, k, rng)
		}
	}
}

// Pick returns a pre-built datagram of kind k (Prepare first), or builds one into dst.
func (m *Material) Pick(dst []byte, k Kind, rng *rand.Rand) []byte {
	if p := m.pool[k]; len(p) > 0 {
		return p[rng.IntN(len(p))]
	}
	return m.Append(dst, k, rng)
}

// NewMaterial mints the tokens. real signs the expired and valid tokens (the attacker
// obtained them, e.g. from an old device); the wrong-key token is signed with a fresh secret.
func NewMaterial(real *token.KeyRing, captured [][hl1.HeartbeatSize]byte) (Material, error) {
	m := Material{Captured: captured}
	t, _, err := real.Issue(token.Claims{UserID: 42, DeviceID: 1, Expiry: time.Now().Add(-time.Hour)})
	if err != nil {
		return m, err
	}
	m.Expired = t.Bytes()
	t, _, err = real.Issue(token.Claims{UserID: 43, DeviceID: 1, Expiry: time.Now().Add(time.Hour)})
	if err != nil {
		return m, err
	}
	m.Valid = t.Bytes()
	id, _ := real.Current()
	wrong := token.NewKeyRing()
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(rand.Uint32())
	}
	if err := wrong.Add(id, secret); err != nil {
		return m, err
	}
	_ = wrong.SetCurrent(id)
	t, _, err = wrong.Issue(token.Claims{UserID: 44, DeviceID: 1, Expiry: time.Now().Add(time.Hour)})
	if err != nil {
		return m, err
	}
	m.WrongKey = t.Bytes()
	return m, nil
}

// Append appends one datagram of kind k to dst.
func (m *Material) Append(dst []byte, k Kind, rng *rand.Rand) []byte {
	switch k {
	case ForgedMAC, Replay, Truncated:
		if len(m.Captured) == 0 {
			return appendRandomSlot(dst, rng)
		}
		c := m.Captured[rng.IntN(len(m.Captured))]
		switch k {
		case ForgedMAC:
			// The next few seqs of a real session (so the replay check passes) with a tag the
			// attacker had to guess.
			h, err := hl1.ParseHeartbeat(c[:])
			if err != nil {
				return appendRandomSlot(dst, rng)
			}
			h.Word = hl1.MakeWord(h.Word.TS16()+uint16(rng.IntN(100)), h.Word.Active(), (h.Word.Seq15()+uint16(len(m.Captured))+1+uint16(rng.IntN(32)))&(1<<hl1.SeqBits-1))
			h.Tag = rng.Uint64()
			return hl1.AppendHeartbeat(dst, h)
		case Truncated:
			return append(dst, c[:1+rng.IntN(hl1.HeartbeatSize-1)]...)
		}
		return append(dst, c[:]...)
	case RandomSlot:
		return appendRandomSlot(dst, rng)
	case Oversize:
		n := len(dst)
		dst = append(dst, make([]byte, 5000)...)
		dst[n] = byte(hl1.TypeHeartbeat)
		return dst
	case Garbage:
		n := 17 + rng.IntN(184)
		for i := 0; i < n; i++ {
			dst = append(dst, byte(rng.Uint32()))
		}
		return dst
	case HelloBadToken, HelloExpired, HelloWrongKey, HelloBadTag:
		h := hl1.Hello{Flags: hl1.FlagActive, ClientTimeMS: uint64(time.Now().UnixMilli()), Nonce: rng.Uint32(), Tag: rng.Uint64()}
		switch k {
		case HelloBadToken:
			for i := range h.Token {
				h.Token[i] = byte(rng.Uint32())
			}
			h.Token[0] = token.Version
		case HelloExpired:
			h.Token = m.Expired
		case HelloWrongKey:
			h.Token = m.WrongKey
		case HelloBadTag:
			h.Token = m.Valid
		}
		return hl1.AppendHello(dst, h)
	}
	return dst
}

func appendRandomSlot(dst []byte, rng *rand.Rand) []byte {
	b := hl1.Beat{Slot: rng.Uint32() | 1<<31, Epoch: rng.Uint32(), Seq: 1, TS: 1, Active: true}
	var k [16]byte
	binary.LittleEndian.PutUint64(k[:], rng.Uint64())
	return hl1.AppendHeartbeat(dst, b.Seal(hl1.NewMACKey(k)))
}
