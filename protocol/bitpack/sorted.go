package bitpack

import (
	"math/bits"
	"slices"
)

// AppendSorted appends the encoding of vals, which must be non-decreasing (equal neighbours
// are fine), to dst. Deltas are v[i]-v[i-1]. If a value decreases it returns dst unchanged
// and ErrNotSorted. It does not allocate when dst has enough spare capacity.
func AppendSorted(dst []byte, vals []uint64) ([]byte, error) {
	if len(vals) == 0 {
		return appendHeader(dst, 0, 0), nil
	}
	orig := dst
	dst = appendHeader(dst, len(vals), vals[0])
	var deltas [blockLen]uint64
	for i := 1; i < len(vals); i += blockLen {
		blk := vals[i:min(i+blockLen, len(vals))]
		prev := vals[i-1]
		for j, v := range blk {
			if v < prev {
				return orig, ErrNotSorted
			}
			deltas[j] = v - prev
			prev = v
		}
		dst = appendBlock(dst, deltas[:len(blk)])
	}
	return dst, nil
}

// DecodeSorted decodes one AppendSorted encoding from the start of src, appends the values
// to dst and returns the extended slice and the number of bytes of src consumed. It fails
// with ErrTooMany if the encoded count exceeds maxCount (checked before allocating),
// ErrTruncated if src ends early, ErrCorrupt for invalid or non-canonical input (including
// deltas that sum past 2^64-1). On error it returns dst with its original length (the spare
// capacity may have been written). It does not allocate when dst has room for the values.
func DecodeSorted(dst []uint64, src []byte, maxCount int) (vals []uint64, n int, err error) {
	count, first, pos, err := readHeader(src, maxCount)
	if err != nil || count == 0 {
		return dst, pos, err
	}
	base := len(dst)
	out := slices.Grow(dst, count)[:base+count]
	seq := out[base:]
	seq[0] = first
	prev := first
	for i := 1; i < count; i += blockLen {
		blk := seq[i:min(i+blockLen, count)]
		k, err := readBlock(src[pos:], blk)
		if err != nil {
			return dst, 0, err
		}
		pos += k
		for j, d := range blk {
			v, carry := bits.Add64(prev, d, 0)
			if carry != 0 {
				return dst, 0, ErrCorrupt
			}
			blk[j] = v
			prev = v
		}
	}
	return out, pos, nil
}
