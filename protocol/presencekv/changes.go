package presencekv

import (
	"encoding/binary"

	"heartline/protocol/bitpack"
)

// Transition kinds, the same numbers as protocol/feed's Kind.
const (
	KindOnline  uint8 = 1
	KindOffline uint8 = 2
	KindStatus  uint8 = 3
)

// MaxChangeEntries caps the flushes one change record carries.
const MaxChangeEntries = 64

// Transition is one session's new state in a flush (coalesced: at most one per session).
type Transition struct {
	Kind   uint8
	User   uint64
	Device uint32
	Status uint8
	At     int64
}

// ChangeEntry is one committed (or committing) flush of a writer lane.
type ChangeEntry struct {
	Seq uint64 // per lane, +1 per transaction, starting at 1 for each Epoch
	// Index is the Consul index the entry's transaction committed at, or 0 for the entry
	// written by the transaction itself (its index is the key's ModifyIndex).
	Index uint64
	// Incomplete says the transaction changed more than a change record may carry, so
	// Transitions is empty: a watcher must re-read the gateway's buckets.
	Incomplete  bool
	Transitions []Transition
}

// ChangeRecord is the value of <prefix>/changes/<gateway>/<lane>: the lane's most recent
// flushes, oldest first, so a watcher that missed a few overwrites can still catch up.
type ChangeRecord struct {
	Epoch   uint64 // random per writer start; a new epoch means "resync this gateway"
	Entries []ChangeEntry
}

// AppendChangeRecord appends the encoding of r to dst.
func (c *Codec) AppendChangeRecord(dst []byte, r *ChangeRecord) []byte {
	dst = append(dst, magicChanges, formatVersion)
	dst = binary.AppendUvarint(dst, r.Epoch)
	dst = binary.AppendUvarint(dst, uint64(len(r.Entries)))
	for _, e := range r.Entries {
		dst = binary.AppendUvarint(dst, e.Seq)
		dst = binary.AppendUvarint(dst, e.Index)
		var flags uint64
		if e.Incomplete {
			flags = 1
		}
		dst = binary.AppendUvarint(dst, flags)
		c.u, c.d, c.s, c.t = c.u[:0], c.d[:0], c.s[:0], c.t[:0]
		for _, t := range e.Transitions {
			c.u = append(c.u, t.User)
			c.d = append(c.d, uint64(t.Device))
			c.s = append(c.s, uint64(t.Kind)<<8|uint64(t.Status))
			c.t = append(c.t, t.At)
		}
		dst = bitpack.AppendUnsorted(dst, c.u)
		dst = bitpack.AppendUnsorted(dst, c.d)
		dst = bitpack.AppendUnsorted(dst, c.s)
		dst = bitpack.AppendSigned(dst, c.t)
	}
	return dst
}

// DecodeChangeRecord decodes src into r, reusing r's slices.
func (c *Codec) DecodeChangeRecord(r *ChangeRecord, src []byte) error {
	rest, err := header(src, magicChanges)
	if err != nil {
		return err
	}
	var n int
	if r.Epoch, n = binary.Uvarint(rest); n <= 0 {
		return ErrTruncated
	}
	rest = rest[n:]
	count, n := binary.Uvarint(rest)
	if n <= 0 {
		return ErrTruncated
	}
	if count > MaxChangeEntries {
		return ErrTooMany
	}
	rest = rest[n:]
	entries := r.Entries[:0]
	total := 0
	for k := uint64(0); k < count; k++ {
		var e ChangeEntry
		if len(entries) < cap(entries) {
			e = entries[:len(entries)+1][len(entries)]
		}
		if e.Seq, n = binary.Uvarint(rest); n <= 0 {
			return ErrTruncated
		}
		rest = rest[n:]
		if e.Index, n = binary.Uvarint(rest); n <= 0 {
			return ErrTruncated
		}
		rest = rest[n:]
		flags, n := binary.Uvarint(rest)
		if n <= 0 {
			return ErrTruncated
		}
		if flags > 1 {
			return ErrCorrupt
		}
		e.Incomplete = flags == 1
		rest = rest[n:]
		if c.u, n, err = bitpack.DecodeUnsorted(c.u[:0], rest, MaxEntries-total); err != nil {
			return mapErr(err)
		}
		rest = rest[n:]
		cnt := len(c.u)
		total += cnt
		if c.d, n, err = bitpack.DecodeUnsorted(c.d[:0], rest, cnt); err != nil {
			return mapErr(err)
		}
		rest = rest[n:]
		if c.s, n, err = bitpack.DecodeUnsorted(c.s[:0], rest, cnt); err != nil {
			return mapErr(err)
		}
		rest = rest[n:]
		if c.t, n, err = bitpack.DecodeSigned(c.t[:0], rest, cnt); err != nil {
			return mapErr(err)
		}
		rest = rest[n:]
		if len(c.d) != cnt || len(c.s) != cnt || len(c.t) != cnt {
			return ErrCorrupt
		}
		e.Transitions = e.Transitions[:0]
		for i := 0; i < cnt; i++ {
			kind := c.s[i] >> 8
			if c.d[i] > 0xffffffff || kind < uint64(KindOnline) || kind > uint64(KindStatus) || c.s[i]>>16 != 0 {
				return ErrCorrupt
			}
			e.Transitions = append(e.Transitions, Transition{
				Kind: uint8(kind), User: c.u[i], Device: uint32(c.d[i]), Status: uint8(c.s[i]), At: c.t[i],
			})
		}
		entries = append(entries, e)
	}
	if len(rest) != 0 {
		return ErrTrailing
	}
	r.Entries = entries
	return nil
}
