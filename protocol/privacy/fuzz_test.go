package privacy

import (
	"bytes"
	"testing"
)

func FuzzDecodeRecord(f *testing.F) {
	var r Record
	r.SetMode(5, ModeNobody)
	r.Revoke(5, 9, 100, RevokeBlock)
	f.Add(r.Append(nil))
	f.Add([]byte("HP\x01"))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := DecodeRecord(in)
		if err != nil {
			return
		}
		// A decoded record re-encodes to a value that decodes to the same record.
		again, err := DecodeRecord(got.Append(nil))
		if err != nil || len(again.Modes) != len(got.Modes) || len(again.Revoked) != len(got.Revoked) {
			t.Fatalf("re-encode: %v", err)
		}
	})
}

func FuzzOpenGrant(f *testing.F) {
	ring := testRing(f)
	b, err := Seal(nil, ring, &Grant{Viewer: 1, IssuedMS: 1, ExpiresMS: 1 << 50, Subjects: []uint64{2, 3}, Basis: []Basis{1, 2}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte{1, 0, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		g, err := Open(ring, in, 10)
		if err != nil {
			return
		}
		if len(g.Subjects) != len(g.Basis) || len(g.Subjects) == 0 {
			t.Fatalf("opened an inconsistent grant: %+v", g)
		}
	})
}

// FuzzDecodeGrantPlaintext reaches the decoder behind the seal (the seal keeps random
// input from it).
func FuzzDecodeGrantPlaintext(f *testing.F) {
	f.Add(bytes.Repeat([]byte{0}, 30))
	f.Fuzz(func(t *testing.T, in []byte) {
		g, err := decodePlain(in)
		if err != nil {
			return
		}
		if len(g.Subjects) != len(g.Basis) || len(g.Subjects) > MaxGrantSubjects {
			t.Fatalf("inconsistent: %d subjects, %d bases", len(g.Subjects), len(g.Basis))
		}
	})
}
