// Package bitpack is Heartline's one delta + bit-packing codec for integer sequences. HL1
// BATCH and SUBSCRIBE frames, the gateway->agent feed and the Consul presence values all
// carry their id lists in this format, so there is exactly one implementation of it.
//
// Three sequence kinds share one byte format:
//
//   - AppendSorted / DecodeSorted: non-decreasing uint64 (slots, user ids in a bucket);
//     a delta is v[i]-v[i-1].
//   - AppendUnsorted / DecodeUnsorted: any uint64 sequence (ids in arrival order); a delta is
//     the zigzag of the wrapping difference int64(v[i]-v[i-1]).
//   - AppendSigned / DecodeSigned: any int64 sequence (timestamps); a delta is the zigzag of
//     the wrapping difference v[i]-v[i-1], and the first value is zigzagged too.
//
// Byte format (PROTOCOL.md, section "Delta + bit-packing codec", has the diagram and vectors):
//
//	uvarint count
//	if count > 0:
//	    first value   uvarint (Sorted, Unsorted) or zigzag uvarint (Signed)
//	    count-1 deltas in blocks of up to 128; each block is
//	        width  1 byte, 0..64: bits per delta in this block (0 = all deltas are zero)
//	        bits   ceil(n*width/8) bytes, the n deltas packed LSB-first, zero padding
//
// Encodings are canonical: varints are minimal, each block's width is exactly the bit length
// of its largest delta, padding bits are zero. Decoders reject anything else with ErrCorrupt,
// so decoding then re-encoding gives back the same bytes. Each encoding is self-delimiting:
// decoders return how many bytes they consumed and never look past them; rejecting trailing
// bytes is the job of the frame parser that knows what should follow.
//
// Hostile input: the count is checked against the caller's maxCount and against what the
// remaining input could possibly hold (one width byte per 128 values) before anything is
// allocated, so a decoder never allocates more than min(maxCount, 1+128*len(src)) values.
// Errors are the sentinel values in errors.go; test them with errors.Is.
//
// Hot paths: Append* into a dst with enough capacity and Decode* into a dst with enough
// capacity do not allocate (proved by alloc_test.go).
//
// This package owns the byte format only: it does no I/O, holds no state, logs nothing and
// imports nothing from the rest of Heartline. Frame layouts (counts, limits such as
// "strictly increasing") belong to protocol/hl1 and the other users.
package bitpack
