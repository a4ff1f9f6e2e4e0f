package hl1

import (
	"encoding/binary"
	"errors"
	"sort"

	"heartline/protocol/bitpack"
)

// BATCH layout:
//
//	[vt:1][count:2][slots: bitpack sorted, strictly increasing][words: count x 4][tags: count x 8]
//
// Each entry is one client's HEARTBEAT (word and tag exactly as the client computed them,
// with vt = 0x13 in the tag input). The gateway verifies every entry with that session's
// key, so a relay needs no keys and cannot forge. BYE is never batched.
const (
	// MaxBatchEntries bounds count when decoding: no BATCH of more entries fits MaxFrame.
	// The smallest slot list is consecutive slots from 0 (1 bit per delta): 337 entries
	// take 3 + 51 + 337*12 = 4095 bytes, 338 take 4108.
	MaxBatchEntries = 337
	// BatchFitEntries entries always fit in MaxFrame whatever the slots (counted with 32
	// bits per slot delta, a safe over-estimate). Batch.Add stops there; denser slots fit
	// more, up to MaxBatchEntries, via AppendBatch on filled slices.
	BatchFitEntries = 255
)

// Batch holds the entries of a BATCH as three parallel slices; reuse one Batch per loop
// so that decoding and encoding do not allocate.
type Batch struct {
	Slots []uint64 // strictly increasing, each <= 2^32-1 (uint64 for the bitpack codec)
	Words []Word
	Tags  []uint64
}

// Reset empties b, keeping its capacity.
func (b *Batch) Reset() {
	b.Slots, b.Words, b.Tags = b.Slots[:0], b.Words[:0], b.Tags[:0]
}

// Len returns the number of entries.
func (b *Batch) Len() int { return len(b.Slots) }

// Add appends the heartbeat h, in any slot order (call Sort before AppendBatch). It
// refuses a BYE (ErrWrongType: BYE is sent directly, never batched) and a 256th entry
// (ErrTooLarge: flush first). The relay must not add two frames of one slot to a batch
// (AppendBatch rejects duplicates with ErrNotSorted): flush the batch first.
func (b *Batch) Add(h Heartbeat) error {
	if h.Bye {
		return ErrWrongType
	}
	if b.Len() >= BatchFitEntries {
		return ErrTooLarge
	}
	b.Slots = append(b.Slots, uint64(h.Slot))
	b.Words = append(b.Words, h.Word)
	b.Tags = append(b.Tags, h.Tag)
	return nil
}

// Entry returns entry i as the HEARTBEAT the client sent; authenticate it with Open
// against the session of its slot.
func (b *Batch) Entry(i int) Heartbeat {
	return Heartbeat{Slot: uint32(b.Slots[i]), Word: b.Words[i], Tag: b.Tags[i]}
}

// Sort orders the entries by slot (allocation-free).
func (b *Batch) Sort() { sort.Sort((*batchBySlot)(b)) }

type batchBySlot Batch

func (s *batchBySlot) Len() int           { return len(s.Slots) }
func (s *batchBySlot) Less(i, j int) bool { return s.Slots[i] < s.Slots[j] }
func (s *batchBySlot) Swap(i, j int) {
	s.Slots[i], s.Slots[j] = s.Slots[j], s.Slots[i]
	s.Words[i], s.Words[j] = s.Words[j], s.Words[i]
	s.Tags[i], s.Tags[j] = s.Tags[j], s.Tags[i]
}

// AppendBatch appends the BATCH frame of b to dst. b needs 1..MaxBatchEntries entries
// (ErrBadValue / ErrTooLarge), parallel slices of equal length (ErrBadLength), slots
// strictly increasing (ErrNotSorted) and below 2^32 (ErrBadValue); a frame above MaxFrame
// is ErrTooLarge (at most BatchFitEntries entries always fit). On error dst is returned
// unchanged.
func AppendBatch(dst []byte, b *Batch) ([]byte, error) {
	n := len(b.Slots)
	if len(b.Words) != n || len(b.Tags) != n {
		return dst, ErrBadLength
	}
	if err := checkIDs(b.Slots, MaxBatchEntries, true); err != nil {
		return dst, err
	}
	orig := len(dst)
	dst = append(dst, byte(TypeBatch))
	dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	dst, err := bitpack.AppendSorted(dst, b.Slots)
	if err != nil {
		return dst[:orig], ErrNotSorted // unreachable after checkIDs
	}
	for _, w := range b.Words {
		dst = binary.BigEndian.AppendUint32(dst, uint32(w))
	}
	for _, t := range b.Tags {
		dst = binary.BigEndian.AppendUint64(dst, t)
	}
	if len(dst)-orig > MaxFrame {
		return dst[:orig], ErrTooLarge
	}
	return dst, nil
}

// ParseBatch decodes a BATCH into into (reset first; no allocation once its slices have
// capacity MaxBatchEntries). On error into is left empty.
func ParseBatch(frame []byte, into *Batch) error {
	into.Reset()
	if _, err := checkType(frame, TypeBatch); err != nil {
		return err
	}
	n, body, err := countHeader(frame, MaxBatchEntries)
	if err != nil {
		return err
	}
	if len(body) < n*12 {
		return ErrShort
	}
	slots, used, err := decodeIDs(into.Slots[:0], body, n, true)
	if err != nil {
		return err
	}
	rest := body[used:]
	if err := checkSize(rest, n*12); err != nil {
		return err
	}
	into.Slots = slots
	for i := 0; i < n; i++ {
		into.Words = append(into.Words, Word(binary.BigEndian.Uint32(rest[4*i:])))
	}
	tags := rest[4*n:]
	for i := 0; i < n; i++ {
		into.Tags = append(into.Tags, binary.BigEndian.Uint64(tags[8*i:]))
	}
	return nil
}

// countHeader reads the count:2 field shared by BATCH, SUBSCRIBE and UNSUBSCRIBE.
func countHeader(frame []byte, maxCount int) (n int, body []byte, err error) {
	if len(frame) < 3 {
		return 0, nil, ErrShort
	}
	n = int(binary.BigEndian.Uint16(frame[1:3]))
	if n == 0 {
		return 0, nil, ErrBadValue
	}
	if n > maxCount {
		return 0, nil, ErrTooLarge
	}
	return n, frame[3:], nil
}

// checkIDs validates an id list before encoding: 1..maxCount values, strictly increasing,
// and below 2^32 for slots.
func checkIDs(ids []uint64, maxCount int, slots bool) error {
	if len(ids) == 0 {
		return ErrBadValue
	}
	if len(ids) > maxCount {
		return ErrTooLarge
	}
	for i, v := range ids {
		if i > 0 && v <= ids[i-1] {
			return ErrNotSorted
		}
		if slots && v > 1<<32-1 {
			return ErrBadValue
		}
	}
	return nil
}

// decodeIDs decodes exactly n strictly increasing ids (slots: below 2^32) from the start
// of src into dst and returns them and the bytes used.
func decodeIDs(dst []uint64, src []byte, n int, slots bool) ([]uint64, int, error) {
	ids, used, err := bitpack.DecodeSorted(dst, src, n)
	switch {
	case err == nil:
	case errors.Is(err, bitpack.ErrTruncated):
		return dst, 0, ErrShort
	case errors.Is(err, bitpack.ErrTooMany):
		return dst, 0, ErrBadLength // the encoding holds more ids than count says
	default:
		return dst, 0, ErrCorrupt
	}
	if len(ids) != n {
		return dst, 0, ErrBadLength
	}
	if err := checkIDs(ids, n, slots); err != nil {
		return dst, 0, err
	}
	return ids, used, nil
}
