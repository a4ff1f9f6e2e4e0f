package feed

import "errors"

// Decoding errors. A feed reader that sees one of these should drop the connection and
// reconnect: the next connection starts with a snapshot, so nothing is lost.
var (
	ErrFrameTooLarge = errors.New("feed: frame length exceeds MaxFrame (peer is not a Heartline feed of this version?)")
	ErrEmptyFrame    = errors.New("feed: frame length 0")
	ErrUnknownFrame  = errors.New("feed: unknown frame type")
	ErrTruncated     = errors.New("feed: frame body truncated")
	ErrTrailing      = errors.New("feed: trailing bytes after frame body")
	ErrBadRecord     = errors.New("feed: record has an invalid kind, status or device")
	ErrTooMany       = errors.New("feed: more than MaxRecords records in one frame; split them")
	ErrSeqGap        = errors.New("feed: record sequences in a RECORDS frame must be contiguous")
	ErrBadHello      = errors.New("feed: malformed HELLO (gateway id too long or unsupported version)")
	ErrBadUpstream   = errors.New("feed: UPSTREAM state must be 1 (reachable) or 2 (cut off)")
)
