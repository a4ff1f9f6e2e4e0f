package hl1

import (
	"errors"
	"testing"
)

func TestRehellosRoundTripAndLimits(t *testing.T) {
	rs := []Rehello{{Slot: 42, Reason: RehelloUnknownSlot}, {Slot: 43, Reason: RehelloExpired}, {Slot: 0xffffffff, Reason: RehelloDraining}}
	f, err := AppendRehellos(nil, rs)
	if err != nil {
		t.Fatal(err)
	}
	if len(f) != 3+3*RehellosEntrySize {
		t.Fatalf("%d bytes, want %d", len(f), 3+3*RehellosEntrySize)
	}
	got, err := ParseRehellos(f, nil)
	if err != nil || len(got) != 3 || got[0] != rs[0] || got[1] != rs[1] || got[2] != rs[2] {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	if _, err := AppendRehellos(nil, nil); !errors.Is(err, ErrBadValue) {
		t.Fatalf("empty: %v", err)
	}
	if _, err := AppendRehellos(nil, make([]Rehello, MaxBatchEntries+1)); !errors.Is(err, ErrBadValue) {
		t.Fatalf("too many: %v", err)
	}
	if _, err := AppendRehellos(nil, []Rehello{{Slot: 1}}); !errors.Is(err, ErrBadValue) {
		t.Fatalf("reason 0: %v", err)
	}
	for _, c := range []struct {
		name string
		in   []byte
		want error
	}{
		{"short", f[:2], ErrShort},
		{"count 0", []byte{0x1C, 0, 0}, ErrBadValue},
		{"truncated entry", f[:len(f)-1], ErrShort},
		{"trailing", append(append([]byte{}, f...), 0), ErrTrailing},
		{"reason 0", []byte{0x1C, 0, 1, 0, 0, 0, 1, 0}, ErrBadValue},
		{"a REHELLO", AppendRehello(nil, rs[0]), ErrWrongType},
	} {
		if _, err := ParseRehellos(c.in, nil); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// A BATCH is always answered by a smaller frame: the REHELLOS for all its entries is smaller
// than the smallest BATCH of as many entries (consecutive slots: 1 bit each).
func TestRehellosNeverLargerThanTheBatch(t *testing.T) {
	for n := 1; n <= MaxBatchEntries; n++ {
		var b Batch // filled directly: Add stops at BatchFitEntries, dense slots fit more
		for i := 0; i < n; i++ {
			b.Slots, b.Words, b.Tags = append(b.Slots, uint64(i)), append(b.Words, 0), append(b.Tags, 0)
		}
		batch, err := AppendBatch(nil, &b)
		if err != nil {
			t.Fatal(err)
		}
		rs := make([]Rehello, n)
		for i := range rs {
			rs[i] = Rehello{Slot: uint32(i), Reason: RehelloUnknownSlot}
		}
		reply, err := AppendRehellos(nil, rs)
		if err != nil {
			t.Fatal(err)
		}
		if len(reply) >= len(batch) {
			t.Fatalf("%d entries: REHELLOS %d bytes >= BATCH %d bytes", n, len(reply), len(batch))
		}
	}
}
