package tcp

import "net/netip"

// addrGroup is what Options.MaxConnsPerAddr counts against: the IPv4 address, or the /64
// of an IPv6 address (one subscriber usually holds a whole /64, so counting single IPv6
// addresses would cap nothing). IPv4-mapped IPv6 addresses count as IPv4.
func addrGroup(ap netip.AddrPort) netip.Prefix {
	a := ap.Addr().Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return netip.Prefix{} // an invalid address: all such share one group
	}
	return p
}

// admit counts a new connection from group; false (nothing counted) when the group is at
// its cap. Callers hold s.mu.
func (s *Server) admit(group netip.Prefix) bool {
	if s.perAddr[group] >= s.opts.MaxConnsPerAddr {
		return false
	}
	s.perAddr[group]++
	return true
}

// release uncounts a connection admitted from group. Callers hold s.mu.
func (s *Server) release(group netip.Prefix) {
	if n := s.perAddr[group]; n > 1 {
		s.perAddr[group] = n - 1
	} else {
		delete(s.perAddr, group)
	}
}
