package bitpack

import (
	"math"
	"math/rand/v2"
	"slices"
)

// Shared test fixtures: the three decoders behind one signature (for error tests that do not
// care about values), and generators of realistic and adversarial sequences.

// decodeFunc decodes src with one of the three decoders and reports only n and err.
type decodeFunc func(src []byte, maxCount int) (int, error)

var decoders = []struct {
	name   string
	decode decodeFunc
}{
	{"sorted", func(src []byte, maxCount int) (int, error) {
		_, n, err := DecodeSorted(nil, src, maxCount)
		return n, err
	}},
	{"unsorted", func(src []byte, maxCount int) (int, error) {
		_, n, err := DecodeUnsorted(nil, src, maxCount)
		return n, err
	}},
	{"signed", func(src []byte, maxCount int) (int, error) {
		_, n, err := DecodeSigned(nil, src, maxCount)
		return n, err
	}},
}

// lengths crosses every block boundary that matters: empty, single, one partial block, one
// exactly full block (128 deltas = 129 values), and several blocks.
var lengths = []int{0, 1, 2, 3, 127, 128, 129, 130, 256, 257, 258, 1000, 1025}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x6865617274)) }

// randomUint64s returns n values drawn from a mix of shapes: small, full-range, clustered
// with outliers, and the extremes.
func randomUint64s(r *rand.Rand, n int) []uint64 {
	vals := make([]uint64, n)
	shape := r.IntN(5)
	base := r.Uint64()
	for i := range vals {
		switch shape {
		case 0: // small values
			vals[i] = r.Uint64N(1000)
		case 1: // full range
			vals[i] = r.Uint64()
		case 2: // clustered around base, occasional outlier
			if r.IntN(50) == 0 {
				vals[i] = r.Uint64()
			} else {
				vals[i] = base + r.Uint64N(4096) - 2048
			}
		case 3: // extremes and their neighbours
			vals[i] = []uint64{0, 1, 2, math.MaxUint64, math.MaxUint64 - 1, 1 << 63, 1<<63 - 1}[r.IntN(7)]
		default: // random bit width per value
			vals[i] = r.Uint64() >> r.UintN(65)
		}
	}
	return vals
}

// randomSorted returns n non-decreasing values (with runs of equal values and big gaps).
func randomSorted(r *rand.Rand, n int) []uint64 {
	vals := randomUint64s(r, n)
	slices.Sort(vals)
	return vals
}

// randomInt64s returns n signed values of mixed shapes, including MinInt64/MaxInt64
// neighbours and timestamp-like series.
func randomInt64s(r *rand.Rand, n int) []int64 {
	vals := make([]int64, n)
	if r.IntN(3) == 0 { // timestamp-like: increasing with jitter
		t := r.Int64N(1 << 42)
		for i := range vals {
			t += 10_000 + r.Int64N(101) - 50
			vals[i] = t
		}
		return vals
	}
	for i, u := range randomUint64s(r, n) {
		vals[i] = int64(u)
		if r.IntN(4) == 0 {
			vals[i] = []int64{math.MinInt64, math.MinInt64 + 1, math.MaxInt64, math.MaxInt64 - 1, -1, 0, 1}[r.IntN(7)]
		}
	}
	return vals
}
