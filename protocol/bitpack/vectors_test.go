package bitpack

import (
	"bytes"
	"encoding/hex"
	"math"
	"os"
	"regexp"
	"slices"
	"testing"
)

// Byte-exact test vectors. The same hex strings are listed in PROTOCOL.md (section "Delta +
// bit-packing codec"; TestVectorsMatchProtocolDoc keeps the two in step) so other implementations (apps, relays) can check themselves against them.
// If one of these changes, the wire format changed: that needs a protocol version bump.

var sortedVectors = []struct {
	vals []uint64
	hex  string
}{
	{nil, "00"},
	{[]uint64{5, 5, 5}, "030500"},
	{[]uint64{1000, 1003, 1010, 1100}, "04e80707838316"},
}

var unsortedVectors = []struct {
	vals []uint64
	hex  string
}{
	{[]uint64{42, 7, 7, 1000}, "042a0b450080f001"},
}

var signedVectors = []struct {
	vals []int64
	hex  string
}{
	{[]int64{1718234567000, 1718234577012, 1718234586995, 1718234597003, 1718234606950}, "05b0c596ec81640f384eff268cd3b609"},
	{[]int64{math.MinInt64, math.MaxInt64}, "02ffffffffffffffffff010101"},
}

func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestVectorsSorted(t *testing.T) {
	for _, v := range sortedVectors {
		enc, err := AppendSorted(nil, v.vals)
		if err != nil || hex.EncodeToString(enc) != v.hex {
			t.Errorf("AppendSorted(%v) = %x, %v; want %s", v.vals, enc, err, v.hex)
		}
		src := mustHex(t, v.hex)
		got, n, err := DecodeSorted(nil, src, 10)
		if err != nil || n != len(src) || !slices.Equal(got, v.vals) {
			t.Errorf("DecodeSorted(%s) = %v, %d, %v; want %v", v.hex, got, n, err, v.vals)
		}
	}
}

func TestVectorsUnsorted(t *testing.T) {
	for _, v := range unsortedVectors {
		if enc := AppendUnsorted(nil, v.vals); hex.EncodeToString(enc) != v.hex {
			t.Errorf("AppendUnsorted(%v) = %x; want %s", v.vals, enc, v.hex)
		}
		src := mustHex(t, v.hex)
		got, n, err := DecodeUnsorted(nil, src, 10)
		if err != nil || n != len(src) || !slices.Equal(got, v.vals) {
			t.Errorf("DecodeUnsorted(%s) = %v, %d, %v; want %v", v.hex, got, n, err, v.vals)
		}
	}
}

func TestVectorsSigned(t *testing.T) {
	for _, v := range signedVectors {
		if enc := AppendSigned(nil, v.vals); hex.EncodeToString(enc) != v.hex {
			t.Errorf("AppendSigned(%v) = %x; want %s", v.vals, enc, v.hex)
		}
		src := mustHex(t, v.hex)
		got, n, err := DecodeSigned(nil, src, 10)
		if err != nil || n != len(src) || !slices.Equal(got, v.vals) {
			t.Errorf("DecodeSigned(%s) = %v, %d, %v; want %v", v.hex, got, n, err, v.vals)
		}
	}
}

// TestVectorDiagram pins the field split of one vector as PROTOCOL.md draws it, so the
// documentation cannot drift from the code: count | first | width | packed bits.
func TestVectorDiagram(t *testing.T) {
	enc, _ := AppendSorted(nil, []uint64{1000, 1003, 1010, 1100})
	parts := [][]byte{{0x04}, {0xe8, 0x07}, {0x07}, {0x83, 0x83, 0x16}}
	if !bytes.Equal(enc, bytes.Join(parts, nil)) {
		t.Fatalf("encoding %x does not split as documented", enc)
	}
	// Deltas 3, 7, 90 at width 7, LSB-first: 3 | 7<<7 | 90<<14 = 0x168383.
	if packed := uint32(enc[4]) | uint32(enc[5])<<8 | uint32(enc[6])<<16; packed != 3|7<<7|90<<14 {
		t.Fatalf("packed bits %#x", packed)
	}
}

// TestVectorsMatchProtocolDoc checks that every vector above appears in PROTOCOL.md's codec
// table with its kind, and that the table lists no vector the code does not check, so the
// specification cannot drift from the implementation.
func TestVectorsMatchProtocolDoc(t *testing.T) {
	doc, err := os.ReadFile("../PROTOCOL.md")
	if err != nil {
		t.Fatalf("read PROTOCOL.md: %v", err)
	}
	row := regexp.MustCompile("(?m)^\\| (sorted|unsorted|signed) \\|.*\\| `([0-9a-f]+)` \\|$")
	inDoc := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		inDoc[m[2]] = m[1]
	}
	inCode := map[string]string{}
	for _, v := range sortedVectors {
		inCode[v.hex] = "sorted"
	}
	for _, v := range unsortedVectors {
		inCode[v.hex] = "unsorted"
	}
	for _, v := range signedVectors {
		inCode[v.hex] = "signed"
	}
	for h, kind := range inCode {
		if inDoc[h] != kind {
			t.Errorf("vector %s (%s) is not in PROTOCOL.md's codec table as %s", h, kind, kind)
		}
	}
	for h, kind := range inDoc {
		if inCode[h] != kind {
			t.Errorf("PROTOCOL.md lists %s vector %s that the tests do not check", kind, h)
		}
	}
}
