package tcp

import (
	"heartline/gateway/internal/ingest"
	"heartline/protocol/hl1"
)

// The TCP connection rules of PROTOCOL.md ("TCP"), in one place:
//
//   - Until the gateway's WELCOME only HELLO may be sent (retries included); anything else
//     is CLOSE 2 (CauseFirstNotHello). After it: HEARTBEAT, BYE, GRANT, SUBSCRIBE,
//     UNSUBSCRIBE. Any other type, a frame that does not parse, or a length of 0 or above
//     4096 is CLOSE 2.
//   - A HELLO on an authenticated connection is allowed after the gateway sent it a
//     REHELLO (that is how a TCP client says HELLO again), or before its first HEARTBEAT
//     after the WELCOME (a retry that crossed the WELCOME); otherwise CLOSE 2.
//   - A HELLO that fails authentication (token, tag, clock, replayed HELLO) is CLOSE 3.
//   - A HELLO answered with REHELLO 3, 4 or 5 (slot 0) ends the connection after that
//     REHELLO; a HELLO the gateway cannot take now (rate limit, queues full) is answered
//     with REHELLO 3, then the connection ends.
//   - A connection not authenticated within AuthTimeout of its start is CLOSE 5 (frames do
//     not extend it); an authenticated one silent for IdleTimeout is CLOSE 5.
//   - Replayed heartbeats and heartbeats lost to full queues are dropped silently (counted),
//     as over UDP.

// helloAllowed reports whether a HELLO may come now (see above).
func (c *conn) helloAllowed() bool {
	return !c.authed.Load() || c.rehelloed.Load() || !c.beaten.Load()
}

// refuseAction is what a connection does about a frame the handler dropped unanswered.
type refuseAction uint8

const (
	refuseIgnore   refuseAction = iota // counted, nothing else (a replayed heartbeat)
	refuseProtocol                     // CLOSE 2
	refuseAuth                         // CLOSE 3
	refuseBusy                         // REHELLO 3 (slot 0), then close
)

// refusal maps a dropped frame's type and reason to the connection's reaction.
func refusal(t hl1.Type, r ingest.DropReason) refuseAction {
	switch r {
	case ingest.ReasonShort, ingest.ReasonTrailing, ingest.ReasonTooLarge, ingest.ReasonVersion,
		ingest.ReasonUnknownType, ingest.ReasonBadLength, ingest.ReasonBadValue, ingest.ReasonNotSorted,
		ingest.ReasonCorrupt, ingest.ReasonUnexpected:
		return refuseProtocol
	}
	if t != hl1.TypeHello {
		return refuseIgnore // replay, or a heartbeat lost to a full hand-off inbox
	}
	switch r {
	case ingest.ReasonTokenMalformed, ingest.ReasonTokenUnknownKey, ingest.ReasonTokenBadMAC, ingest.ReasonTokenExpired,
		ingest.ReasonHelloBadTag, ingest.ReasonClockSkew, ingest.ReasonHelloReplay:
		return refuseAuth
	}
	return refuseBusy // rate_limited, inbox_full, handoff_loop, other: try later or elsewhere
}
