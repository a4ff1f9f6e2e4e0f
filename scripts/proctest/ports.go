package proctest

import (
	"fmt"
	"net"
	"sync"
	"testing"
)

// handedOut remembers ports given out in this process, so two helpers in one test binary
// never race for the same free port.
var (
	portsMu   sync.Mutex
	handedOut = map[int]bool{}
)

// FreePorts returns n distinct loopback ports that were free a moment ago for both TCP and
// UDP, and that this process has not handed out before.
func FreePorts(n int) ([]int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries > 100*n {
			return nil, fmt.Errorf("proctest: could not find %d free loopback ports", n)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		if handedOut[port] {
			continue
		}
		handedOut[port] = true
		ports = append(ports, port)
	}
	return ports, nil
}

// FreeAddr returns a loopback "127.0.0.1:port" free for network ("tcp" or "udp"; the port
// is free for both).
func FreeAddr(t testing.TB, network string) string {
	t.Helper()
	if network != "tcp" && network != "udp" {
		t.Fatalf("proctest.FreeAddr: network %q: use tcp or udp", network)
	}
	ports, err := FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", ports[0])
}

// Port is the port part of a host:port address ("" if it has none).
func Port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}
