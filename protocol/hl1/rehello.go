package hl1

import "encoding/binary"

// RehelloSize is the size of a REHELLO frame, smaller than every frame it may answer
// (HEARTBEAT/BYE 17 bytes, a BATCH entry 12 bytes, HELLO 66 bytes):
//
//	[vt:1][slot:4][reason:1]
const RehelloSize = 6

// RehelloReason says why the gateway wants a new HELLO.
type RehelloReason uint8

// REHELLO reasons. Clients treat any reason they do not know like RehelloUnknownSlot.
const (
	RehelloUnknownSlot RehelloReason = 1 // no session in that slot (gateway restarted, slot reused)
	RehelloExpired     RehelloReason = 2 // the session or its token expired: log in again first if the token has
	RehelloFull        RehelloReason = 3 // too many sessions: back off, try the next gateway on the ring
)

// Rehello is a decoded REHELLO frame. It is unauthenticated by design (PROTOCOL.md).
type Rehello struct {
	Slot   uint32
	Reason RehelloReason
}

// AppendRehello appends the 6-byte frame to dst.
func AppendRehello(dst []byte, r Rehello) []byte {
	dst = append(dst, byte(TypeRehello))
	dst = binary.BigEndian.AppendUint32(dst, r.Slot)
	return append(dst, byte(r.Reason))
}

// ParseRehello decodes a REHELLO. Reason 0 is invalid (ErrBadValue).
func ParseRehello(frame []byte) (Rehello, error) {
	if err := checkFixed(frame, TypeRehello, RehelloSize); err != nil {
		return Rehello{}, err
	}
	if frame[5] == 0 {
		return Rehello{}, ErrBadValue
	}
	return Rehello{Slot: binary.BigEndian.Uint32(frame[1:5]), Reason: RehelloReason(frame[5])}, nil
}
