package hl1

import (
	"encoding/binary"

	"github.com/dchest/siphash"
)

// TagSize is the length of every HL1 tag: SipHash-2-4 output, big-endian.
const TagSize = 8

// MACKey is a session key prepared for SipHash-2-4: k0 and k1 are the two little-endian
// halves of the 16-byte session key (token.SessionKey converts to [16]byte directly).
// The zero MACKey is a valid but public key: never use it for a real session.
type MACKey struct{ k0, k1 uint64 }

// NewMACKey prepares a 16-byte session key.
func NewMACKey(key [16]byte) MACKey {
	return MACKey{binary.LittleEndian.Uint64(key[0:8]), binary.LittleEndian.Uint64(key[8:16])}
}

// Sum returns SipHash-2-4 of b under k.
func (k MACKey) Sum(b []byte) uint64 { return siphash.Hash(k.k0, k.k1, b) }

// heartbeatMACInput is the 26-byte tag input of HEARTBEAT and BYE:
//
//	vt(1) | slot(4) | epoch(4) | seq_abs(8) | ts_abs(8) | status(1)
const heartbeatMACInput = 26

// HeartbeatTag returns the tag of a HEARTBEAT (t = TypeHeartbeat) or BYE (t = TypeBye)
// over the absolute values. A BATCH entry is a HEARTBEAT: t = TypeHeartbeat.
func HeartbeatTag(k MACKey, t Type, slot, epoch uint32, seq, ts uint64, active bool) uint64 {
	var in [heartbeatMACInput]byte
	in[0] = byte(t)
	binary.BigEndian.PutUint32(in[1:5], slot)
	binary.BigEndian.PutUint32(in[5:9], epoch)
	binary.BigEndian.PutUint64(in[9:17], seq)
	binary.BigEndian.PutUint64(in[17:25], ts)
	if active {
		in[25] = 1
	}
	return k.Sum(in[:])
}

// Tags are compared with ==: a single 64-bit compare takes the same time whatever the
// values, so it leaks nothing about how many bytes matched.
