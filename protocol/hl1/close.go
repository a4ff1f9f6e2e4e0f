package hl1

// CloseSize is the size of a CLOSE frame: [vt:1][reason:1].
const CloseSize = 2

// CloseReason says why the gateway closes a TCP connection.
type CloseReason uint8

// CLOSE reasons. Apps treat a reason they do not know like CloseServerShutdown
// (reconnect with backoff).
const (
	CloseSlowConsumer      CloseReason = 1 // the app did not read EVENTs fast enough
	CloseProtocolError     CloseReason = 2 // a frame failed to decode or arrived out of order
	CloseAuthFailed        CloseReason = 3 // HELLO rejected (token, tag or clock)
	CloseTooManySubscribed CloseReason = 4 // subscription limit per connection exceeded
	CloseIdleTimeout       CloseReason = 5 // no frame within the idle timeout
	CloseServerShutdown    CloseReason = 6 // the gateway is stopping: reconnect elsewhere
	CloseGrantRefused      CloseReason = 7 // GRANT not opened (forged, expired, another member's): fetch a new one
)

// AppendClose appends the 2-byte frame to dst.
func AppendClose(dst []byte, r CloseReason) []byte {
	return append(dst, byte(TypeClose), byte(r))
}

// ParseClose decodes a CLOSE. Reason 0 is invalid (ErrBadValue).
func ParseClose(frame []byte) (CloseReason, error) {
	if err := checkFixed(frame, TypeClose, CloseSize); err != nil {
		return 0, err
	}
	if frame[1] == 0 {
		return 0, ErrBadValue
	}
	return CloseReason(frame[1]), nil
}
