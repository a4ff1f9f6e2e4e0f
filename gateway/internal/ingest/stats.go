package ingest

import (
	"sync/atomic"

	"heartline/protocol/hl1"
)

// Drop reasons beyond hl1's own (hl1.ReasonOf). Every rejected frame increments exactly one
// reason counter; the metrics endpoint exports them as frames_dropped_total{reason}.
const (
	ReasonRateLimited = "rate_limited"  // HELLO over the per-source or per-loop rate
	ReasonUnknownSlot = "unknown_slot"  // no session in that slot or an old generation
	ReasonExpired     = "expired"       // the session said BYE or expired
	ReasonHelloBadTag = "hello_bad_tag" // token fine, but the sender does not hold its key
	ReasonHelloReplay = "hello_replay"  // older than the session's accepted HELLO
	ReasonGatewayFull = "gateway_full"  // no free slot
	ReasonInboxFull   = "inbox_full"    // hand-off to the owning loop failed
	ReasonUnexpected  = "unexpected"    // a frame type the gateway never receives (WELCOME, EVENT ...)
	ReasonOverflow    = "seq_overflow"  // seq or ts beyond 2^32: the session must HELLO again
	ReasonTooManyHops = "handoff_loop"  // a handed-off frame was handed off again
	ReasonUnsupported = "unsupported"   // SUBSCRIBE/UNSUBSCRIBE while no subscription service is plugged in
	ReasonDraining    = "draining"      // HELLO while the gateway drains (answered with REHELLO 4)
	ReasonCutOff      = "cut_off"       // HELLO while the agent cannot reach Consul (answered with REHELLO 5)
)

var localReasons = []string{ReasonRateLimited, ReasonUnknownSlot, ReasonExpired, ReasonHelloBadTag,
	ReasonHelloReplay, ReasonGatewayFull, ReasonInboxFull, ReasonUnexpected, ReasonOverflow,
	ReasonTooManyHops, ReasonUnsupported, ReasonDraining, ReasonCutOff}

// DropReasons lists every reason label, for pre-creating metric series.
var DropReasons = func() []string {
	out := append([]string(nil), localReasons...)
	seen := map[string]bool{}
	for _, r := range out {
		seen[r] = true
	}
	for _, r := range hl1.Reasons() {
		if !seen[r] {
			out = append(out, r)
			seen[r] = true
		}
	}
	return out
}()

func reasonIndex(r string) int {
	for i, x := range DropReasons {
		if x == r {
			return i
		}
	}
	return len(DropReasons) - 1 // "other"
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
	drops         [32]atomic.Uint64
}

// Drop counts one dropped frame with reason r.
func (s *Stats) Drop(r string) { s.drops[reasonIndex(r)].Add(1) }

// Drops returns the count for reason r.
func (s *Stats) Drops(r string) uint64 { return s.drops[reasonIndex(r)].Load() }

func init() {
	if len(DropReasons) > len(Stats{}.drops) {
		panic("ingest: more drop reasons than Stats has counters")
	}
}
