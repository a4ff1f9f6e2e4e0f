package tcp

import (
	"sync/atomic"

	"heartline/protocol/hl1"
)

// CloseCause is why a TCP connection ended. Stats counts closes by cause (an array indexed
// by it, sized by NumCloseCauses); String() is the metric label and Code() the CLOSE reason
// sent to the app (0: none is sent).
type CloseCause uint8

const (
	CauseProtocolError        CloseCause = iota // a frame failed to decode, or a HELLO came when none is allowed
	CauseFirstNotHello                          // a frame other than HELLO before the WELCOME
	CauseIdleTimeout                            // an authenticated connection sent no frame within the idle timeout
	CauseSlowConsumer                           // the app did not read EVENTs fast enough
	CauseOverload                               // the app sent more frames than its share of the worker queue
	CausePeer                                   // the app closed the connection
	CauseShutdown                               // the gateway is stopping
	CauseTooManyConnections                     // refused at accept: MaxConns reached
	CauseTooManySubscriptions                   // subscription limit per connection exceeded
	CauseNotAuthenticated                       // a HELLO failed authentication (token, tag, clock, replay)
	CauseGrantRefused                           // a presence grant was refused or revoked
	CauseAuthTimeout                            // no WELCOME within AuthTimeout of the connection's start
	CauseHelloRefused                           // a HELLO was answered with REHELLO 3, 4 or 5 (slot 0), which says why
	CauseTooManyFromAddress                     // refused at accept: MaxConnsPerAddr reached for its address (IPv6: /64)

	NumCloseCauses // the number of causes, not a cause
)

var closeCauses = [NumCloseCauses]struct {
	label string
	code  hl1.CloseReason
}{
	CauseProtocolError:        {"protocol_error", hl1.CloseProtocolError},
	CauseFirstNotHello:        {"first_not_hello", hl1.CloseProtocolError},
	CauseIdleTimeout:          {"idle_timeout", hl1.CloseIdleTimeout},
	CauseSlowConsumer:         {"slow_consumer", hl1.CloseSlowConsumer},
	CauseOverload:             {"overload", hl1.CloseSlowConsumer},
	CausePeer:                 {"peer", 0},
	CauseShutdown:             {"shutdown", hl1.CloseServerShutdown},
	CauseTooManyConnections:   {"too_many_connections", 0},
	CauseTooManySubscriptions: {"too_many_subscriptions", hl1.CloseTooManySubscribed},
	CauseNotAuthenticated:     {"not_authenticated", hl1.CloseAuthFailed},
	CauseGrantRefused:         {"grant_refused", hl1.CloseGrantRefused},
	CauseAuthTimeout:          {"auth_timeout", hl1.CloseIdleTimeout},
	CauseHelloRefused:         {"hello_refused", 0},
	CauseTooManyFromAddress:   {"too_many_from_address", 0},
}

// String is the cause's metric label, e.g. "slow_consumer".
func (c CloseCause) String() string {
	if c < NumCloseCauses {
		return closeCauses[c].label
	}
	return "invalid"
}

// Code is the CLOSE reason sent to the app for this cause; 0 when none is sent.
func (c CloseCause) Code() hl1.CloseReason {
	if c < NumCloseCauses {
		return closeCauses[c].code
	}
	return 0
}

// causeOf is the cause counted for a CLOSE reason given by the subscriptions seam.
func causeOf(r hl1.CloseReason) CloseCause {
	switch r {
	case hl1.CloseSlowConsumer:
		return CauseSlowConsumer
	case hl1.CloseTooManySubscribed:
		return CauseTooManySubscriptions
	case hl1.CloseAuthFailed:
		return CauseNotAuthenticated
	case hl1.CloseServerShutdown:
		return CauseShutdown
	case hl1.CloseIdleTimeout:
		return CauseIdleTimeout
	case hl1.CloseGrantRefused:
		return CauseGrantRefused
	}
	return CauseProtocolError
}

// Stats are the server's counters.
type Stats struct {
	Open   atomic.Int64
	Frames atomic.Uint64
	Bytes  atomic.Uint64 // bytes read from connections
	closes [NumCloseCauses]atomic.Uint64
}

// Closes returns how many connections ended for cause c.
func (s *Stats) Closes(c CloseCause) uint64 {
	if c >= NumCloseCauses {
		return 0
	}
	return s.closes[c].Load()
}

func (s *Stats) closed(c CloseCause) {
	if c < NumCloseCauses {
		s.closes[c].Add(1)
	}
}
