package bitpack

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

// Fuzz targets: any byte string either decodes or fails with one of the typed errors, never
// panics, and never consumes more than it was given. Because encodings are canonical, a
// successful decode re-encodes to exactly the bytes consumed, and those decode to the same
// values again.

// fuzzMaxCount is generous for fuzz-sized inputs (128 zero deltas per byte) yet bounded.
const fuzzMaxCount = 1 << 16

func addSeeds(f *testing.F, kind string) {
	f.Add([]byte{})
	f.Add([]byte{0})
	for _, v := range sortedVectors {
		f.Add(mustHex(f, v.hex))
	}
	for _, v := range unsortedVectors {
		f.Add(mustHex(f, v.hex))
	}
	for _, v := range signedVectors {
		f.Add(mustHex(f, v.hex))
	}
	r := newRand(7)
	for _, n := range []int{2, 129, 260} {
		switch kind {
		case "sorted":
			enc, _ := AppendSorted(nil, randomSorted(r, n))
			f.Add(enc)
		case "unsorted":
			f.Add(AppendUnsorted(nil, randomUint64s(r, n)))
		default:
			f.Add(AppendSigned(nil, randomInt64s(r, n)))
		}
	}
	for _, c := range corruptCases(f) {
		f.Add(c.src)
	}
}

// checkFailure asserts the contract for a failed decode.
func checkFailure(t *testing.T, n, gotLen, wantLen int, err error) {
	t.Helper()
	if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrTooMany) && !errors.Is(err, ErrCorrupt) {
		t.Fatalf("untyped error %v", err)
	}
	if n != 0 || gotLen != wantLen {
		t.Fatalf("on error: n=%d, dst length %d (want 0, %d)", n, gotLen, wantLen)
	}
}

func FuzzDecodeSorted(f *testing.F) {
	addSeeds(f, "sorted")
	f.Fuzz(func(t *testing.T, src []byte) {
		got, n, err := DecodeSorted([]uint64{42}, src, fuzzMaxCount)
		if err != nil {
			checkFailure(t, n, len(got), 1, err)
			return
		}
		if n < 1 || n > len(src) || got[0] != 42 {
			t.Fatalf("n=%d of %d bytes, dst prefix %d", n, len(src), got[0])
		}
		vals := got[1:]
		if !slices.IsSorted(vals) {
			t.Fatalf("decoded values are not sorted")
		}
		enc, err := AppendSorted(nil, vals)
		if err != nil || !bytes.Equal(enc, src[:n]) {
			t.Fatalf("re-encoding %x (err %v) differs from consumed input %x", enc, err, src[:n])
		}
		again, n2, err := DecodeSorted(nil, enc, fuzzMaxCount)
		if err != nil || n2 != len(enc) || !slices.Equal(again, vals) {
			t.Fatalf("re-encoding does not decode to the same values: %v", err)
		}
	})
}

func FuzzDecodeUnsorted(f *testing.F) {
	addSeeds(f, "unsorted")
	f.Fuzz(func(t *testing.T, src []byte) {
		got, n, err := DecodeUnsorted([]uint64{42}, src, fuzzMaxCount)
		if err != nil {
			checkFailure(t, n, len(got), 1, err)
			return
		}
		if n < 1 || n > len(src) || got[0] != 42 {
			t.Fatalf("n=%d of %d bytes, dst prefix %d", n, len(src), got[0])
		}
		vals := got[1:]
		enc := AppendUnsorted(nil, vals)
		if !bytes.Equal(enc, src[:n]) {
			t.Fatalf("re-encoding %x differs from consumed input %x", enc, src[:n])
		}
		again, n2, err := DecodeUnsorted(nil, enc, fuzzMaxCount)
		if err != nil || n2 != len(enc) || !slices.Equal(again, vals) {
			t.Fatalf("re-encoding does not decode to the same values: %v", err)
		}
	})
}

func FuzzDecodeSigned(f *testing.F) {
	addSeeds(f, "signed")
	f.Fuzz(func(t *testing.T, src []byte) {
		got, n, err := DecodeSigned([]int64{-42}, src, fuzzMaxCount)
		if err != nil {
			checkFailure(t, n, len(got), 1, err)
			return
		}
		if n < 1 || n > len(src) || got[0] != -42 {
			t.Fatalf("n=%d of %d bytes, dst prefix %d", n, len(src), got[0])
		}
		vals := got[1:]
		enc := AppendSigned(nil, vals)
		if !bytes.Equal(enc, src[:n]) {
			t.Fatalf("re-encoding %x differs from consumed input %x", enc, src[:n])
		}
		again, n2, err := DecodeSigned(nil, enc, fuzzMaxCount)
		if err != nil || n2 != len(enc) || !slices.Equal(again, vals) {
			t.Fatalf("re-encoding does not decode to the same values: %v", err)
		}
	})
}
