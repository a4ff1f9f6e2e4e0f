package auth

import "net/netip"

// AddrKey is the key per-address limits use for a client IP: the address itself for IPv4,
// the /64 for IPv6 (one subscriber usually holds a whole /64, so a fresh address in it must
// not reset a limit). Unparseable input is returned unchanged.
func AddrKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}
