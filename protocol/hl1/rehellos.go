package hl1

import "encoding/binary"

// RehellosEntrySize is the size of one entry of a REHELLOS frame: slot (4) and reason (1).
const RehellosEntrySize = 5

// MaxRehellosSize is the largest REHELLOS frame: one entry per entry of the largest BATCH.
const MaxRehellosSize = 3 + MaxBatchEntries*RehellosEntrySize

// AppendRehellos appends a REHELLOS frame (gateway -> relay) holding rs: every REHELLO that
// one BATCH caused, in one datagram, so a BATCH is answered by at most one frame that is
// smaller than it (3 + 5n bytes against at least 4 + 12n). rs must hold 1..MaxBatchEntries
// entries, each with a reason other than 0.
func AppendRehellos(dst []byte, rs []Rehello) ([]byte, error) {
	if len(rs) == 0 || len(rs) > MaxBatchEntries {
		return dst, ErrBadValue
	}
	dst = append(dst, byte(TypeRehellos))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(rs)))
	for _, r := range rs {
		if r.Reason == 0 {
			return dst, ErrBadValue
		}
		dst = binary.BigEndian.AppendUint32(dst, r.Slot)
		dst = append(dst, byte(r.Reason))
	}
	return dst, nil
}

// ParseRehellos decodes a REHELLOS frame, appending its entries to dst. A count of 0 or above
// MaxBatchEntries, a length that does not match the count, or a reason 0 is an error.
func ParseRehellos(frame []byte, dst []Rehello) ([]Rehello, error) {
	if _, err := checkType(frame, TypeRehellos); err != nil {
		return dst, err
	}
	if len(frame) < 3 {
		return dst, ErrShort
	}
	n := int(binary.BigEndian.Uint16(frame[1:3]))
	if n == 0 || n > MaxBatchEntries {
		return dst, ErrBadValue
	}
	if err := checkSize(frame, 3+n*RehellosEntrySize); err != nil {
		return dst, err
	}
	for i := 0; i < n; i++ {
		e := frame[3+i*RehellosEntrySize:]
		if e[4] == 0 {
			return dst, ErrBadValue
		}
		dst = append(dst, Rehello{Slot: binary.BigEndian.Uint32(e[:4]), Reason: RehelloReason(e[4])})
	}
	return dst, nil
}
