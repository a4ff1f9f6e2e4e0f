package presencekv

import "errors"

// Decoding errors. A reader that gets one should skip the value and count it: every value
// is rewritten from its source of truth (the gateway's state) on the writer's next flush.
var (
	ErrTruncated = errors.New("presencekv: value truncated (it ends before its encoding does)")
	ErrTrailing  = errors.New("presencekv: trailing bytes after the value's encoding")
	ErrBadMagic  = errors.New("presencekv: value does not start with the expected magic and version (not written by this Heartline version?)")
	ErrTooMany   = errors.New("presencekv: value holds more entries than the decoder's cap")
	ErrCorrupt   = errors.New("presencekv: value is internally inconsistent (column lengths differ or a field is out of range)")
	ErrNotSorted = errors.New("presencekv: entries must be sorted by user (and device) before encoding")
)
