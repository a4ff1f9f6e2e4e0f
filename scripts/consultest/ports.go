package consultest

import (
	"fmt"
	"net"
	"sync"
)

// portsInUse remembers ports handed out in this process so two servers started in the
// same test binary never race for the same free port.
var (
	portsMu    sync.Mutex
	portsInUse = map[int]bool{}
)

// freePorts returns n distinct loopback TCP ports that were free a moment ago and that
// are also free for UDP (Consul's Serf ports use both).
func freePorts(n int) ([]int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries > 100*n {
			return nil, fmt.Errorf("consultest: could not find %d free loopback ports", n)
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
		if portsInUse[port] {
			continue
		}
		portsInUse[port] = true
		ports = append(ports, port)
	}
	return ports, nil
}
