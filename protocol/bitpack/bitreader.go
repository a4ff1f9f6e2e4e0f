package bitpack

import "encoding/binary"

// readBlock decodes one block of len(out) deltas (1..blockLen) from the start of src into out
// and returns the number of bytes it used. It enforces the canonical form: width <= 64,
// width == bit length of the largest delta, zero padding.
func readBlock(src []byte, out []uint64) (int, error) {
	if len(src) == 0 {
		return 0, ErrTruncated
	}
	w := uint(src[0])
	if w > 64 {
		return 0, ErrCorrupt
	}
	if w == 0 {
		clear(out)
		return 1, nil
	}
	size := (len(out)*int(w) + 7) / 8
	if len(src)-1 < size {
		return 0, ErrTruncated
	}
	body := src[1 : 1+size]
	mask := ^uint64(0) >> (64 - w)
	// acc holds nbits (< 64) unread bits. Because size is exact, every word load below is
	// needed and the last one leaves only the padding bits in acc.
	var acc, or uint64
	var nbits uint
	for i := range out {
		var d uint64
		if nbits >= w {
			d = acc & mask
			acc >>= w
			nbits -= w
		} else {
			var next uint64
			if len(body) >= 8 {
				next = binary.LittleEndian.Uint64(body)
				body = body[8:]
			} else {
				for j, b := range body {
					next |= uint64(b) << (8 * j)
				}
				body = body[len(body):]
			}
			d = (acc | next<<nbits) & mask
			used := w - nbits // bits of d taken from next, 1..64
			acc = next >> used
			nbits = 64 - used
		}
		out[i] = d
		or |= d
	}
	if acc != 0 {
		return 0, ErrCorrupt // padding bits must be zero
	}
	if bitLen(or) != w {
		return 0, ErrCorrupt // a narrower width would do: not canonical
	}
	return 1 + size, nil
}
