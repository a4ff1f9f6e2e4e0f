package bitpack

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"testing"
)

// extremes lists hand-picked sequences every kind must round-trip.
var extremeUint64s = [][]uint64{
	nil,
	{0},
	{math.MaxUint64},
	{7, 7, 7, 7, 7},
	{0, math.MaxUint64},
	{math.MaxUint64, 0},
	{0, math.MaxUint64, 0, math.MaxUint64},
	{1 << 63, 1<<63 - 1, 1 << 63},
	{math.MaxUint64 - 1, math.MaxUint64, math.MaxUint64},
}

var extremeInt64s = [][]int64{
	nil,
	{0},
	{math.MinInt64},
	{math.MaxInt64},
	{-5, -5, -5},
	{math.MinInt64, math.MaxInt64},
	{math.MaxInt64, math.MinInt64},
	{math.MinInt64, math.MinInt64 + 1, math.MaxInt64 - 1, math.MaxInt64, math.MinInt64},
	{-1, 0, 1, -1, math.MaxInt64, -1},
}

// checkSorted encodes vals with a prefix in dst, decodes with a prefix in the destination and
// a trailing byte after the encoding, and checks values, n, prefixes and canonical re-encoding.
func checkSorted(t *testing.T, vals []uint64) {
	t.Helper()
	prefix := []byte{0xAA, 0xBB}
	enc, err := AppendSorted(slices.Clone(prefix), vals)
	if err != nil {
		t.Fatalf("AppendSorted(%d values): %v", len(vals), err)
	}
	if !bytes.Equal(enc[:2], prefix) {
		t.Fatalf("AppendSorted overwrote dst's prefix")
	}
	body := enc[2:]
	src := append(slices.Clone(body), 0xFF) // a following byte must stay unread
	got, n, err := DecodeSorted([]uint64{99}, src, len(vals))
	if err != nil {
		t.Fatalf("DecodeSorted(%d values): %v", len(vals), err)
	}
	if n != len(body) {
		t.Fatalf("DecodeSorted consumed %d bytes, encoding is %d", n, len(body))
	}
	if got[0] != 99 || !slices.Equal(got[1:], vals) {
		t.Fatalf("DecodeSorted mismatch for %d values", len(vals))
	}
	again, _ := AppendSorted(nil, got[1:])
	if !bytes.Equal(again, body) {
		t.Fatalf("re-encoding is not byte-identical (codec not canonical)")
	}
}

func checkUnsorted(t *testing.T, vals []uint64) {
	t.Helper()
	prefix := []byte{0xAA, 0xBB}
	enc := AppendUnsorted(slices.Clone(prefix), vals)
	if !bytes.Equal(enc[:2], prefix) {
		t.Fatalf("AppendUnsorted overwrote dst's prefix")
	}
	body := enc[2:]
	src := append(slices.Clone(body), 0xFF)
	got, n, err := DecodeUnsorted([]uint64{99}, src, len(vals))
	if err != nil {
		t.Fatalf("DecodeUnsorted(%d values): %v", len(vals), err)
	}
	if n != len(body) {
		t.Fatalf("DecodeUnsorted consumed %d bytes, encoding is %d", n, len(body))
	}
	if got[0] != 99 || !slices.Equal(got[1:], vals) {
		t.Fatalf("DecodeUnsorted mismatch for %d values", len(vals))
	}
	if again := AppendUnsorted(nil, got[1:]); !bytes.Equal(again, body) {
		t.Fatalf("re-encoding is not byte-identical (codec not canonical)")
	}
}

func checkSigned(t *testing.T, vals []int64) {
	t.Helper()
	prefix := []byte{0xAA, 0xBB}
	enc := AppendSigned(slices.Clone(prefix), vals)
	if !bytes.Equal(enc[:2], prefix) {
		t.Fatalf("AppendSigned overwrote dst's prefix")
	}
	body := enc[2:]
	src := append(slices.Clone(body), 0xFF)
	got, n, err := DecodeSigned([]int64{-99}, src, len(vals))
	if err != nil {
		t.Fatalf("DecodeSigned(%d values): %v", len(vals), err)
	}
	if n != len(body) {
		t.Fatalf("DecodeSigned consumed %d bytes, encoding is %d", n, len(body))
	}
	if got[0] != -99 || !slices.Equal(got[1:], vals) {
		t.Fatalf("DecodeSigned mismatch for %d values", len(vals))
	}
	if again := AppendSigned(nil, got[1:]); !bytes.Equal(again, body) {
		t.Fatalf("re-encoding is not byte-identical (codec not canonical)")
	}
}

func TestRoundTripExtremes(t *testing.T) {
	for _, vals := range extremeUint64s {
		checkUnsorted(t, vals)
		checkSorted(t, slices.Sorted(slices.Values(vals)))
	}
	for _, vals := range extremeInt64s {
		checkSigned(t, vals)
	}
}

func TestRoundTripRandom(t *testing.T) {
	r := newRand(1)
	for _, n := range lengths {
		for range 20 {
			checkSorted(t, randomSorted(r, n))
			checkUnsorted(t, randomUint64s(r, n))
			checkSigned(t, randomInt64s(r, n))
		}
	}
}

// TestRoundTripAllEqual: long runs of equal values use width-0 blocks (one byte per 128).
func TestRoundTripAllEqual(t *testing.T) {
	vals := slices.Repeat([]uint64{123456789}, 1+3*blockLen)
	checkSorted(t, vals)
	checkUnsorted(t, vals)
	enc, _ := AppendSorted(nil, vals)
	// count (2 bytes) + first (4 bytes) + three width-0 blocks.
	if want := 2 + 4 + 3; len(enc) != want {
		t.Fatalf("all-equal sequence encodes to %d bytes, want %d (width-0 blocks)", len(enc), want)
	}
	checkSigned(t, slices.Repeat([]int64{-42}, 1+3*blockLen))
}

// TestEveryWidth: a delta needing exactly w bits makes a block of width w, for w = 0..64,
// at every position of a block (exercises word-boundary straddling in the bit packer).
func TestEveryWidth(t *testing.T) {
	r := newRand(2)
	for w := range 65 {
		top := uint64(0)
		if w > 0 {
			top = 1 << (w - 1)
		}
		// Width byte sits right after count 0x02 and first value 0x00.
		enc, err := AppendSorted(nil, []uint64{0, top})
		if err != nil {
			t.Fatal(err)
		}
		if enc[2] != byte(w) {
			t.Fatalf("delta %#x: width byte %d, want %d", top, enc[2], w)
		}
		if want := 3 + (w+7)/8; len(enc) != want {
			t.Fatalf("width %d: %d bytes, want %d", w, len(enc), want)
		}
		// A full block of w-bit deltas: random lower bits, the top bit set in one place.
		for _, pos := range []int{0, 1, 63, 64, 127} {
			vals := make([]uint64, blockLen+1)
			for i := 1; i < len(vals); i++ {
				d := uint64(0)
				if w > 0 {
					d = r.Uint64() & (top - 1) // below top
				}
				if i-1 == pos {
					d = top | d
				}
				vals[i] = vals[i-1] + d // may wrap: fine for unsorted
			}
			checkUnsorted(t, vals)
			if w < 57 { // keep the sorted sum below 2^64 (128 deltas of < 2^56)
				checkSorted(t, vals)
			}
		}
	}
}

// TestConcatenated: encodings are self-delimiting, so several in a row decode one by one.
func TestConcatenated(t *testing.T) {
	r := newRand(3)
	a, b := randomSorted(r, 300), randomSorted(r, 5)
	s := randomInt64s(r, 200)
	buf, _ := AppendSorted(nil, a)
	buf, _ = AppendSorted(buf, b)
	buf = AppendSigned(buf, s)
	buf = AppendUnsorted(buf, nil)

	got, n1, err := DecodeSorted(nil, buf, 1000)
	if err != nil || !slices.Equal(got, a) {
		t.Fatalf("first: %v", err)
	}
	got, n2, err := DecodeSorted(got[:0], buf[n1:], 1000)
	if err != nil || !slices.Equal(got, b) {
		t.Fatalf("second: %v", err)
	}
	gs, n3, err := DecodeSigned(nil, buf[n1+n2:], 1000)
	if err != nil || !slices.Equal(gs, s) {
		t.Fatalf("third: %v", err)
	}
	gu, n4, err := DecodeUnsorted(nil, buf[n1+n2+n3:], 1000)
	if err != nil || len(gu) != 0 || n1+n2+n3+n4 != len(buf) {
		t.Fatalf("fourth: %v, consumed %d of %d", err, n1+n2+n3+n4, len(buf))
	}
}

func TestAppendSortedRejectsDecrease(t *testing.T) {
	dst := []byte{1, 2, 3}
	for _, vals := range [][]uint64{{2, 1}, {0, 0, 5, 4}, append(slices.Repeat([]uint64{9}, 300), 8)} {
		got, err := AppendSorted(dst, vals)
		if !errors.Is(err, ErrNotSorted) {
			t.Fatalf("AppendSorted(%v...): err %v, want ErrNotSorted", vals[:2], err)
		}
		if !bytes.Equal(got, []byte{1, 2, 3}) {
			t.Fatalf("AppendSorted changed dst on error: %x", got)
		}
	}
}
