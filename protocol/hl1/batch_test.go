package hl1

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"heartline/protocol/bitpack"
)

func sessionKey(slot uint32) MACKey {
	var k [16]byte
	binary.LittleEndian.PutUint32(k[:], slot)
	k[15] = 0x5A
	return NewMACKey(k)
}

// sampleBatch builds a batch of n heartbeats from different sessions, added out of order.
func sampleBatch(n int, seed uint64) *Batch {
	rng := rand.New(rand.NewPCG(seed, 3))
	b := &Batch{}
	slot := uint32(0)
	for i := 0; i < n; i++ {
		slot += 1 + rng.Uint32N(50)
		hb := Beat{Slot: slot, Epoch: 77, Seq: uint64(10 + i), TS: uint64(5000 + i), Active: i%2 == 0}.Seal(sessionKey(slot))
		if err := b.Add(hb); err != nil {
			panic(err)
		}
	}
	rng.Shuffle(b.Len(), (*batchBySlot)(b).Swap)
	return b
}

func TestBatchRoundTripAndVerify(t *testing.T) {
	b := sampleBatch(100, 1)
	if _, err := AppendBatch(nil, b); err != ErrNotSorted {
		t.Fatalf("unsorted batch: %v, want ErrNotSorted", err)
	}
	b.Sort()
	frame, err := AppendBatch(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	var got Batch
	if err := ParseBatch(frame, &got); err != nil {
		t.Fatal(err)
	}
	if got.Len() != b.Len() {
		t.Fatalf("%d entries, want %d", got.Len(), b.Len())
	}
	for i := 0; i < got.Len(); i++ {
		e := got.Entry(i)
		if e != b.Entry(i) {
			t.Fatalf("entry %d: %+v != %+v", i, e, b.Entry(i))
		}
		// The gateway verifies each entry with its own session's key.
		seq, _, err := e.Open(sessionKey(e.Slot), 77, 9, 5000)
		if err != nil || seq < 10 {
			t.Fatalf("entry %d (slot %d) does not verify: %v", i, e.Slot, err)
		}
		if _, _, err := e.Open(sessionKey(e.Slot+1), 77, 9, 5000); err != ErrBadMAC {
			t.Fatalf("entry %d verifies under another session's key", i)
		}
	}
	// A relay that rewrites one entry's word cannot make it verify; the others still do.
	got.Words[5] ^= 1 << 15
	for i := 0; i < got.Len(); i++ {
		e := got.Entry(i)
		_, _, err := e.Open(sessionKey(e.Slot), 77, 9, 5000)
		if (i == 5) != (err != nil) {
			t.Fatalf("entry %d after tampering with entry 5: %v", i, err)
		}
	}
}

func TestBatchLimits(t *testing.T) {
	var b Batch
	if err := b.Add(Heartbeat{Bye: true, Slot: 1}); err != ErrWrongType {
		t.Fatalf("BYE added: %v", err)
	}
	if _, err := AppendBatch(nil, &b); err != ErrBadValue {
		t.Fatalf("empty batch: %v", err)
	}
	// Worst case for the slot encoding: slots span the whole 32-bit range and each delta
	// block holds one huge delta, so the blocks need 32 and 31 bits per delta.
	for i := 0; i < BatchFitEntries; i++ {
		if err := b.Add(Heartbeat{Slot: uint32(i), Tag: uint64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Add(Heartbeat{Slot: 1<<32 - 1}); err != ErrTooLarge {
		t.Fatalf("entry %d: %v", BatchFitEntries+1, err)
	}
	for i := 1; i < BatchFitEntries; i++ {
		b.Slots[i] = b.Slots[i-1] + 1
		switch i {
		case 1:
			b.Slots[i] += 1 << 31
		case 129:
			b.Slots[i] += 1<<30 + 1<<29
		}
	}
	frame, err := AppendBatch(nil, &b)
	if err != nil || len(frame) > MaxFrame {
		t.Fatalf("worst-case %d-entry batch: %d bytes, %v", BatchFitEntries, len(frame), err)
	}
	// Sparse slots over MaxFrame: ErrTooLarge, dst unchanged.
	b.Reset()
	for i := 0; i < MaxBatchEntries; i++ {
		b.Slots, b.Words, b.Tags = append(b.Slots, uint64(i)<<22), append(b.Words, 0), append(b.Tags, 0)
	}
	if out, err := AppendBatch([]byte{7}, &b); err != ErrTooLarge || len(out) != 1 {
		t.Fatalf("%d sparse entries: %v (%d bytes)", b.Len(), err, len(out))
	}
	// Dense slots: MaxBatchEntries fit, and no frame can hold more.
	b.Reset()
	for i := 0; i < MaxBatchEntries; i++ {
		b.Slots, b.Words, b.Tags = append(b.Slots, uint64(i)), append(b.Words, 0), append(b.Tags, 0)
	}
	frame, err = AppendBatch(nil, &b)
	if err != nil {
		t.Fatalf("%d dense entries: %v", MaxBatchEntries, err)
	}
	// One more entry with the densest possible slots does not fit: no valid frame holds
	// more than MaxBatchEntries, so the decoder's bound costs nothing.
	b.Slots, b.Words, b.Tags = append(b.Slots, MaxBatchEntries), append(b.Words, 0), append(b.Tags, 0)
	if big, err := appendBatchUnchecked(nil, &b); len(big) <= MaxFrame || err != nil {
		t.Fatalf("%d dense entries take %d bytes (%v): MaxBatchEntries is too small", b.Len(), len(big), err)
	}
	if _, err := AppendBatch(nil, &b); err != ErrTooLarge {
		t.Fatalf("%d entries: %v", b.Len(), err)
	}
	b.Words = b.Words[:1]
	if _, err := AppendBatch(nil, &b); err != ErrBadLength {
		t.Fatalf("ragged slices: %v", err)
	}
	b = Batch{Slots: []uint64{1 << 32}, Words: []Word{0}, Tags: []uint64{0}}
	if _, err := AppendBatch(nil, &b); err != ErrBadValue {
		t.Fatalf("slot 2^32: %v", err)
	}
}

// appendBatchUnchecked encodes a BATCH without the count and size limits.
func appendBatchUnchecked(dst []byte, b *Batch) ([]byte, error) {
	dst = append(dst, byte(TypeBatch), byte(b.Len()>>8), byte(b.Len()))
	dst, err := bitpack.AppendSorted(dst, b.Slots)
	for i := range b.Words {
		dst = binary.BigEndian.AppendUint32(dst, uint32(b.Words[i]))
	}
	for _, t := range b.Tags {
		dst = binary.BigEndian.AppendUint64(dst, t)
	}
	return dst, err
}

// rawIDFrame builds a BATCH/SUBSCRIBE-shaped frame with any count and any bitpack list.
func rawIDFrame(vt Type, count int, ids []uint64, tail int) []byte {
	f := append([]byte{byte(vt)}, byte(count>>8), byte(count))
	f, _ = bitpack.AppendSorted(f, ids)
	return append(f, make([]byte, tail)...)
}

func TestParseBatchRejects(t *testing.T) {
	good := rawIDFrame(TypeBatch, 2, []uint64{1, 2}, 24)
	var b Batch
	if err := ParseBatch(good, &b); err != nil || b.Len() != 2 {
		t.Fatalf("valid: %v", err)
	}
	cases := map[string]struct {
		in   []byte
		want error
	}{
		"empty":          {nil, ErrShort},
		"no count":       {[]byte{0x16, 0}, ErrShort},
		"count 0":        {rawIDFrame(TypeBatch, 0, nil, 0), ErrBadValue},
		"count too big":  {rawIDFrame(TypeBatch, MaxBatchEntries+1, []uint64{1}, 12), ErrTooLarge},
		"short entries":  {good[:len(good)-1], ErrShort},
		"trailing":       {append(bytes.Clone(good), 0), ErrTrailing},
		"fewer ids":      {rawIDFrame(TypeBatch, 2, []uint64{1}, 24), ErrBadLength},
		"more ids":       {rawIDFrame(TypeBatch, 1, []uint64{1, 2}, 12), ErrBadLength},
		"duplicate slot": {rawIDFrame(TypeBatch, 2, []uint64{4, 4}, 24), ErrNotSorted},
		"slot 2^32":      {rawIDFrame(TypeBatch, 1, []uint64{1 << 32}, 12), ErrBadValue},
		"corrupt width":  {append([]byte{0x16, 0, 2, 2, 1, 65, 0xFF}, make([]byte, 24)...), ErrCorrupt},
		"wrong type":     {rawIDFrame(TypeSubscribe, 2, []uint64{1, 2}, 24), ErrWrongType},
		"version":        {append([]byte{0x26}, good[1:]...), ErrVersion},
		"oversize":       {append(bytes.Clone(good), make([]byte, MaxFrame)...), ErrTooLarge},
	}
	for name, c := range cases {
		b.Slots = append(b.Slots[:0], 99)
		if err := ParseBatch(c.in, &b); err != c.want {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
		if b.Len() != 0 || len(b.Words) != 0 || len(b.Tags) != 0 {
			t.Errorf("%s: failed parse left entries", name)
		}
	}
}

func TestSubscribe(t *testing.T) {
	ids := []uint64{3, 17, 1 << 40, 1<<64 - 1}
	for _, unsub := range []bool{false, true} {
		frame, err := AppendSubscribe(nil, &Subscription{Unsubscribe: unsub, UserIDs: ids})
		if err != nil {
			t.Fatal(err)
		}
		var s Subscription
		if err := ParseSubscribe(frame, &s); err != nil || s.Unsubscribe != unsub || len(s.UserIDs) != len(ids) {
			t.Fatalf("unsub=%v: %+v %v", unsub, s, err)
		}
		for i := range ids {
			if s.UserIDs[i] != ids[i] {
				t.Fatalf("id %d: %d", i, s.UserIDs[i])
			}
		}
	}
	many := make([]uint64, MaxSubscribeIDs+1)
	for i := range many {
		many[i] = uint64(i) * 3
	}
	if _, err := AppendSubscribe(nil, &Subscription{UserIDs: many[:MaxSubscribeIDs]}); err != nil {
		t.Fatalf("MaxSubscribeIDs dense ids: %v", err)
	}
	for name, c := range map[string]struct {
		ids  []uint64
		want error
	}{
		"none":     {nil, ErrBadValue},
		"too many": {many, ErrTooLarge},
		"dup":      {[]uint64{1, 1}, ErrNotSorted},
		"desc":     {[]uint64{2, 1}, ErrNotSorted},
	} {
		if out, err := AppendSubscribe([]byte{1}, &Subscription{UserIDs: c.ids}); err != c.want || len(out) != 1 {
			t.Errorf("encode %s: %v", name, err)
		}
	}
	// Sparse random ids: MaxSubscribeIDs of them exceed MaxFrame.
	rng := rand.New(rand.NewPCG(5, 6))
	sparse := make([]uint64, MaxSubscribeIDs)
	for i := range sparse {
		sparse[i] = uint64(i)<<50 | rng.Uint64N(1<<49)
	}
	if _, err := AppendSubscribe(nil, &Subscription{UserIDs: sparse}); err != ErrTooLarge {
		t.Errorf("sparse ids over MaxFrame: %v", err)
	}
	good := rawIDFrame(TypeSubscribe, 2, []uint64{5, 9}, 0)
	for name, c := range map[string]struct {
		in   []byte
		want error
	}{
		"trailing":   {append(bytes.Clone(good), 0), ErrTrailing},
		"short":      {good[:len(good)-1], ErrShort},
		"count 0":    {rawIDFrame(TypeSubscribe, 0, nil, 0), ErrBadValue},
		"over max":   {rawIDFrame(TypeUnsubscribe, MaxSubscribeIDs+1, []uint64{1}, 0), ErrTooLarge},
		"mismatch":   {rawIDFrame(TypeSubscribe, 3, []uint64{5, 9}, 0), ErrBadLength},
		"dup":        {rawIDFrame(TypeSubscribe, 2, []uint64{5, 5}, 0), ErrNotSorted},
		"wrong type": {rawIDFrame(TypeBatch, 2, []uint64{5, 9}, 0), ErrWrongType},
	} {
		s := Subscription{UserIDs: []uint64{42}}
		if err := ParseSubscribe(c.in, &s); err != c.want || len(s.UserIDs) != 0 {
			t.Errorf("parse %s: %v (%d ids left)", name, err, len(s.UserIDs))
		}
	}
}

func TestRehelloSmallerThanBatch(t *testing.T) {
	var b Batch
	_ = b.Add(Heartbeat{Slot: 0})
	frame, err := AppendBatch(nil, &b)
	if err != nil {
		t.Fatal(err)
	}
	if RehelloSize >= len(frame) || RehelloSize >= 12 {
		t.Fatalf("REHELLO %d bytes, smallest BATCH %d bytes, entry 12 bytes", RehelloSize, len(frame))
	}
}

func TestBatchSubscribeAllocs(t *testing.T) {
	src := sampleBatch(BatchFitEntries, 2)
	src.Sort()
	frame, _ := AppendBatch(nil, src)
	ids := make([]uint64, 1000)
	for i := range ids {
		ids[i] = uint64(i) * 977
	}
	sub := &Subscription{UserIDs: ids}
	subFrame, _ := AppendSubscribe(nil, sub)
	buf := make([]byte, 0, MaxFrame)
	into := &Batch{Slots: make([]uint64, 0, MaxBatchEntries), Words: make([]Word, 0, MaxBatchEntries), Tags: make([]uint64, 0, MaxBatchEntries)}
	sinto := &Subscription{UserIDs: make([]uint64, 0, MaxSubscribeIDs)}
	for name, f := range map[string]func(){
		"AppendBatch":     func() { _, _ = AppendBatch(buf[:0], src) },
		"ParseBatch":      func() { _ = ParseBatch(frame, into) },
		"Batch.Sort":      func() { src.Sort() },
		"AppendSubscribe": func() { _, _ = AppendSubscribe(buf[:0], sub) },
		"ParseSubscribe":  func() { _ = ParseSubscribe(subFrame, sinto) },
	} {
		if n := testing.AllocsPerRun(50, f); n != 0 {
			t.Errorf("%s allocates %v times", name, n)
		}
	}
}

func FuzzParseBatch(f *testing.F) {
	b := sampleBatch(20, 4)
	b.Sort()
	frame, _ := AppendBatch(nil, b)
	addMutations(f, frame)
	f.Add(rawIDFrame(TypeBatch, 2, []uint64{4, 4}, 24))
	f.Add(rawIDFrame(TypeBatch, 0xFFFF, []uint64{1}, 12))
	into := &Batch{}
	f.Fuzz(func(t *testing.T, in []byte) {
		if err := ParseBatch(in, into); err != nil {
			checkTyped(t, err)
			return
		}
		out, err := AppendBatch(nil, into)
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("re-encode %x (%v) != %x", out, err, in)
		}
	})
}

func FuzzParseSubscribe(f *testing.F) {
	frame, _ := AppendSubscribe(nil, &Subscription{UserIDs: []uint64{1, 5, 1 << 33, 1<<64 - 1}})
	addMutations(f, frame)
	unsub, _ := AppendSubscribe(nil, &Subscription{Unsubscribe: true, UserIDs: []uint64{8}})
	f.Add(unsub)
	f.Add(rawIDFrame(TypeSubscribe, 0xFFFF, []uint64{1}, 0))
	into := &Subscription{}
	f.Fuzz(func(t *testing.T, in []byte) {
		if err := ParseSubscribe(in, into); err != nil {
			checkTyped(t, err)
			return
		}
		out, err := AppendSubscribe(nil, into)
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("re-encode %x (%v) != %x", out, err, in)
		}
	})
}

func BenchmarkBatchEncode(b *testing.B) { // BatchFitEntries (255) entries per frame
	src := sampleBatch(BatchFitEntries, 2)
	src.Sort()
	buf := make([]byte, 0, MaxFrame)
	for b.Loop() {
		buf, sinkErr = AppendBatch(buf[:0], src)
	}
}

func BenchmarkBatchDecode(b *testing.B) {
	src := sampleBatch(BatchFitEntries, 2)
	src.Sort()
	frame, _ := AppendBatch(nil, src)
	into := &Batch{}
	for b.Loop() {
		sinkErr = ParseBatch(frame, into)
	}
}

func BenchmarkSubscribeEncode(b *testing.B) { // 1000 ids per frame
	ids := make([]uint64, 1000)
	for i := range ids {
		ids[i] = uint64(i) * 977
	}
	s := &Subscription{UserIDs: ids}
	buf := make([]byte, 0, MaxFrame)
	for b.Loop() {
		buf, sinkErr = AppendSubscribe(buf[:0], s)
	}
}

func BenchmarkSubscribeDecode(b *testing.B) {
	ids := make([]uint64, 1000)
	for i := range ids {
		ids[i] = uint64(i) * 977
	}
	frame, _ := AppendSubscribe(nil, &Subscription{UserIDs: ids})
	into := &Subscription{}
	for b.Loop() {
		sinkErr = ParseSubscribe(frame, into)
	}
}
