package hl1

import (
	"encoding/binary"
	"time"
)

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
	// RehelloDraining: the gateway is being drained (restart, maintenance): say HELLO to the
	// next gateway in the rendezvous order and skip this one for DrainAvoid. Keep the
	// session here until welcomed there (make before break): the gateway goes on accepting
	// its heartbeats, and reports the member online, until the session expires.
	RehelloDraining RehelloReason = 4
	// RehelloUnavailable: the gateway cannot publish presence right now (its agent cannot
	// reach the Consul servers: a partition of its host, or a Consul outage). It answers
	// HELLOs only (slot 0); its live sessions stay. Say HELLO to the next gateway in the
	// rendezvous order and skip this one for UnavailableAvoid; when every gateway answers
	// so (a Consul outage), keep retrying them with backoff.
	RehelloUnavailable RehelloReason = 5
)

// UnavailableAvoid is how long a client keeps away from a gateway that answered REHELLO 5
// (unless no other gateway answers). Short: the gateway says it again as long as it is
// cut off, and most cut-offs (a partition, a Consul election) last seconds.
const UnavailableAvoid = 15 * time.Second

// DrainAvoid is how long a client keeps away from a gateway that answered REHELLO 4 (unless
// no other gateway answers): long enough for a restart, short enough that the gateway's
// own members come back to it soon after (the reference client also moves back at its
// next ConfirmEvery instant once the site lists the gateway as passing again).
const DrainAvoid = 2 * time.Minute

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
