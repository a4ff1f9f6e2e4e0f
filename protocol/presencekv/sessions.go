package presencekv

import (
	"errors"

	"heartline/protocol/bitpack"
)

// MaxEntries caps the entries of one decoded value (sessions, last-seen entries, or the
// transitions of one change record). Consul values are at most 512 KiB; a legitimate value
// holds far fewer, and the cap bounds what a hostile value can make a reader allocate.
const MaxEntries = 1 << 17

const (
	magicSessions = 'P'
	magicLastSeen = 'L'
	magicChanges  = 'C'
	formatVersion = 1
)

// Session is one present session of a bucket on one gateway.
type Session struct {
	User   uint64
	Device uint32
	Status uint8 // feed status: 1 away, 2 active
	Since  int64 // unix ms the session came online (gateway clock)
}

// Codec encodes and decodes values, reusing its scratch columns; the zero value is ready.
// A Codec is not safe for concurrent use.
type Codec struct {
	u, d, s []uint64
	t       []int64
}

// AppendSessions appends the encoding of sessions (sorted by User, then Device) to dst.
func (c *Codec) AppendSessions(dst []byte, sessions []Session) ([]byte, error) {
	c.u, c.d, c.s, c.t = c.u[:0], c.d[:0], c.s[:0], c.t[:0]
	for i, x := range sessions {
		if i > 0 {
			p := sessions[i-1]
			if x.User < p.User || x.User == p.User && x.Device <= p.Device {
				return dst, ErrNotSorted
			}
		}
		c.u = append(c.u, x.User)
		c.d = append(c.d, uint64(x.Device))
		c.s = append(c.s, uint64(x.Status))
		c.t = append(c.t, x.Since)
	}
	dst = append(dst, magicSessions, formatVersion)
	dst, err := bitpack.AppendSorted(dst, c.u)
	if err != nil {
		return dst, ErrNotSorted
	}
	dst = bitpack.AppendUnsorted(dst, c.d)
	dst = bitpack.AppendUnsorted(dst, c.s)
	dst = bitpack.AppendSigned(dst, c.t)
	return dst, nil
}

// DecodeSessions appends the sessions encoded in src to dst.
func (c *Codec) DecodeSessions(dst []Session, src []byte) ([]Session, error) {
	rest, err := header(src, magicSessions)
	if err != nil {
		return dst, err
	}
	if err := c.columns(rest, 4); err != nil {
		return dst, err
	}
	for i := range c.u {
		if c.d[i] > 0xffffffff || c.s[i] > 0xff {
			return dst, ErrCorrupt
		}
		if i > 0 && c.u[i] == c.u[i-1] && c.d[i] <= c.d[i-1] {
			return dst, ErrCorrupt
		}
		dst = append(dst, Session{User: c.u[i], Device: uint32(c.d[i]), Status: uint8(c.s[i]), Since: c.t[i]})
	}
	return dst, nil
}

func header(src []byte, magic byte) ([]byte, error) {
	if len(src) < 2 {
		return nil, ErrTruncated
	}
	if src[0] != magic || src[1] != formatVersion {
		return nil, ErrBadMagic
	}
	return src[2:], nil
}

// columns decodes the column layout shared by the values: a sorted or unsorted user column,
// then (for 4 columns) devices and statuses, then a signed time column. It requires equal
// lengths and no trailing bytes.
func (c *Codec) columns(src []byte, ncols int) error {
	var n int
	var err error
	c.u, n, err = bitpack.DecodeSorted(c.u[:0], src, MaxEntries)
	if err != nil {
		return mapErr(err)
	}
	src = src[n:]
	count := len(c.u)
	if ncols == 4 {
		if c.d, n, err = bitpack.DecodeUnsorted(c.d[:0], src, count); err != nil {
			return mapErr(err)
		}
		src = src[n:]
		if c.s, n, err = bitpack.DecodeUnsorted(c.s[:0], src, count); err != nil {
			return mapErr(err)
		}
		src = src[n:]
		if len(c.d) != count || len(c.s) != count {
			return ErrCorrupt
		}
	}
	if c.t, n, err = bitpack.DecodeSigned(c.t[:0], src, count); err != nil {
		return mapErr(err)
	}
	src = src[n:]
	if len(c.t) != count {
		return ErrCorrupt
	}
	if len(src) != 0 {
		return ErrTrailing
	}
	return nil
}

func mapErr(err error) error {
	switch {
	case errors.Is(err, bitpack.ErrTruncated):
		return ErrTruncated
	case errors.Is(err, bitpack.ErrTooMany):
		return ErrTooMany
	}
	return ErrCorrupt
}
