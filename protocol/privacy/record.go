package privacy

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"heartline/protocol/bitpack"
)

// The site writes what every enforcing process must know without a database into Consul KV,
// one key per bucket of subjects (RecordBuckets, fixed for the cluster):
//
//	<prefix>/privacy/<bucket, 3 digits>  =  Record
//
// A Record holds the members of its bucket whose mode is not ModeMembers (stored by
// absence), and the recent revocations of (subject, viewer) pairs: blocks and unmatches.
// A revocation only has to outlive the grants issued before it, so writers drop those older
// than the grant lifetime plus ClockSkew (Record.Prune): the value stays small. Writers
// read-modify-write with Consul's check-and-set on the key's ModifyIndex.
//
// Value layout (PROTOCOL.md, "Privacy records"):
//
//	magic "HP" | ver=1 | mode subjects (bitpack sorted, strictly increasing) | one mode byte
//	each (1 matches, 2 nobody) | revoked subjects (bitpack sorted, non-decreasing) | revoked
//	viewers (bitpack unsorted) | revoked at_ms (bitpack signed) | one kind byte each (1
//	block, 2 unmatch); the revocation columns have equal lengths, and (subject, viewer)
//	pairs are strictly increasing.

// RecordBuckets is the number of privacy record keys.
const RecordBuckets = 64

// MaxRecordEntries bounds each column a decoder accepts.
const MaxRecordEntries = 1 << 20

// RecordBucket is the bucket of a subject.
func RecordBucket(subject uint64) uint32 { return uint32(subject % RecordBuckets) }

// RecordPrefix is the prefix watchers block on.
func RecordPrefix(prefix string) string { return prefix + "/privacy/" }

// RecordKey is the key of one bucket's record.
func RecordKey(prefix string, bucket uint32) string {
	return fmt.Sprintf("%s/privacy/%03d", prefix, bucket)
}

// ParseRecordKey returns the bucket of a record key under prefix.
func ParseRecordKey(prefix, key string) (uint32, bool) {
	rest, ok := strings.CutPrefix(key, RecordPrefix(prefix))
	if !ok || len(rest) != 3 {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 10, 32)
	if err != nil || n >= RecordBuckets {
		return 0, false
	}
	return uint32(n), true
}

// Revocation withdraws (Kind) the grant entries for (Subject, Viewer) issued before AtMS
// (+ClockSkew).
type Revocation struct {
	Subject, Viewer uint64
	AtMS            int64
	Kind            RevokeKind
}

// Record is one bucket's privacy state.
type Record struct {
	Modes   map[uint64]Mode // only non-default modes
	Revoked []Revocation
}

// Record decoding errors (a watcher counts the value and keeps the bucket's previous state).
var (
	ErrRecordMagic   = errors.New("privacy: record does not start with HP1 (not written by this Heartline version?)")
	ErrRecordCorrupt = errors.New("privacy: record is corrupt (bad column, unsorted pairs, unknown mode or trailing bytes)")
)

// SetMode records subject's mode (ModeMembers removes the entry).
func (r *Record) SetMode(subject uint64, m Mode) {
	if m == ModeMembers {
		delete(r.Modes, subject)
		return
	}
	if r.Modes == nil {
		r.Modes = map[uint64]Mode{}
	}
	r.Modes[subject] = m
}

// Revoke adds (or moves forward) the revocation of (subject, viewer). A block outranks an
// unmatch: the pair keeps the stronger kind while either is alive.
func (r *Record) Revoke(subject, viewer uint64, atMS int64, kind RevokeKind) {
	for i, v := range r.Revoked {
		if v.Subject == subject && v.Viewer == viewer {
			r.Revoked[i].AtMS = max(v.AtMS, atMS)
			if kind == RevokeBlock {
				r.Revoked[i].Kind = RevokeBlock
			}
			return
		}
	}
	r.Revoked = append(r.Revoked, Revocation{subject, viewer, atMS, kind})
}

// Prune drops revocations at or before beforeMS (no grant issued before them is alive).
func (r *Record) Prune(beforeMS int64) {
	r.Revoked = slices.DeleteFunc(r.Revoked, func(v Revocation) bool { return v.AtMS <= beforeMS })
}

// Append encodes r.
func (r *Record) Append(dst []byte) []byte {
	dst = append(dst, 'H', 'P', 1)
	subs := slices.Sorted(maps.Keys(r.Modes))
	dst, _ = bitpack.AppendSorted(dst, subs)
	for _, s := range subs {
		dst = append(dst, byte(r.Modes[s]))
	}
	rv := slices.Clone(r.Revoked)
	slices.SortFunc(rv, func(a, b Revocation) int {
		return cmp.Or(cmp.Compare(a.Subject, b.Subject), cmp.Compare(a.Viewer, b.Viewer))
	})
	rv = slices.CompactFunc(rv, func(a, b Revocation) bool { return a.Subject == b.Subject && a.Viewer == b.Viewer })
	s := make([]uint64, len(rv))
	v := make([]uint64, len(rv))
	at := make([]int64, len(rv))
	for i, x := range rv {
		s[i], v[i], at[i] = x.Subject, x.Viewer, x.AtMS
	}
	dst, _ = bitpack.AppendSorted(dst, s)
	dst = bitpack.AppendUnsorted(dst, v)
	dst = bitpack.AppendSigned(dst, at)
	for _, x := range rv {
		dst = append(dst, byte(x.Kind))
	}
	return dst
}

// DecodeRecord decodes a record value (empty: an empty record).
func DecodeRecord(b []byte) (*Record, error) {
	r := &Record{}
	if len(b) == 0 {
		return r, nil
	}
	if len(b) < 3 || b[0] != 'H' || b[1] != 'P' || b[2] != 1 {
		return nil, ErrRecordMagic
	}
	pos := 3
	subs, n, err := bitpack.DecodeSorted(nil, b[pos:], MaxRecordEntries)
	if err != nil {
		return nil, fmt.Errorf("%w: modes: %v", ErrRecordCorrupt, err)
	}
	pos += n
	if len(b)-pos < len(subs) {
		return nil, ErrRecordCorrupt
	}
	if len(subs) > 0 {
		r.Modes = make(map[uint64]Mode, len(subs))
	}
	for i, s := range subs {
		m := Mode(b[pos+i])
		if m != ModeMatches && m != ModeNobody {
			return nil, ErrRecordCorrupt
		}
		if _, dup := r.Modes[s]; dup {
			return nil, ErrRecordCorrupt
		}
		r.Modes[s] = m
	}
	pos += len(subs)
	rs, n, err := bitpack.DecodeSorted(nil, b[pos:], MaxRecordEntries)
	if err != nil {
		return nil, fmt.Errorf("%w: revoked subjects: %v", ErrRecordCorrupt, err)
	}
	pos += n
	rv, n, err := bitpack.DecodeUnsorted(nil, b[pos:], len(rs))
	if err != nil || len(rv) != len(rs) {
		return nil, ErrRecordCorrupt
	}
	pos += n
	at, n, err := bitpack.DecodeSigned(nil, b[pos:], len(rs))
	if err != nil || len(at) != len(rs) {
		return nil, ErrRecordCorrupt
	}
	pos += n
	if len(b)-pos != len(rs) {
		return nil, ErrRecordCorrupt
	}
	r.Revoked = make([]Revocation, len(rs))
	for i := range rs {
		k := RevokeKind(b[pos+i])
		if k != RevokeBlock && k != RevokeUnmatch {
			return nil, ErrRecordCorrupt
		}
		r.Revoked[i] = Revocation{rs[i], rv[i], at[i], k}
		if i > 0 && rs[i] == rs[i-1] && rv[i] <= rv[i-1] {
			return nil, ErrRecordCorrupt
		}
	}
	return r, nil
}
