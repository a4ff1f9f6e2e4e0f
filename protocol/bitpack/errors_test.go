package bitpack

import (
	"errors"
	"math"
	"slices"
	"testing"
)

// validEncodings returns encodings (and their decoder) of assorted shapes, including
// multi-byte varints, several blocks and wide deltas, for truncation tests.
func validEncodings(t *testing.T) []struct {
	name string
	src  []byte
} {
	t.Helper()
	r := newRand(4)
	var out []struct {
		name string
		src  []byte
	}
	add := func(name string, src []byte) {
		out = append(out, struct {
			name string
			src  []byte
		}{name, src})
	}
	for _, n := range []int{1, 2, 129, 300} {
		s, err := AppendSorted(nil, randomSorted(r, n))
		if err != nil {
			t.Fatal(err)
		}
		add("sorted", s)
		add("unsorted", AppendUnsorted(nil, randomUint64s(r, n)))
		add("signed", AppendSigned(nil, randomInt64s(r, n)))
	}
	add("unsorted", AppendUnsorted(nil, []uint64{math.MaxUint64, 0, math.MaxUint64}))
	add("signed", AppendSigned(nil, []int64{math.MinInt64, math.MaxInt64, 0}))
	return out
}

func decoderByName(name string) decodeFunc {
	for _, d := range decoders {
		if d.name == name {
			return d.decode
		}
	}
	panic(name)
}

// TestTruncatedEveryPrefix: every strict prefix of a valid encoding is ErrTruncated, never a
// panic, another error or a short success.
func TestTruncatedEveryPrefix(t *testing.T) {
	for _, e := range validEncodings(t) {
		decode := decoderByName(e.name)
		if n, err := decode(e.src, math.MaxInt); err != nil || n != len(e.src) {
			t.Fatalf("%s: full encoding: n=%d err=%v", e.name, n, err)
		}
		for i := range len(e.src) {
			n, err := decode(e.src[:i], math.MaxInt)
			if !errors.Is(err, ErrTruncated) || n != 0 {
				t.Fatalf("%s: prefix %d/%d: n=%d err=%v, want ErrTruncated", e.name, i, len(e.src), n, err)
			}
		}
	}
}

func TestMaxCount(t *testing.T) {
	r := newRand(5)
	vals := randomSorted(r, 10)
	srcs := map[string][]byte{"unsorted": AppendUnsorted(nil, vals), "signed": AppendSigned(nil, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})}
	srcs["sorted"], _ = AppendSorted(nil, vals)
	for _, d := range decoders {
		src := srcs[d.name]
		if _, err := d.decode(src, 10); err != nil {
			t.Fatalf("%s: maxCount == count: %v", d.name, err)
		}
		for _, maxCount := range []int{9, 0, -1, math.MinInt} {
			if n, err := d.decode(src, maxCount); !errors.Is(err, ErrTooMany) || n != 0 {
				t.Fatalf("%s: maxCount %d: n=%d err=%v, want ErrTooMany", d.name, maxCount, n, err)
			}
		}
		// The empty sequence is within any limit, even 0.
		if n, err := d.decode([]byte{0}, 0); err != nil || n != 1 {
			t.Fatalf("%s: empty with maxCount 0: n=%d err=%v", d.name, n, err)
		}
	}
}

// TestHostileCountDoesNotAllocate: a huge declared count is rejected before any allocation,
// whether by maxCount (ErrTooMany) or because the input is too short to hold it (ErrTruncated).
func TestHostileCountDoesNotAllocate(t *testing.T) {
	huge := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x00} // 2^63-1 values
	// 2^20+1 values (8192 blocks) but only 3 bytes left for blocks.
	tooShort := []byte{0x81, 0x80, 0x40, 0x00, 0x00, 0x00, 0x00}
	var err error
	allocs := testing.AllocsPerRun(100, func() {
		_, _, err = DecodeSorted(nil, huge, 1<<20)
		if !errors.Is(err, ErrTooMany) {
			panic(err)
		}
		_, _, err = DecodeSigned(nil, tooShort, math.MaxInt)
		if !errors.Is(err, ErrTruncated) {
			panic(err)
		}
		_, _, err = DecodeUnsorted(nil, tooShort, math.MaxInt)
		if !errors.Is(err, ErrTruncated) {
			panic(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("rejecting a hostile count allocated %v times", allocs)
	}
}

// corruptCases are inputs that are not canonical encodings. want maps decoder name to the
// expected error (nil: that decoder accepts the input, which the table also checks).
func corruptCases(t testing.TB) []struct {
	why  string
	src  []byte
	want map[string]error
} {
	all := func(err error) map[string]error {
		return map[string]error{"sorted": err, "unsorted": err, "signed": err}
	}
	// Two sorted deltas of 2^62 after a first value of 2^63 sum to exactly 2^64.
	overflow := append([]byte{0x03, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01},
		appendBlock(nil, []uint64{1 << 62, 1 << 62})...)
	return []struct {
		why  string
		src  []byte
		want map[string]error
	}{
		{"overlong count varint", mustHex(t, "8000"), all(ErrCorrupt)},
		{"overlong first value varint", mustHex(t, "018000"), all(ErrCorrupt)},
		{"count varint of 11 bytes", mustHex(t, "ffffffffffffffffffff01"), all(ErrCorrupt)},
		{"count varint overflowing 64 bits", mustHex(t, "ffffffffffffffffff02"), all(ErrCorrupt)},
		{"first value varint overflowing 64 bits", mustHex(t, "01ffffffffffffffffff02"), all(ErrCorrupt)},
		{"width 65", append(mustHex(t, "020041"), make([]byte, 9)...), all(ErrCorrupt)},
		{"width 255", append(mustHex(t, "0200ff"), make([]byte, 32)...), all(ErrCorrupt)},
		{"width wider than the largest delta", mustHex(t, "02000201"), all(ErrCorrupt)},
		{"width 64 for a 63-bit delta", append(mustHex(t, "020040"), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f), all(ErrCorrupt)},
		{"non-zero padding bit", mustHex(t, "02000103"), all(ErrCorrupt)},
		{"non-zero padding in a later byte", mustHex(t, "0200090003"), all(ErrCorrupt)},
		{"sorted sum wraps past 2^64-1 (first+delta)", mustHex(t, "02ffffffffffffffffff010101"),
			map[string]error{"sorted": ErrCorrupt, "unsorted": nil, "signed": nil}},
		{"sorted sum wraps past 2^64-1 (two deltas)", overflow,
			map[string]error{"sorted": ErrCorrupt, "unsorted": nil, "signed": nil}},
	}
}

func TestCorrupt(t *testing.T) {
	for _, c := range corruptCases(t) {
		for _, d := range decoders {
			n, err := d.decode(c.src, 1000)
			want := c.want[d.name]
			if !errors.Is(err, want) || (want == nil && n != len(c.src)) || (want != nil && n != 0) {
				t.Errorf("%s, %s decoder: n=%d err=%v, want %v", c.why, d.name, n, err, want)
			}
		}
	}
}

// TestErrorLeavesDst: on error the decoders return dst with its original length and contents.
func TestErrorLeavesDst(t *testing.T) {
	good, _ := AppendSorted(nil, []uint64{1, 2, 3, 400, 401})
	bad := good[:len(good)-1]
	dst := make([]uint64, 2, 10)
	dst[0], dst[1] = 7, 8
	got, n, err := DecodeSorted(dst, bad, 100)
	if !errors.Is(err, ErrTruncated) || n != 0 || !slices.Equal(got, []uint64{7, 8}) {
		t.Fatalf("DecodeSorted on error: %v %d %v", got, n, err)
	}
	gotU, _, err := DecodeUnsorted(dst, AppendUnsorted(nil, []uint64{1, 2, 3})[:3], 100)
	if err == nil || !slices.Equal(gotU, []uint64{7, 8}) {
		t.Fatalf("DecodeUnsorted on error: %v %v", gotU, err)
	}
	gotS, _, err := DecodeSigned([]int64{-1}, AppendSigned(nil, []int64{1, 2, 3})[:3], 100)
	if err == nil || !slices.Equal(gotS, []int64{-1}) {
		t.Fatalf("DecodeSigned on error: %v %v", gotS, err)
	}
}
