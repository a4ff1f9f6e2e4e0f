package bitpack

import (
	"encoding/binary"
	"math/bits"
)

// readUvarint reads one canonical LEB128 unsigned varint (the encoding/binary format, minimal
// length only). Unlike binary.Uvarint it reports truncation and corruption as distinct typed
// errors and rejects overlong forms such as 0x80 0x00, which keeps encodings canonical.
func readUvarint(src []byte) (v uint64, n int, err error) {
	var shift uint
	for i, b := range src {
		if i == binary.MaxVarintLen64 {
			return 0, 0, ErrCorrupt // more than 10 bytes: not a 64-bit value
		}
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				return 0, 0, ErrCorrupt // overflows 64 bits
			}
			if b == 0 && i > 0 {
				return 0, 0, ErrCorrupt // overlong: a shorter form exists
			}
			return v | uint64(b)<<shift, i + 1, nil
		}
		v |= uint64(b&0x7f) << shift
		shift += 7
	}
	return 0, 0, ErrTruncated
}

// zigzag maps signed to unsigned so that small magnitudes of either sign get small codes:
// 0->0, -1->1, 1->2, -2->3, ...
func zigzag(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) }

// unzigzag inverts zigzag.
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// blocksFor is the number of delta blocks needed for m deltas.
func blocksFor(m uint64) uint64 { return (m + blockLen - 1) / blockLen }

// appendHeader writes the count and, for a non-empty sequence, the first value (already
// mapped to unsigned by the caller).
func appendHeader(dst []byte, count int, first uint64) []byte {
	dst = binary.AppendUvarint(dst, uint64(count))
	if count > 0 {
		dst = binary.AppendUvarint(dst, first)
	}
	return dst
}

// readHeader reads the count and first value and checks, before the caller allocates
// anything, that the count is within maxCount and that the rest of src could hold it (every
// block costs at least its width byte). pos is the offset of the first block.
func readHeader(src []byte, maxCount int) (count int, first uint64, pos int, err error) {
	c, pos, err := readUvarint(src)
	if err != nil {
		return 0, 0, 0, err
	}
	if c > uint64(max(maxCount, 0)) {
		return 0, 0, 0, ErrTooMany
	}
	if c == 0 {
		return 0, 0, pos, nil
	}
	first, k, err := readUvarint(src[pos:])
	if err != nil {
		return 0, 0, 0, err
	}
	pos += k
	if blocksFor(c-1) > uint64(len(src)-pos) {
		return 0, 0, 0, ErrTruncated
	}
	return int(c), first, pos, nil
}

// bitLen is the width a block needs for deltas whose bitwise OR is or.
func bitLen(or uint64) uint { return uint(bits.Len64(or)) }
