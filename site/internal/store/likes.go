package store

import (
	"context"
	"fmt"

	"heartline/site/internal/members"
)

// Like records that liker likes likee; it reports whether the like is mutual (a match).
// Liking twice is not an error. Liking oneself is refused.
func (s *Store) Like(ctx context.Context, liker, likee uint64) (match bool, err error) {
	if liker == likee {
		return false, fmt.Errorf("store: a member cannot like themselves")
	}
	if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO likes (liker_id, likee_id, created_ms) VALUES (?, ?, ?) ON CONFLICT (liker_id, likee_id) DO NOTHING`),
		int64(liker), int64(likee), s.now().UnixMilli()); err != nil {
		if _, e := s.MemberByID(ctx, likee); e != nil {
			return false, ErrNotFound
		}
		return false, fmt.Errorf("store: liking: %w", err)
	}
	return s.Likes(ctx, likee, liker)
}

// Unlike removes liker's like of likee (a match between them ends).
func (s *Store) Unlike(ctx context.Context, liker, likee uint64) error {
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM likes WHERE liker_id = ? AND likee_id = ?`), int64(liker), int64(likee))
	return err
}

// Likes reports whether a likes b.
func (s *Store) Likes(ctx context.Context, a, b uint64) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM likes WHERE liker_id = ? AND likee_id = ?`), int64(a), int64(b)).Scan(&n)
	return n > 0, err
}

// LikedAmong returns which of ids member liker likes (to mark cards on a page).
func (s *Store) LikedAmong(ctx context.Context, liker uint64, ids []uint64) (map[uint64]bool, error) {
	return s.idsAmong(ctx, `SELECT likee_id FROM likes WHERE liker_id = ? AND likee_id IN (%s)`, liker, ids)
}

// MatchedAmong returns which of ids are matched with member (mutual likes).
func (s *Store) MatchedAmong(ctx context.Context, member uint64, ids []uint64) (map[uint64]bool, error) {
	return s.idsAmong(ctx, `SELECT a.likee_id FROM likes a JOIN likes b ON b.liker_id = a.likee_id AND b.likee_id = a.liker_id
 WHERE a.liker_id = ? AND a.likee_id IN (%s)`, member, ids)
}

// BlockersAmong returns which of ids block member.
func (s *Store) BlockersAmong(ctx context.Context, member uint64, ids []uint64) (map[uint64]bool, error) {
	return s.idsAmong(ctx, `SELECT blocker_id FROM blocks WHERE blocked_id = ? AND blocker_id IN (%s)`, member, ids)
}

// idsAmong runs query (one ? for who, then %s for the id list) and returns the ids it selects.
func (s *Store) idsAmong(ctx context.Context, query string, who uint64, ids []uint64) (map[uint64]bool, error) {
	out := map[uint64]bool{}
	if len(ids) == 0 {
		return out, nil
	}
	args := []any{int64(who)}
	ph := make([]byte, 0, len(ids)*2)
	for i, id := range ids {
		if i > 0 {
			ph = append(ph, ',')
		}
		ph = append(ph, '?')
		args = append(args, int64(id))
	}
	rows, err := s.db.QueryContext(ctx, s.q(fmt.Sprintf(query, ph)), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[uint64(id)] = true
	}
	return out, rows.Err()
}

// Matches returns the members who like id and whom id likes, most recently active first.
func (s *Store) Matches(ctx context.Context, id uint64, limit int) ([]*members.Member, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+prefixed("m.", memberCols)+` FROM likes a
 JOIN likes b ON b.liker_id = a.likee_id AND b.likee_id = a.liker_id
 JOIN members m ON m.id = a.likee_id
 WHERE a.liker_id = ? ORDER BY m.last_active_ms DESC, m.id DESC LIMIT ?`), int64(id), limit)
	if err != nil {
		return nil, fmt.Errorf("store: reading matches: %w", err)
	}
	defer rows.Close()
	var out []*members.Member
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Block records that blocker blocks blocked, for ever: the blocked member sees the blocker
// offline with no last seen on every surface, and no longer finds them in searches
// (site/privacy enforces it).
func (s *Store) Block(ctx context.Context, blocker, blocked uint64) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO blocks (blocker_id, blocked_id, created_ms) VALUES (?, ?, ?) ON CONFLICT (blocker_id, blocked_id) DO NOTHING`),
		int64(blocker), int64(blocked), s.now().UnixMilli())
	return err
}

// Blocked reports whether a blocks b.
func (s *Store) Blocked(ctx context.Context, a, b uint64) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM blocks WHERE blocker_id = ? AND blocked_id = ?`), int64(a), int64(b)).Scan(&n)
	return n > 0, err
}
