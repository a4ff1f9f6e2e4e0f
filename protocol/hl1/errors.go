package hl1

import (
	"errors"

	"heartline/protocol/token"
)

// Error is an HL1 decoding or verification failure. Every error this package returns is
// one of the sentinel values below (compare with errors.Is or ==), so rejecting a hostile
// frame never allocates. Reason is a short stable name for drop counters (a Prometheus
// label value); the message says what to do.
type Error struct {
	reason string
	msg    string
}

func (e *Error) Error() string { return e.msg }

// Reason returns the stable short name of the error, e.g. "bad_mac".
func (e *Error) Reason() string { return e.reason }

// The HL1 errors. On the gateway every one of them is a counted drop (label ReasonOf(err));
// none of them is answered, except as PROTOCOL.md "Error handling" says (REHELLO for an
// unknown slot, CLOSE on TCP).
var (
	ErrShort       = &Error{"short", "hl1: frame shorter than its type requires (drop it: truncated or not HL1)"}
	ErrTrailing    = &Error{"trailing", "hl1: bytes after the end of the frame (drop it: the sender does not implement HL1 v1 exactly)"}
	ErrTooLarge    = &Error{"too_large", "hl1: frame or entry count above the HL1 limits (MaxFrame, MaxBatchEntries, MaxSubscribeIDs, MaxEvents): split it over several frames"}
	ErrVersion     = &Error{"version", "hl1: protocol version (high nibble of byte 0) is not 1: the peer speaks another HL version; upgrade the older side"}
	ErrUnknownType = &Error{"unknown_type", "hl1: unknown frame type (low nibble of byte 0): drop it; the sender is not HL1 v1"}
	ErrWrongType   = &Error{"wrong_type", "hl1: frame of another type passed to this parser: dispatch on PeekType first"}
	ErrBadLength   = &Error{"bad_length", "hl1: a length or count field disagrees with the frame (token_len not 43, TCP length 0, count mismatch): drop it"}
	ErrBadValue    = &Error{"bad_value", "hl1: a field holds a value outside its range (zero count or reason, unknown state, slot above 2^32-1): drop it"}
	ErrNotSorted   = &Error{"not_sorted", "hl1: slots or user ids not strictly increasing: sort them and remove duplicates before encoding"}
	ErrCorrupt     = &Error{"corrupt", "hl1: invalid bit-packed id list (not produced by protocol/bitpack): drop it"}
	ErrBadMAC      = &Error{"bad_mac", "hl1: tag does not verify (forged, corrupted, or from another session/epoch, or seq/ts outside the reconstruction window): drop it"}
	ErrReplay      = &Error{"replay", "hl1: sequence number not above the last accepted one (replayed or reordered heartbeat): drop it"}
	ErrClockSkew   = &Error{"clock_skew", "hl1: HELLO client_time too far from the gateway clock: fix the device clock (NTP) and send a new HELLO"}
)

var allErrors = []*Error{ErrShort, ErrTrailing, ErrTooLarge, ErrVersion, ErrUnknownType, ErrWrongType,
	ErrBadLength, ErrBadValue, ErrNotSorted, ErrCorrupt, ErrBadMAC, ErrReplay, ErrClockSkew}

// Token verification failures map to these reasons (see ReasonOf).
var tokenReasons = []struct {
	err    error
	reason string
}{
	{token.ErrMalformed, "token_malformed"},
	{token.ErrUnknownKey, "token_unknown_key"},
	{token.ErrBadMAC, "token_bad_mac"},
	{token.ErrExpired, "token_expired"},
}

// ReasonOf returns the drop-counter label for err: the Reason of an HL1 error, a
// "token_..." reason for the protocol/token verification errors, "" for nil and "other"
// for anything else. It does not allocate for the sentinel errors.
func ReasonOf(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := err.(*Error); ok {
		return e.reason
	}
	for _, t := range tokenReasons {
		if err == t.err {
			return t.reason
		}
	}
	var e *Error
	if errors.As(err, &e) {
		return e.reason
	}
	for _, t := range tokenReasons {
		if errors.Is(err, t.err) {
			return t.reason
		}
	}
	return "other"
}

// Reasons lists every value ReasonOf can return for a non-nil error, so a metrics package
// can pre-create its counter series.
func Reasons() []string {
	out := make([]string, 0, len(allErrors)+len(tokenReasons)+1)
	for _, e := range allErrors {
		out = append(out, e.reason)
	}
	for _, t := range tokenReasons {
		out = append(out, t.reason)
	}
	return append(out, "other")
}
