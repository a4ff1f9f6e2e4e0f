package hl1

// GRANT layout (TCP only, after HELLO/WELCOME, before or between SUBSCRIBEs):
//
//	[vt:1][sealed grant: 1..MaxFrame-1 bytes]
//
// The sealed grant is opaque here: protocol/privacy defines and opens it (PROTOCOL.md,
// "Presence grants"). A later GRANT replaces the connection's grant.

// AppendGrant appends a GRANT frame carrying sealed to dst.
func AppendGrant(dst, sealed []byte) []byte {
	return append(append(dst, byte(TypeGrant)), sealed...)
}

// ParseGrant returns the sealed grant inside a GRANT frame (a slice of frame: copy it to
// keep it). Errors: ErrWrongType, ErrShort (nothing sealed), ErrTooLarge.
func ParseGrant(frame []byte) ([]byte, error) {
	if _, err := checkType(frame, TypeGrant); err != nil {
		return nil, err
	}
	if len(frame) < 2 {
		return nil, ErrShort
	}
	if len(frame) > MaxFrame {
		return nil, ErrTooLarge
	}
	return frame[1:], nil
}
