package presencekv

import "heartline/protocol/bitpack"

// LastSeen is when an offline user was last seen (unix ms, gateway clock).
type LastSeen struct {
	User uint64
	At   int64
}

// AppendLastSeen appends the encoding of entries (sorted by User, one entry per user).
func (c *Codec) AppendLastSeen(dst []byte, entries []LastSeen) ([]byte, error) {
	c.u, c.t = c.u[:0], c.t[:0]
	for i, e := range entries {
		if i > 0 && e.User <= entries[i-1].User {
			return dst, ErrNotSorted
		}
		c.u = append(c.u, e.User)
		c.t = append(c.t, e.At)
	}
	dst = append(dst, magicLastSeen, formatVersion)
	dst, err := bitpack.AppendSorted(dst, c.u)
	if err != nil {
		return dst, ErrNotSorted
	}
	return bitpack.AppendSigned(dst, c.t), nil
}

// DecodeLastSeen appends the entries encoded in src to dst.
func (c *Codec) DecodeLastSeen(dst []LastSeen, src []byte) ([]LastSeen, error) {
	rest, err := header(src, magicLastSeen)
	if err != nil {
		return dst, err
	}
	if err := c.columns(rest, 2); err != nil {
		return dst, err
	}
	for i := range c.u {
		if i > 0 && c.u[i] == c.u[i-1] {
			return dst, ErrCorrupt
		}
		dst = append(dst, LastSeen{User: c.u[i], At: c.t[i]})
	}
	return dst, nil
}

// MergeLastSeen merges two sorted entry lists into dst keeping, per user, the latest At,
// and dropping entries older than minAt. Both inputs must be sorted by user.
func MergeLastSeen(dst, a, b []LastSeen, minAt int64) []LastSeen {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var e LastSeen
		switch {
		case j >= len(b) || i < len(a) && a[i].User < b[j].User:
			e = a[i]
			i++
		case i >= len(a) || b[j].User < a[i].User:
			e = b[j]
			j++
		default:
			e = a[i]
			if b[j].At > e.At {
				e.At = b[j].At
			}
			i++
			j++
		}
		if e.At >= minAt {
			dst = append(dst, e)
		}
	}
	return dst
}
