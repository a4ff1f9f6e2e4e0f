package main

import (
	"math/rand/v2"
	"sort"

	"heartline/protocol/presencekv"
)

// bucketValues encodes one presence value per bucket: the sessions of that bucket on one
// gateway when `online` members are spread over `gateways` gateways and `buckets` buckets,
// as the agent would write them.
func bucketValues(buckets, gateways, online int, seed uint64) ([][]byte, error) {
	per := max(1, online/gateways/buckets)
	rng := rand.New(rand.NewPCG(seed, 1))
	var codec presencekv.Codec
	out := make([][]byte, buckets)
	ss := make([]presencekv.Session, per)
	for b := range out {
		for i := range ss {
			ss[i] = presencekv.Session{User: rng.Uint64N(1 << 34), Device: 1 + rng.Uint32N(3), Status: uint8(1 + rng.IntN(2)), Since: 1_763_900_000_000 + rng.Int64N(86_400_000)}
		}
		sort.Slice(ss, func(i, j int) bool {
			return ss[i].User < ss[j].User || ss[i].User == ss[j].User && ss[i].Device < ss[j].Device
		})
		ss = dedup(ss)
		v, err := codec.AppendSessions(nil, ss)
		if err != nil {
			return nil, err
		}
		out[b] = v
		ss = ss[:per]
	}
	return out, nil
}

func dedup(ss []presencekv.Session) []presencekv.Session {
	j := 0
	for i := range ss {
		if i > 0 && ss[i].User == ss[j-1].User && ss[i].Device == ss[j-1].Device {
			continue
		}
		ss[j] = ss[i]
		j++
	}
	return ss[:j]
}

// batches splits n ops into transactions of at most maxOps ops and maxBytes of values:
// the agent's limits. sizes[i] is op i's value size.
func batches(sizes []int, maxOps, maxBytes int) [][2]int {
	var out [][2]int
	start, bytes := 0, 0
	for i, s := range sizes {
		if i > start && (i-start >= maxOps || bytes+s > maxBytes) {
			out = append(out, [2]int{start, i})
			start, bytes = i, 0
		}
		bytes += s
	}
	if start < len(sizes) {
		out = append(out, [2]int{start, len(sizes)})
	}
	return out
}
