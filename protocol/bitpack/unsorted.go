package bitpack

import "slices"

// AppendUnsorted appends the encoding of vals, in their given order, to dst. Each delta is
// the zigzag of the wrapping difference int64(v[i]-v[i-1]), so ids that are close in value
// stay cheap whichever direction they move, and any uint64 sequence (including jumps between
// 0 and 2^64-1) round-trips exactly. It does not allocate when dst has enough spare capacity.
func AppendUnsorted(dst []byte, vals []uint64) []byte {
	if len(vals) == 0 {
		return appendHeader(dst, 0, 0)
	}
	dst = appendHeader(dst, len(vals), vals[0])
	var deltas [blockLen]uint64
	for i := 1; i < len(vals); i += blockLen {
		blk := vals[i:min(i+blockLen, len(vals))]
		prev := vals[i-1]
		for j, v := range blk {
			deltas[j] = zigzag(int64(v - prev))
			prev = v
		}
		dst = appendBlock(dst, deltas[:len(blk)])
	}
	return dst
}

// DecodeUnsorted decodes one AppendUnsorted encoding from the start of src, appends the
// values to dst and returns the extended slice and the number of bytes consumed. Errors and
// allocation behave as for DecodeSorted (every delta is valid here: differences wrap).
func DecodeUnsorted(dst []uint64, src []byte, maxCount int) (vals []uint64, n int, err error) {
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
			prev += uint64(unzigzag(d))
			blk[j] = prev
		}
	}
	return out, pos, nil
}
