package hl1

import (
	"encoding/binary"
	"time"
)

// WelcomeSize is the size of a WELCOME frame, smaller than any valid HELLO (HelloSize):
//
//	[vt:1][slot:4][epoch:4][interval_ms:4][server_time_ms:8][tag:8]
const WelcomeSize = 29

// Welcome is a decoded WELCOME frame: the gateway accepted a HELLO.
type Welcome struct {
	Slot         uint32 // names the session in later frames
	Epoch        uint32 // gateway epoch (changes on restart); covered by every heartbeat tag
	IntervalMS   uint32 // heartbeat interval the client must use
	ServerTimeMS uint64 // gateway Unix time in ms: the session's ts base (ts_abs 0)
	Tag          uint64 // SipHash(session key, preceding 21 bytes || HELLO nonce)
}

// Interval returns IntervalMS as a Duration.
func (w Welcome) Interval() time.Duration { return time.Duration(w.IntervalMS) * time.Millisecond }

// Seal returns w with Tag computed under the session key, bound to the HELLO's nonce.
func (w Welcome) Seal(key MACKey, helloNonce uint32) Welcome {
	w.Tag = w.tag(key, helloNonce)
	return w
}

// Verify reports whether w answers the HELLO with nonce helloNonce under key (the client
// drops stale or forged WELCOMEs).
func (w Welcome) Verify(key MACKey, helloNonce uint32) bool { return w.tag(key, helloNonce) == w.Tag }

func (w Welcome) tag(key MACKey, helloNonce uint32) uint64 {
	var buf [WelcomeSize - TagSize + 4]byte
	b := appendWelcomeBody(buf[:0], w)
	b = binary.BigEndian.AppendUint32(b, helloNonce)
	return key.Sum(b)
}

func appendWelcomeBody(dst []byte, w Welcome) []byte {
	dst = append(dst, byte(TypeWelcome))
	dst = binary.BigEndian.AppendUint32(dst, w.Slot)
	dst = binary.BigEndian.AppendUint32(dst, w.Epoch)
	dst = binary.BigEndian.AppendUint32(dst, w.IntervalMS)
	return binary.BigEndian.AppendUint64(dst, w.ServerTimeMS)
}

// AppendWelcome appends the 29-byte frame of w (use w.Seal first) to dst.
func AppendWelcome(dst []byte, w Welcome) []byte {
	dst = appendWelcomeBody(dst, w)
	return binary.BigEndian.AppendUint64(dst, w.Tag)
}

// ParseWelcome decodes a WELCOME; authenticate it with Verify.
func ParseWelcome(frame []byte) (Welcome, error) {
	if err := checkFixed(frame, TypeWelcome, WelcomeSize); err != nil {
		return Welcome{}, err
	}
	return Welcome{
		Slot:         binary.BigEndian.Uint32(frame[1:5]),
		Epoch:        binary.BigEndian.Uint32(frame[5:9]),
		IntervalMS:   binary.BigEndian.Uint32(frame[9:13]),
		ServerTimeMS: binary.BigEndian.Uint64(frame[13:21]),
		Tag:          binary.BigEndian.Uint64(frame[21:29]),
	}, nil
}
