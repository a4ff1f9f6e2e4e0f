package ingest

import (
	"sync/atomic"

	"heartline/protocol/hl1"
)

// DropReason says why a frame was dropped. Every rejected frame increments exactly one
// reason's counter; the metrics endpoint exports them as frames_dropped_total{reason} with
// String() as the label. Counters are an array indexed by the reason, sized by
// NumDropReasons, so adding a reason cannot overflow them or shift another's label.
type DropReason uint8

// The gateway's own reasons.
const (
	ReasonRateLimited DropReason = iota // HELLO over the per-source or per-loop rate
	ReasonUnknownSlot                   // no session in that slot or an old generation
	ReasonExpired                       // the session said BYE or expired
	ReasonHelloBadTag                   // token fine, but the sender does not hold its key
	ReasonHelloReplay                   // older than the session's accepted HELLO
	ReasonGatewayFull                   // no free slot
	ReasonInboxFull                     // hand-off to the owning loop failed
	ReasonUnexpected                    // a frame type the gateway never receives (WELCOME, EVENT ...)
	ReasonOverflow                      // seq or ts beyond 2^32: the session must HELLO again
	ReasonTooManyHops                   // a handed-off frame was handed off again
	ReasonUnsupported                   // SUBSCRIBE/UNSUBSCRIBE while no subscription service is plugged in
	ReasonDraining                      // HELLO while the gateway drains (answered with REHELLO 4)
	ReasonCutOff                        // HELLO while the agent cannot reach Consul (answered with REHELLO 5)
	ReasonNotARelay                     // BATCH from a source outside the -relays list

	// HL1 decoding and verification failures (protocol/hl1's errors, see DropReasonOf).
	// hl1's wrong_type is not among them: the gateway dispatches on the type byte, so no
	// parser ever sees a frame of another type (it would count as other).
	ReasonShort
	ReasonTrailing
	ReasonTooLarge
	ReasonVersion
	ReasonUnknownType
	ReasonBadLength
	ReasonBadValue
	ReasonNotSorted
	ReasonCorrupt
	ReasonBadMAC
	ReasonReplay
	ReasonClockSkew
	ReasonTokenMalformed
	ReasonTokenUnknownKey
	ReasonTokenBadMAC
	ReasonTokenExpired
	ReasonOther // an error no reason above names

	NumDropReasons // the number of reasons, not a reason
)

var dropNames = [NumDropReasons]string{
	ReasonRateLimited: "rate_limited", ReasonUnknownSlot: "unknown_slot", ReasonExpired: "expired",
	ReasonHelloBadTag: "hello_bad_tag", ReasonHelloReplay: "hello_replay", ReasonGatewayFull: "gateway_full",
	ReasonInboxFull: "inbox_full", ReasonUnexpected: "unexpected", ReasonOverflow: "seq_overflow",
	ReasonTooManyHops: "handoff_loop", ReasonUnsupported: "unsupported", ReasonDraining: "draining",
	ReasonCutOff: "cut_off", ReasonNotARelay: "not_a_relay",
	// hl1.ReasonOf's labels, unchanged.
	ReasonShort: "short", ReasonTrailing: "trailing", ReasonTooLarge: "too_large", ReasonVersion: "version",
	ReasonUnknownType: "unknown_type", ReasonBadLength: "bad_length",
	ReasonBadValue: "bad_value", ReasonNotSorted: "not_sorted", ReasonCorrupt: "corrupt", ReasonBadMAC: "bad_mac",
	ReasonReplay: "replay", ReasonClockSkew: "clock_skew", ReasonTokenMalformed: "token_malformed",
	ReasonTokenUnknownKey: "token_unknown_key", ReasonTokenBadMAC: "token_bad_mac", ReasonTokenExpired: "token_expired",
	ReasonOther: "other",
}

// String is the reason's metric label, e.g. "bad_mac".
func (r DropReason) String() string {
	if r < NumDropReasons {
		return dropNames[r]
	}
	return "invalid"
}

// DropReasons lists every reason, for pre-creating metric series.
var DropReasons = func() []DropReason {
	out := make([]DropReason, NumDropReasons)
	for i := range out {
		out[i] = DropReason(i)
	}
	return out
}()

// byHL1Label maps hl1.ReasonOf's labels to reasons.
var byHL1Label = func() map[string]DropReason {
	m := make(map[string]DropReason, NumDropReasons)
	for r := ReasonShort; r < NumDropReasons; r++ {
		m[dropNames[r]] = r
	}
	return m
}()

// DropReasonOf is the reason for an HL1 decoding or token verification error (ReasonOther
// for any other error). It does not allocate.
func DropReasonOf(err error) DropReason {
	if r, ok := byHL1Label[hl1.ReasonOf(err)]; ok {
		return r
	}
	return ReasonOther
}

// Stats are one loop's counters. The loop writes them, the metrics endpoint reads them,
// hence atomics (uncontended: one writer).
type Stats struct {
	Datagrams  atomic.Uint64 // frames received
	Heartbeats atomic.Uint64 // heartbeats accepted (including BATCH entries)
	Byes       atomic.Uint64 // BYEs accepted (including logout HELLOs)
	Logouts    atomic.Uint64 // HELLOs with FlagLogout that ended a session (also counted in Byes)
	Hellos     atomic.Uint64 // HELLOs answered with WELCOME
	Rehellos   atomic.Uint64 // REHELLOs sent
	// DrainRehellos are REHELLO 4s sent to live sessions while draining (not in Rehellos).
	DrainRehellos atomic.Uint64
	HandedOff     atomic.Uint64 // frames handed to another loop (NAT rebinding, foreign HELLO)
	Received      atomic.Uint64 // frames received from other loops' hand-off
	Batches       atomic.Uint64 // recvmmsg calls that returned data
	WheelLag      atomic.Int64  // last wheel lag in milliseconds
	SendErrors    atomic.Uint64 // replies the socket did not take
	drops         [NumDropReasons]atomic.Uint64
}

// Drop counts one dropped frame with reason r.
func (s *Stats) Drop(r DropReason) { s.drops[min(r, ReasonOther)].Add(1) }

// Drops returns the count for reason r.
func (s *Stats) Drops(r DropReason) uint64 { return s.drops[min(r, ReasonOther)].Load() }
