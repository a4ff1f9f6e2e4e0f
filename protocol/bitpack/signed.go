package bitpack

import "slices"

// AppendSigned appends the encoding of vals (timestamps, offsets: any int64 sequence) to dst.
// The first value is zigzagged; each delta is the zigzag of the wrapping difference
// v[i]-v[i-1], so any sequence, including jumps between MinInt64 and MaxInt64, round-trips
// exactly. It does not allocate when dst has enough spare capacity.
func AppendSigned(dst []byte, vals []int64) []byte {
	if len(vals) == 0 {
		return appendHeader(dst, 0, 0)
	}
	dst = appendHeader(dst, len(vals), zigzag(vals[0]))
	var deltas [blockLen]uint64
	for i := 1; i < len(vals); i += blockLen {
		blk := vals[i:min(i+blockLen, len(vals))]
		prev := vals[i-1]
		for j, v := range blk {
			deltas[j] = zigzag(v - prev)
			prev = v
		}
		dst = appendBlock(dst, deltas[:len(blk)])
	}
	return dst
}

// DecodeSigned decodes one AppendSigned encoding from the start of src, appends the values to
// dst and returns the extended slice and the number of bytes consumed. Errors and allocation
// behave as for DecodeSorted (every delta is valid here: differences wrap).
func DecodeSigned(dst []int64, src []byte, maxCount int) (vals []int64, n int, err error) {
	count, first, pos, err := readHeader(src, maxCount)
	if err != nil || count == 0 {
		return dst, pos, err
	}
	base := len(dst)
	out := slices.Grow(dst, count)[:base+count]
	seq := out[base:]
	prev := unzigzag(first)
	seq[0] = prev
	var deltas [blockLen]uint64 // the zigzagged deltas of one block, before summing
	for i := 1; i < count; i += blockLen {
		blk := seq[i:min(i+blockLen, count)]
		k, err := readBlock(src[pos:], deltas[:len(blk)])
		if err != nil {
			return dst, 0, err
		}
		pos += k
		for j, d := range deltas[:len(blk)] {
			prev += unzigzag(d)
			blk[j] = prev
		}
	}
	return out, pos, nil
}
