package hl1

import "encoding/binary"

// EVENT layout: [vt:1][count:2] then count entries of
// [user_id:8][state:1][devices:1][last_seen_unix_ms:8][version:8].
const (
	EventSize = 26                         // one entry
	MaxEvents = (MaxFrame - 3) / EventSize // 157 entries per frame
)

// State is a user's presence in an EVENT.
type State uint8

// Presence states.
const (
	StateOffline State = 0
	StateAway    State = 1 // online, no device in the foreground
	StateActive  State = 2 // online, some device in the foreground
)

// Event is one presence change.
type Event struct {
	UserID     uint64
	State      State
	Devices    uint8  // online devices, saturating at 255
	LastSeenMS uint64 // Unix ms of the last valid heartbeat
	Version    uint64 // Consul ModifyIndex: apps ignore events with version <= the newest seen for this user
}

// AppendEvents appends an EVENT frame holding evs (1..MaxEvents, states 0..2) to dst.
// On error dst is returned unchanged.
func AppendEvents(dst []byte, evs []Event) ([]byte, error) {
	if len(evs) == 0 {
		return dst, ErrBadValue
	}
	if len(evs) > MaxEvents {
		return dst, ErrTooLarge
	}
	for _, e := range evs {
		if e.State > StateActive {
			return dst, ErrBadValue
		}
	}
	dst = append(dst, byte(TypeEvent))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(evs)))
	for _, e := range evs {
		dst = binary.BigEndian.AppendUint64(dst, e.UserID)
		dst = append(dst, byte(e.State), e.Devices)
		dst = binary.BigEndian.AppendUint64(dst, e.LastSeenMS)
		dst = binary.BigEndian.AppendUint64(dst, e.Version)
	}
	return dst, nil
}

// ParseEvents decodes an EVENT frame, appending its entries to dst (no allocation when
// dst has room for MaxEvents more).
func ParseEvents(frame []byte, dst []Event) ([]Event, error) {
	if _, err := checkType(frame, TypeEvent); err != nil {
		return dst, err
	}
	if len(frame) < 3 {
		return dst, ErrShort
	}
	n := int(binary.BigEndian.Uint16(frame[1:3]))
	if n == 0 {
		return dst, ErrBadValue
	}
	if n > MaxEvents {
		return dst, ErrTooLarge
	}
	if err := checkSize(frame, 3+n*EventSize); err != nil {
		return dst, err
	}
	orig := len(dst)
	for p := 3; p < len(frame); p += EventSize {
		e := frame[p : p+EventSize]
		if State(e[8]) > StateActive {
			return dst[:orig], ErrBadValue
		}
		dst = append(dst, Event{
			UserID:     binary.BigEndian.Uint64(e[0:8]),
			State:      State(e[8]),
			Devices:    e[9],
			LastSeenMS: binary.BigEndian.Uint64(e[10:18]),
			Version:    binary.BigEndian.Uint64(e[18:26]),
		})
	}
	return dst, nil
}
