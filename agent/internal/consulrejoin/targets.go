package consulrejoin

import (
	"net"
	"sort"
	"strconv"

	"github.com/hashicorp/consul/api"
)

// target is one address the local agent may be asked to join.
type target struct {
	name string // member name; "" for a configured address
	addr string // serf LAN host:port
}

// view is what one read of the member list says about the servers.
type view struct {
	alive   int      // servers alive
	failed  []target // servers failed (not left), sorted by name
	targets []target // failed servers, then configured addresses when no server is alive
}

// degraded reports whether the next read should come at the fast cadence.
func (v view) degraded() bool { return v.alive == 0 || len(v.failed) > 0 }

// plan reads the member list. Only servers (tag role=consul) with serf status failed are
// targets; alive, leaving and left ones are not. The configured addresses are added only
// when no server is alive (skipping those already listed as failed members).
func plan(members []*api.AgentMember, configured []string) view {
	var v view
	listed := map[string]bool{}
	for _, m := range members {
		if m == nil || m.Tags["role"] != serverRoleTag {
			continue
		}
		addr := net.JoinHostPort(m.Addr, strconv.Itoa(int(m.Port)))
		listed[addr] = true
		switch m.Status {
		case statusAlive:
			v.alive++
		case statusFailed:
			v.failed = append(v.failed, target{name: m.Name, addr: addr})
		}
	}
	sort.Slice(v.failed, func(i, j int) bool { return v.failed[i].name < v.failed[j].name })
	v.targets = append(v.targets, v.failed...)
	if v.alive == 0 {
		for _, a := range configured {
			if !listed[a] {
				v.targets = append(v.targets, target{addr: a})
			}
		}
	}
	return v
}

// normalizeAddr adds serf's default LAN port to an address given without one.
func normalizeAddr(a string) string {
	if _, _, err := net.SplitHostPort(a); err == nil {
		return a
	}
	return net.JoinHostPort(a, "8301")
}
