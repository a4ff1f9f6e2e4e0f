package privacy

import "time"

// Mode is who may see a member's presence (the member's choice).
type Mode uint8

const (
	ModeMembers Mode = 0 // every signed-in member (the default; stored by absence)
	ModeMatches Mode = 1 // only the member's matches
	ModeNobody  Mode = 2 // nobody: invisible (heartbeats continue; others see offline)
)

// ParseMode maps the site's stored names ("members", "matches", "nobody") to a Mode.
func ParseMode(s string) (Mode, bool) {
	switch s {
	case "members":
		return ModeMembers, true
	case "matches":
		return ModeMatches, true
	case "nobody":
		return ModeNobody, true
	}
	return ModeMembers, false
}

// String is the stored name of m.
func (m Mode) String() string {
	switch m {
	case ModeMatches:
		return "matches"
	case ModeNobody:
		return "nobody"
	}
	return "members"
}

// Basis is what the site found about a (viewer, subject) pair when it issued a grant.
type Basis uint8

const (
	BasisNone   Basis = 0 // the subject blocks the viewer (or the viewer may see nothing)
	BasisMember Basis = 1 // the viewer is a signed-in member, not matched with the subject
	BasisMatch  Basis = 2 // the viewer and the subject are matched
)

// ClockSkew widens revocations: a grant entry issued less than this after a revocation of
// its pair is revoked too, so that site processes whose clocks differ by up to this much
// cannot issue a grant that outlives a block or an unmatch.
const ClockSkew = 5 * time.Second

// RevokeKind is what a revocation withdraws.
type RevokeKind uint8

const (
	RevokeBlock   RevokeKind = 1 // the subject blocked the viewer: everything
	RevokeUnmatch RevokeKind = 2 // the pair unmatched: a match basis counts as member only
)

// Revoke is the latest revocation of a (subject, viewer) pair (zero: none).
type Revoke struct {
	AtMS int64
	Kind RevokeKind
}

// Covers reports whether the revocation applies to a grant entry issued at issuedMS.
func (r Revoke) Covers(issuedMS int64) bool {
	return r.AtMS != 0 && issuedMS < r.AtMS+ClockSkew.Milliseconds()
}

// Allowed is the presence privacy rule, the same on every surface: may viewer see
// subject's presence, given the grant entry's basis and issue time, the subject's current
// mode and the latest revocation of the pair? Anonymous (viewer 0) sees nobody; a member
// always sees themself.
func Allowed(viewer, subject uint64, basis Basis, issuedMS int64, mode Mode, rev Revoke) bool {
	switch {
	case viewer == 0:
		return false
	case viewer == subject:
		return true
	}
	if rev.Covers(issuedMS) {
		if rev.Kind != RevokeUnmatch {
			return false
		}
		basis = min(basis, BasisMember)
	}
	if basis == BasisNone {
		return false
	}
	switch mode {
	case ModeMembers:
		return true
	case ModeMatches:
		return basis == BasisMatch
	}
	return false
}

// Recency is what others see of an offline member: coarse, never a timestamp.
type Recency uint8

const (
	RecencyNone  Recency = 0 // not seen within a week (or never, or hidden)
	RecencyToday Recency = 1 // seen within the last 24 hours
	RecencyWeek  Recency = 2 // seen within the last 7 days
)

// RecencyOf coarsens a last-seen time (Unix ms, 0: never) at now.
func RecencyOf(lastSeenMS int64, now time.Time) Recency {
	if lastSeenMS <= 0 {
		return RecencyNone
	}
	ago := now.Sub(time.UnixMilli(lastSeenMS))
	switch {
	case ago < 24*time.Hour:
		return RecencyToday
	case ago < 7*24*time.Hour:
		return RecencyWeek
	}
	return RecencyNone
}

// String is the JSON name of r ("today", "week", "").
func (r Recency) String() string {
	switch r {
	case RecencyToday:
		return "today"
	case RecencyWeek:
		return "week"
	}
	return ""
}

// CoarseLastSeenMS is the last_seen_ms a gateway puts in an EVENT entry about someone else
// (PROTOCOL.md): the UTC midnight starting the day of lastSeenMS when it lies within the
// last 7 days, else 0.
func CoarseLastSeenMS(lastSeenMS int64, now time.Time) uint64 {
	if RecencyOf(lastSeenMS, now) == RecencyNone {
		return 0
	}
	const day = 24 * 60 * 60 * 1000
	return uint64(lastSeenMS - lastSeenMS%day)
}
