package hl1

import "fmt"

// Version is the protocol version carried in the high nibble of byte 0 of every frame.
const Version = 1

// MaxFrame is the largest frame: a UDP datagram payload or a TCP frame body.
const MaxFrame = 4096

// Type is byte 0 of a frame: version (high nibble) and frame type (low nibble).
type Type byte

// The HL1 v1 frame types.
const (
	TypeHello       Type = 0x11 // client -> gateway: token, opens a session
	TypeWelcome     Type = 0x12 // gateway -> client: slot, epoch, interval, server time
	TypeHeartbeat   Type = 0x13 // client -> gateway
	TypeBye         Type = 0x14 // client -> gateway: authenticated logout
	TypeRehello     Type = 0x15 // gateway -> client: send HELLO again
	TypeBatch       Type = 0x16 // relay -> gateway: many clients' heartbeats
	TypeSubscribe   Type = 0x17 // app -> gateway, TCP only
	TypeUnsubscribe Type = 0x18 // app -> gateway, TCP only
	TypeEvent       Type = 0x19 // gateway -> app: presence changes
	TypeClose       Type = 0x1A // gateway -> app: reason before closing a TCP connection
	TypeGrant       Type = 0x1B // app -> gateway, TCP only: a site-sealed presence grant
	TypeRehellos    Type = 0x1C // gateway -> relay, UDP only: the REHELLOs one BATCH caused
)

var typeNames = [...]string{"", "HELLO", "WELCOME", "HEARTBEAT", "BYE", "REHELLO", "BATCH",
	"SUBSCRIBE", "UNSUBSCRIBE", "EVENT", "CLOSE", "GRANT", "REHELLOS"}

// Known reports whether t is an HL1 v1 frame type.
func (t Type) Known() bool { return t >= TypeHello && t <= TypeRehellos }

func (t Type) String() string {
	if t.Known() {
		return typeNames[t&0x0f]
	}
	return fmt.Sprintf("Type(%#02x)", byte(t))
}

// PeekType checks what every frame shares (1..MaxFrame bytes, version 1, a known type)
// and returns the type, for dispatching to the right Parse function.
func PeekType(frame []byte) (Type, error) {
	if len(frame) == 0 {
		return 0, ErrShort
	}
	if len(frame) > MaxFrame {
		return 0, ErrTooLarge
	}
	if frame[0]>>4 != Version {
		return 0, ErrVersion
	}
	t := Type(frame[0])
	if !t.Known() {
		return 0, ErrUnknownType
	}
	return t, nil
}

// checkType is PeekType plus "is one of want".
func checkType(frame []byte, want ...Type) (Type, error) {
	t, err := PeekType(frame)
	if err != nil {
		return 0, err
	}
	for _, w := range want {
		if t == w {
			return t, nil
		}
	}
	return 0, ErrWrongType
}

// checkFixed checks a fixed-size frame of type want.
func checkFixed(frame []byte, want Type, size int) error {
	if _, err := checkType(frame, want); err != nil {
		return err
	}
	return checkSize(frame, size)
}

func checkSize(frame []byte, size int) error {
	if len(frame) < size {
		return ErrShort
	}
	if len(frame) > size {
		return ErrTrailing
	}
	return nil
}
