package client

import (
	"encoding/binary"
	"hash/fnv"
	"sort"
)

// PickGateway returns the gateway a user should talk to: the one with the highest
// rendezvous score for the user id. Rendezvous (highest-random-weight) hashing is a
// consistent hash: when a gateway leaves the list only its own users move, and every
// client with the same list picks the same gateway without coordination.
// It returns "" for an empty list.
func PickGateway(user uint64, gateways []string) string {
	best, bestScore := "", uint64(0)
	for _, g := range gateways {
		if s := score(user, g); best == "" || s > bestScore || (s == bestScore && g < best) {
			best, bestScore = g, s
		}
	}
	return best
}

// GatewayOrder returns gateways in the order a user should try them: the rendezvous
// winner first, then the gateway that would win if the first were gone, and so on. A
// client that cannot reach its gateway moves to the next one, as every other client of
// that user would.
func GatewayOrder(user uint64, gateways []string) []string {
	out := append([]string(nil), gateways...)
	sort.SliceStable(out, func(i, j int) bool {
		si, sj := score(user, out[i]), score(user, out[j])
		if si != sj {
			return si > sj
		}
		return out[i] < out[j]
	})
	return out
}

func score(user uint64, gateway string) uint64 {
	h := fnv.New64a()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], user)
	h.Write(b[:])
	h.Write([]byte(gateway))
	return mix64(h.Sum64())
}

// mix64 is the SplitMix64 finaliser: FNV alone distributes poorly in the high bits for
// inputs that differ only in a few bytes.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
