package bitpack

import "encoding/binary"

// blockLen is the number of deltas per block. Each block carries its own bit width, so one
// outlier (a long gap between ids, a late heartbeat) widens 128 deltas, not the whole
// sequence; the price is one width byte per 128 values.
const blockLen = 128

// appendBlock appends one block: the width byte, then the deltas packed LSB-first at that
// width (the first delta in the lowest bits of the first byte), zero-padded to a byte.
// len(deltas) must be 1..blockLen.
func appendBlock(dst []byte, deltas []uint64) []byte {
	var or uint64
	for _, d := range deltas {
		or |= d
	}
	w := bitLen(or)
	dst = append(dst, byte(w))
	if w == 0 {
		return dst
	}
	// acc holds nbits (< 64) pending bits; full 64-bit words go out little-endian, which is
	// the same byte order as packing bit by bit LSB-first.
	var acc uint64
	var nbits uint
	for _, d := range deltas {
		acc |= d << nbits
		nbits += w
		if nbits >= 64 {
			dst = binary.LittleEndian.AppendUint64(dst, acc)
			nbits -= 64
			// The high nbits bits of d did not fit; w-nbits of its bits were written.
			// (Go defines x>>64 == 0, which covers nbits == 0 with w == 64.)
			acc = d >> (w - nbits)
		}
	}
	for nbits > 0 {
		dst = append(dst, byte(acc))
		acc >>= 8
		nbits -= min(nbits, 8)
	}
	return dst
}
