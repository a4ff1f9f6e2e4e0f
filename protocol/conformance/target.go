package conformance

import (
	"strings"
	"testing"
	"time"

	"heartline/protocol/token"
)

// Target describes the gateway under test and how it was started.
type Target struct {
	UDP string // the gateway's HL1 UDP address, host:port
	TCP string // its TCP address; "" skips the TCP column and the split points

	// Keys holds the cluster secret(s) of the gateway's -secret-file, with a current key:
	// the suite issues its own tokens with it.
	Keys *token.KeyRing

	// SessionTimeout is interval x misses + grace of the gateway (1 s x 2 + 0 s keeps the
	// expiry and idle rows short); Debounce its -debounce. Zero SessionTimeout skips the
	// rows that wait for a timer (expiry, idle close).
	SessionTimeout time.Duration
	Debounce       time.Duration
	// AuthTimeout is the gateway's -tcp-auth-timeout (5 s by default); zero skips that row.
	AuthTimeout time.Duration

	// Source is the local IP the suite sends from, listed in the gateway's -relays (e.g.
	// 127.0.0.1); "" sends from any address and skips the rows that need a relay.
	Source string
	// NonRelaySource is a local IP not in -relays (e.g. 127.0.0.2); "" skips not_a_relay.
	NonRelaySource string

	// Subscriptions: the gateway has a presence source (it serves SUBSCRIBE). Without one
	// it ignores SUBSCRIBE (`unsupported`), so a malformed SUBSCRIBE is checked only with.
	Subscriptions bool

	// KnownFailures names subtests (their full name after the suite's top test, e.g.
	// "error table/UDP/HEARTBEAT/BYE: session expired: REHELLO 2/ended by silence") that
	// are skipped with the given reason: rows a gateway is known to fail, listed where
	// its in-repository run is configured, so they stay visible without failing it.
	KnownFailures map[string]string

	// Full, if set, is a gateway with the same keys and room for at most 64 sessions: the
	// suite fills it and checks the "gateway full" row there.
	Full *Endpoint
	// Limited, if set, is a gateway with the same keys that allows one HELLO per source
	// (-hello-burst 1, a tiny -hello-rate): the "over the rate limits" row runs there.
	Limited *Endpoint
}

// Endpoint is a second gateway's addresses (UDP, TCP).
type Endpoint struct {
	UDP, TCP string
}

// What the suite needs of the gateway under test:
//
//   - a per-source HELLO rate limit the suite stays under (it sends a few hundred HELLOs per
//     run from Source): e.g. -hello-rate 1000 -hello-burst 1000;
//   - one UDP loop (Heartline: -loops 1). A drop is proven by the marker's answer, which
//     the loop that took the frame sends after anything it sent about that frame; a
//     gateway with several loops hands a frame about another loop's slot over to that
//     loop, whose answer may then come after the marker's.

// Run runs the whole suite against target as subtests of t.
func Run(t *testing.T, target Target) {
	if target.UDP == "" || target.Keys == nil {
		t.Fatal("conformance: Target needs UDP and Keys")
	}
	s := &suite{Target: target}
	t.Run("error table/UDP", s.udpRows)
	t.Run("error table/TCP", func(t *testing.T) {
		s.needTCP(t)
		s.tcpRows(t)
	})
	t.Run("TCP split points", func(t *testing.T) {
		s.needTCP(t)
		s.splitPoints(t)
	})
	t.Run("amplification", s.amplification)
}

// suite is one run's state: the target and the ids it hands out.
type suite struct {
	Target
	ids idSource
}

// skipKnown skips t if the target lists it among its KnownFailures.
func (s *suite) skipKnown(t *testing.T) {
	t.Helper()
	for name, reason := range s.KnownFailures {
		if strings.HasSuffix(t.Name(), "/"+strings.ReplaceAll(name, " ", "_")) {
			t.Skipf("known gateway failure, left out of this run: %s", reason)
		}
	}
}

func (s *suite) needTCP(t *testing.T) {
	t.Helper()
	if s.TCP == "" {
		t.Skip("no TCP address given")
	}
}
