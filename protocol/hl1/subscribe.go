package hl1

import (
	"encoding/binary"

	"heartline/protocol/bitpack"
)

// SUBSCRIBE / UNSUBSCRIBE layout (TCP only, after HELLO/WELCOME):
//
//	[vt:1][count:2][user ids: bitpack sorted, strictly increasing]
//
// Subscriptions are additive. An app with more ids than one frame holds sends several
// frames. The gateway's per-connection limit (default 1000) is enforced with CLOSE reason
// CloseTooManySubscribed.

// MaxSubscribeIDs is the most user ids one SUBSCRIBE or UNSUBSCRIBE frame may carry
// (receivers reject more with ErrTooLarge; it bounds the decoder's memory).
const MaxSubscribeIDs = 4096

// Subscription is a decoded SUBSCRIBE or UNSUBSCRIBE frame. Reuse one per connection so
// that decoding does not allocate.
type Subscription struct {
	Unsubscribe bool     // UNSUBSCRIBE (0x18) rather than SUBSCRIBE (0x17)
	UserIDs     []uint64 // strictly increasing
}

// Type returns TypeUnsubscribe or TypeSubscribe.
func (s *Subscription) Type() Type {
	if s.Unsubscribe {
		return TypeUnsubscribe
	}
	return TypeSubscribe
}

// AppendSubscribe appends the SUBSCRIBE or UNSUBSCRIBE frame of s to dst. It needs
// 1..MaxSubscribeIDs strictly increasing ids (ErrBadValue, ErrTooLarge, ErrNotSorted) and
// fails with ErrTooLarge if the encoding exceeds MaxFrame. On error dst is unchanged.
func AppendSubscribe(dst []byte, s *Subscription) ([]byte, error) {
	if err := checkIDs(s.UserIDs, MaxSubscribeIDs, false); err != nil {
		return dst, err
	}
	orig := len(dst)
	dst = append(dst, byte(s.Type()))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s.UserIDs)))
	dst, err := bitpack.AppendSorted(dst, s.UserIDs)
	if err != nil {
		return dst[:orig], ErrNotSorted // unreachable after checkIDs
	}
	if len(dst)-orig > MaxFrame {
		return dst[:orig], ErrTooLarge
	}
	return dst, nil
}

// ParseSubscribe decodes a SUBSCRIBE or UNSUBSCRIBE frame into into (its UserIDs slice is
// reused: no allocation once it has capacity MaxSubscribeIDs). On error into.UserIDs is
// left empty.
func ParseSubscribe(frame []byte, into *Subscription) error {
	into.UserIDs = into.UserIDs[:0]
	t, err := checkType(frame, TypeSubscribe, TypeUnsubscribe)
	if err != nil {
		return err
	}
	n, body, err := countHeader(frame, MaxSubscribeIDs)
	if err != nil {
		return err
	}
	ids, used, err := decodeIDs(into.UserIDs, body, n, false)
	if err != nil {
		return err
	}
	if used != len(body) {
		return ErrTrailing
	}
	into.Unsubscribe = t == TypeUnsubscribe
	into.UserIDs = ids
	return nil
}
