package consultest

import (
	"net"
	"testing"

	"heartline/scripts/proctest"
)

// TestStartRetriesWhenAPortWasTakenMeanwhile: a port proctest.FreePorts picked can be bound by
// another process before Consul binds it (test packages run in parallel). Start must then
// try again on other ports instead of failing the test.
func TestStartRetriesWhenAPortWasTakenMeanwhile(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	calls := 0
	pickPorts = func(n int) ([]int, error) {
		calls++
		ports, err := proctest.FreePorts(n)
		if calls == 1 && err == nil {
			ports[1] = taken.Addr().(*net.TCPAddr).Port // the Serf LAN port: Consul cannot bind it
		}
		return ports, err
	}
	defer func() { pickPorts = proctest.FreePorts }()

	s := Start(t, nil)
	if calls < 2 {
		t.Fatalf("ports picked %d time(s); the first set had a taken port, so a second was needed", calls)
	}
	if _, err := s.Client().Status().Leader(); err != nil {
		t.Fatalf("server started on the retry does not answer: %v", err)
	}
}
