package ingest

import (
	"encoding/binary"
	"net/netip"
)

// Addr is a peer address as the kernel gives it: a raw sockaddr_in or sockaddr_in6 in
// Linux layout (family in host order, port and address in network order). Keeping it as
// bytes lets recvmmsg fill it in place and sendmmsg use it back without any conversion or
// allocation. The portable loop converts netip.AddrPort to the same layout.
type Addr struct {
	Raw [28]byte // sizeof(sockaddr_in6)
	Len uint32
}

const (
	afInet  = 2  // AF_INET on Linux
	afInet6 = 10 // AF_INET6 on Linux
)

// Key returns a 64-bit key of the source IP (not the port: a rate limit per address must
// not be escaped by changing ports).
func (a *Addr) Key() uint64 {
	switch binary.LittleEndian.Uint16(a.Raw[0:2]) {
	case afInet:
		return uint64(binary.BigEndian.Uint32(a.Raw[4:8])) | 4<<56
	case afInet6:
		hi := binary.BigEndian.Uint64(a.Raw[8:16])
		lo := binary.BigEndian.Uint64(a.Raw[16:24])
		return hi*0x9E3779B97F4A7C15 ^ lo ^ 6<<56
	}
	return 0
}

// AddrPort converts to netip (allocation-free); the zero AddrPort if the family is unknown.
func (a *Addr) AddrPort() netip.AddrPort {
	port := binary.BigEndian.Uint16(a.Raw[2:4])
	switch binary.LittleEndian.Uint16(a.Raw[0:2]) {
	case afInet:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(a.Raw[4:8])), port)
	case afInet6:
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(a.Raw[8:24])), port)
	}
	return netip.AddrPort{}
}

// SetAddrPort fills a from ap.
func (a *Addr) SetAddrPort(ap netip.AddrPort) {
	*a = Addr{}
	binary.BigEndian.PutUint16(a.Raw[2:4], ap.Port())
	if ip := ap.Addr(); ip.Is4() {
		binary.LittleEndian.PutUint16(a.Raw[0:2], afInet)
		b := ip.As4()
		copy(a.Raw[4:8], b[:])
		a.Len = 16
	} else {
		binary.LittleEndian.PutUint16(a.Raw[0:2], afInet6)
		b := ip.As16()
		copy(a.Raw[8:24], b[:])
		a.Len = 28
	}
}
