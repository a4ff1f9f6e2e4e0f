package visibility

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"heartline/agent/privacywatch"
	"heartline/protocol/privacy"
)

// Store is the part of the member database the policy reads and writes (site/store.Store).
type Store interface {
	BlockersAmong(ctx context.Context, member uint64, ids []uint64) (map[uint64]bool, error)
	MatchedAmong(ctx context.Context, member uint64, ids []uint64) (map[uint64]bool, error)
	Block(ctx context.Context, blocker, blocked uint64) error
	SetPresenceVisibility(ctx context.Context, id uint64, v string) error
	HiddenMembers(ctx context.Context) (map[uint64]string, error)
}

// Records writes the privacy records (privacywatch.Writer).
type Records interface {
	Update(ctx context.Context, subject uint64, change func(r *privacy.Record)) error
}

// Options configure a Policy.
type Options struct {
	Store   Store
	View    *privacywatch.View // the records as followed from Consul
	Records Records
	// Keys seal grants (the heartbeat key ring); nil: Grant fails with ErrNoKeys.
	Keys privacy.Keys
	// GrantTTL is the lifetime of app grants (default 10 min). Revocations are kept this long.
	GrantTTL time.Duration
	Now      func() time.Time
	Log      *zap.Logger
}

// Policy is the site's presence privacy decisions. Safe for concurrent use.
type Policy struct{ o Options }

// ErrNoKeys: the site has no key file, so it cannot seal grants.
var ErrNoKeys = errors.New("visibility: no heartbeat key file (-key-file): grants cannot be sealed")

// New returns a Policy.
func New(o Options) (*Policy, error) {
	if o.Store == nil || o.View == nil || o.Records == nil {
		return nil, errors.New("visibility: Options.Store, View and Records are required")
	}
	if o.GrantTTL <= 0 {
		o.GrantTTL = 10 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	return &Policy{o: o}, nil
}

// View is the privacy view the policy's decisions are enforced with.
func (p *Policy) View() *privacywatch.View { return p.o.View }

// GrantTTL is the lifetime of grants.
func (p *Policy) GrantTTL() time.Duration { return p.o.GrantTTL }

// Bases returns, for each of ids, what viewer's grant says about it, and the issue time
// (Unix ms) to stamp the grant with. Anonymous viewers (0) get BasisNone for everyone. The
// issue time is taken before the database is read, so a block or unmatch committed after
// the read is still newer than the grant and revokes it.
func (p *Policy) Bases(ctx context.Context, viewer uint64, ids []uint64) (map[uint64]privacy.Basis, int64, error) {
	issued := p.o.Now().UnixMilli()
	out := make(map[uint64]privacy.Basis, len(ids))
	if viewer == 0 || len(ids) == 0 {
		return out, issued, nil
	}
	blockers, err := p.o.Store.BlockersAmong(ctx, viewer, ids)
	if err != nil {
		return nil, 0, err
	}
	matched, err := p.o.Store.MatchedAmong(ctx, viewer, ids)
	if err != nil {
		return nil, 0, err
	}
	for _, u := range ids {
		switch {
		case u == viewer:
			out[u] = privacy.BasisMatch // oneself: always shown, in full (privacy.Allowed)
		case blockers[u]:
			out[u] = privacy.BasisNone
		case matched[u]:
			out[u] = privacy.BasisMatch
		default:
			out[u] = privacy.BasisMember
		}
	}
	return out, issued, nil
}

// Sees reports whether viewer may see subject now, given the basis and issue time of what
// the viewer was granted.
func (p *Policy) Sees(viewer, subject uint64, basis privacy.Basis, issuedMS int64) bool {
	return p.o.View.Subject(subject).Allowed(viewer, subject, basis, issuedMS)
}

// Grant seals a grant for viewer's app covering ids (1..privacy.MaxGrantSubjects).
func (p *Policy) Grant(ctx context.Context, viewer uint64, ids []uint64) ([]byte, time.Time, error) {
	if p.o.Keys == nil {
		return nil, time.Time{}, ErrNoKeys
	}
	if viewer == 0 {
		return nil, time.Time{}, errors.New("visibility: grants are for signed-in members")
	}
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	bases, issued, err := p.Bases(ctx, viewer, ids)
	if err != nil {
		return nil, time.Time{}, err
	}
	g := &privacy.Grant{Viewer: viewer, IssuedMS: issued, Subjects: ids, Basis: make([]privacy.Basis, len(ids))}
	exp := time.UnixMilli(issued).Add(p.o.GrantTTL)
	g.ExpiresMS = exp.UnixMilli()
	for i, u := range ids {
		g.Basis[i] = bases[u]
	}
	b, err := privacy.Seal(nil, p.o.Keys, g)
	return b, exp, err
}

// SetMode records member's visibility: first in the privacy records (so every process
// enforces it within a second), then in the database (the settings page).
func (p *Policy) SetMode(ctx context.Context, member uint64, m privacy.Mode) error {
	if err := p.o.Records.Update(ctx, member, func(r *privacy.Record) { r.SetMode(member, m) }); err != nil {
		return fmt.Errorf("visibility: publishing the visibility of %d: %w", member, err)
	}
	return p.o.Store.SetPresenceVisibility(ctx, member, m.String())
}

// Block stores that blocker blocks blocked (so no later grant shows the blocker) and
// revokes what blocked was granted before.
func (p *Policy) Block(ctx context.Context, blocker, blocked uint64) error {
	if blocker == blocked || blocker == 0 || blocked == 0 {
		return errors.New("visibility: a block needs two different members")
	}
	if err := p.o.Store.Block(ctx, blocker, blocked); err != nil {
		return err
	}
	at := p.o.Now().UnixMilli()
	return p.o.Records.Update(ctx, blocker, func(r *privacy.Record) { r.Revoke(blocker, blocked, at, privacy.RevokeBlock) })
}

// Unmatched revokes the match basis of both members' grants on each other (call it after a
// like that made a match is withdrawn).
func (p *Policy) Unmatched(ctx context.Context, a, b uint64) error {
	at := p.o.Now().UnixMilli()
	if err := p.o.Records.Update(ctx, a, func(r *privacy.Record) { r.Revoke(a, b, at, privacy.RevokeUnmatch) }); err != nil {
		return err
	}
	return p.o.Records.Update(ctx, b, func(r *privacy.Record) { r.Revoke(b, a, at, privacy.RevokeUnmatch) })
}

// Republish writes the modes stored in the database into the privacy records where the
// view disagrees (a fresh Consul, a lost key); run it once the view is ready.
func (p *Policy) Republish(ctx context.Context) (int, error) {
	hidden, err := p.o.Store.HiddenMembers(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for id, name := range hidden {
		m, ok := privacy.ParseMode(name)
		if !ok || p.o.View.Subject(id).Mode == m {
			continue
		}
		if err := p.o.Records.Update(ctx, id, func(r *privacy.Record) { r.SetMode(id, m) }); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
