package tcp

import (
	"net/netip"
	"testing"
)

func TestAddrGroupIsTheIPv4AddressOrTheIPv6Slash64(t *testing.T) {
	g := func(s string) netip.Prefix { return addrGroup(netip.MustParseAddrPort(s)) }
	if g("[2001:db8:1:2::1]:1") != g("[2001:db8:1:2:ffff::9]:2") {
		t.Fatal("two addresses of one IPv6 /64 are different groups")
	}
	if g("[2001:db8:1:2::1]:1") == g("[2001:db8:1:3::1]:1") {
		t.Fatal("two IPv6 /64s share a group")
	}
	if g("10.0.0.1:1") != g("[::ffff:10.0.0.1]:2") {
		t.Fatal("an IPv4-mapped address is not grouped with its IPv4 address")
	}
	if g("10.0.0.1:1") == g("10.0.0.2:1") {
		t.Fatal("two IPv4 addresses share a group")
	}
}
