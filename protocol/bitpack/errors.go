package bitpack

import "errors"

// Errors returned by the encoders and decoders. They are plain sentinel values (no
// allocation on the error path, which matters when a gateway drops hostile datagrams);
// compare with errors.Is.
var (
	// ErrTruncated: the input ends before the encoding does. On the wire: drop the frame.
	// In storage: the value was cut short; re-read it or rewrite it from its source.
	ErrTruncated = errors.New("bitpack: input truncated (it ends before the encoded sequence does; drop or re-read it)")

	// ErrTooMany: the encoded count exceeds the caller's maxCount. Nothing was allocated.
	// Reject the input, or raise maxCount if legitimate data needs more values.
	ErrTooMany = errors.New("bitpack: encoded count exceeds maxCount (reject the input, or raise maxCount if legitimate data needs more)")

	// ErrCorrupt: the input is not a valid canonical encoding (bit width above 64, a varint
	// that is overlong or overflows 64 bits, a width larger than the block needs, non-zero
	// padding bits, or sorted deltas summing past 2^64-1). Drop the input; it was not
	// produced by this package.
	ErrCorrupt = errors.New("bitpack: corrupt or non-canonical encoding (drop the input; it was not produced by this codec)")

	// ErrNotSorted: AppendSorted was given a sequence that decreases somewhere. Sort it
	// first, or use AppendUnsorted when the order must be kept.
	ErrNotSorted = errors.New("bitpack: AppendSorted needs a non-decreasing sequence (sort it, or use AppendUnsorted to keep the order)")
)
