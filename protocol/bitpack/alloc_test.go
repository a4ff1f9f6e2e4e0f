package bitpack

import (
	"testing"
)

// The codec runs per frame on the gateway's hot path: with enough capacity in dst, neither
// direction may allocate.
func TestZeroAllocs(t *testing.T) {
	r := newRand(6)
	sorted := randomSorted(r, 1000)
	unsorted := randomUint64s(r, 1000)
	signed := randomInt64s(r, 1000)
	encSorted, _ := AppendSorted(nil, sorted)
	encUnsorted := AppendUnsorted(nil, unsorted)
	encSigned := AppendSigned(nil, signed)

	buf := make([]byte, 0, 16<<10)
	u64 := make([]uint64, 0, len(sorted))
	i64 := make([]int64, 0, len(signed))
	cases := []struct {
		name string
		fn   func()
	}{
		{"AppendSorted", func() { buf, _ = AppendSorted(buf[:0], sorted) }},
		{"AppendUnsorted", func() { buf = AppendUnsorted(buf[:0], unsorted) }},
		{"AppendSigned", func() { buf = AppendSigned(buf[:0], signed) }},
		{"DecodeSorted", func() { u64, _, _ = DecodeSorted(u64[:0], encSorted, 1000) }},
		{"DecodeUnsorted", func() { u64, _, _ = DecodeUnsorted(u64[:0], encUnsorted, 1000) }},
		{"DecodeSigned", func() { i64, _, _ = DecodeSigned(i64[:0], encSigned, 1000) }},
	}
	for _, c := range cases {
		if allocs := testing.AllocsPerRun(50, c.fn); allocs != 0 {
			t.Errorf("%s allocated %v times per run with enough capacity, want 0", c.name, allocs)
		}
	}
	if cap(buf) != 16<<10 || cap(u64) != 1000 || cap(i64) != 1000 {
		t.Fatalf("buffers were reallocated")
	}
}
