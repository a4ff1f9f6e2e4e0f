package conformance

import (
	"flag"
	"testing"

	"heartline/protocol/token"
)

// Flags to run the suite against any gateway (APPS.md, Conformance):
//
//	go test ./protocol/conformance -run TestGateway -v -args \
//	    -gateway-udp host:7946 -gateway-tcp host:7947 -key-file keys \
//	    -session-timeout 2s -debounce 0s -auth-timeout 1s -source 127.0.0.1 -non-relay-source 127.0.0.2
var (
	gatewayUDP     = flag.String("gateway-udp", "", "HL1 UDP address of the gateway under test (empty: TestGateway is skipped)")
	gatewayTCP     = flag.String("gateway-tcp", "", "its TCP address (empty: the TCP rows are skipped)")
	keyFile        = flag.String("key-file", "", "the gateway's -secret-file (key ring with a current key)")
	sessionTimeout = flag.Duration("session-timeout", 0, "the gateway's interval x misses + grace (0: skip the expiry and idle rows)")
	debounce       = flag.Duration("debounce", 0, "the gateway's -debounce")
	authTimeout    = flag.Duration("auth-timeout", 0, "the gateway's -tcp-auth-timeout (0: skip that row)")
	source         = flag.String("source", "", "local IP to send from, listed in the gateway's -relays (empty: skip the relay rows)")
	nonRelay       = flag.String("non-relay-source", "", "local IP not in -relays (empty: skip not_a_relay)")
	fullUDP        = flag.String("full-udp", "", "UDP address of a gateway with the same keys and room for at most 64 sessions")
	fullTCP        = flag.String("full-tcp", "", "its TCP address")
	limitedUDP     = flag.String("limited-udp", "", "UDP address of a gateway with the same keys allowing one HELLO per source (-hello-burst 1)")
	limitedTCP     = flag.String("limited-tcp", "", "its TCP address")
	subscriptions  = flag.Bool("subscriptions", false, "the gateway serves SUBSCRIBE (has a presence source): also check a malformed SUBSCRIBE")
)

// TestGateway runs the suite against the gateway named by the flags; without -gateway-udp
// it is skipped (gateway/conformance_process_test.go runs it against the real binary).
func TestGateway(t *testing.T) {
	if *gatewayUDP == "" {
		t.Skip("no -gateway-udp given: see protocol/APPS.md, Conformance")
	}
	keys, err := token.LoadKeyRing(*keyFile)
	if err != nil {
		t.Fatalf("-key-file: %v", err)
	}
	target := Target{
		UDP: *gatewayUDP, TCP: *gatewayTCP, Keys: keys,
		SessionTimeout: *sessionTimeout, Debounce: *debounce, AuthTimeout: *authTimeout,
		Source: *source, NonRelaySource: *nonRelay, Subscriptions: *subscriptions,
	}
	if *fullUDP != "" {
		target.Full = &Endpoint{UDP: *fullUDP, TCP: *fullTCP}
	}
	if *limitedUDP != "" {
		target.Limited = &Endpoint{UDP: *limitedUDP, TCP: *limitedTCP}
	}
	Run(t, target)
}
