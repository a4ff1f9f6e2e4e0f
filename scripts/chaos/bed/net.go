package bed

import (
	"fmt"
	"os/exec"
	"strings"
)

// Network names and addresses of the bed. Every host is a network namespace joined to one
// bridge in the root namespace by a veth pair; the driver and the attacker run in the root
// namespace and own extra addresses on the bridge (one per simulated source address).
const (
	Bridge     = "hlc-br"
	BridgeCIDR = "10.77.0.1/16"
	nsPrefix   = "hlc-"
)

// Host is one namespace with one address.
type Host struct {
	Name string // namespace name (without prefix), e.g. "s1", "g1"
	IP   string
}

// NS is the namespace's full name.
func (h Host) NS() string { return nsPrefix + h.Name }

func run(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Teardown removes every namespace and link the bed may have left behind (a previous
// crashed run included). Errors are ignored: absent things are fine.
func Teardown() {
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasPrefix(f[0], nsPrefix) {
			_ = run("ip", "netns", "del", f[0])
		}
	}
	_ = run("ip", "link", "del", Bridge)
}

// SetupNetwork creates the bridge and one namespace per host.
func SetupNetwork(hosts []Host) error {
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("bed: iproute2 `ip` not found: install it (apt-get install -y iproute2): %w", err)
	}
	Teardown()
	steps := [][]string{
		{"ip", "link", "add", Bridge, "type", "bridge"},
		{"ip", "addr", "add", BridgeCIDR, "dev", Bridge},
		{"ip", "link", "set", Bridge, "up"},
	}
	for _, h := range hosts {
		veth := "hv-" + h.Name
		steps = append(steps,
			[]string{"ip", "netns", "add", h.NS()},
			[]string{"ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", h.NS()},
			[]string{"ip", "link", "set", veth, "master", Bridge},
			[]string{"ip", "link", "set", veth, "up"},
			[]string{"ip", "netns", "exec", h.NS(), "ip", "addr", "add", h.IP + "/16", "dev", "eth0"},
			[]string{"ip", "netns", "exec", h.NS(), "ip", "link", "set", "eth0", "up"},
			[]string{"ip", "netns", "exec", h.NS(), "ip", "link", "set", "lo", "up"},
		)
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			return err
		}
	}
	return nil
}

// AddSourceAddrs gives the root namespace extra addresses on the bridge (10.77.<third>.1..n),
// so the driver and the attacker send from many source addresses.
func AddSourceAddrs(third, n int) ([]string, error) {
	var out []string
	for i := 1; i <= n; i++ {
		ip := fmt.Sprintf("10.77.%d.%d", third, i)
		if err := run("ip", "addr", "add", ip+"/32", "dev", Bridge); err != nil {
			return nil, err
		}
		out = append(out, ip)
	}
	return out, nil
}

// Partition makes host h unable to reach the given addresses (blackhole routes inside its
// namespace: its packets to them are dropped, and their packets get no answer). Heal undoes it.
func Partition(h Host, ips []string) error {
	for _, ip := range ips {
		if err := run("ip", "netns", "exec", h.NS(), "ip", "route", "add", "blackhole", ip+"/32"); err != nil {
			return err
		}
	}
	return nil
}

// Heal removes the blackhole routes Partition added.
func Heal(h Host, ips []string) error {
	var first error
	for _, ip := range ips {
		if err := run("ip", "netns", "exec", h.NS(), "ip", "route", "del", "blackhole", ip+"/32"); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// UDPRcvbufErrors reads the kernel's UDP receive-buffer drop counter inside h's namespace
// (datagrams the kernel dropped before the gateway could read them).
func UDPRcvbufErrors(h Host) (uint64, error) {
	out, err := exec.Command("ip", "netns", "exec", h.NS(), "cat", "/proc/net/snmp").Output()
	if err != nil {
		return 0, err
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(line, "Udp: ") {
			continue
		}
		f := strings.Fields(line)[1:]
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "RcvbufErrors" && i < len(f) {
				var v uint64
				_, err := fmt.Sscan(f[i], &v)
				return v, err
			}
		}
	}
	return 0, fmt.Errorf("bed: no Udp RcvbufErrors in /proc/net/snmp of %s", h.NS())
}
