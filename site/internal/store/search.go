package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"heartline/site/internal/members"
)

// Cursor is a keyset position in the activity order (last_active_ms DESC, id DESC): the
// next page starts strictly after it, so pages stay stable and cost the same at any depth.
type Cursor struct {
	Active int64
	ID     uint64
}

// String is the cursor's URL form "<active>.<id>".
func (c Cursor) String() string {
	return strconv.FormatInt(c.Active, 10) + "." + strconv.FormatUint(c.ID, 10)
}

// ParseCursor parses Cursor.String's form.
func ParseCursor(s string) (Cursor, error) {
	a, b, ok := strings.Cut(s, ".")
	act, err1 := strconv.ParseInt(a, 10, 64)
	id, err2 := strconv.ParseUint(b, 10, 63)
	if !ok || err1 != nil || err2 != nil || act < 0 || len(s) > 40 {
		return Cursor{}, fmt.Errorf("store: bad page cursor %q", s)
	}
	return Cursor{act, id}, nil
}

// SearchOptions filter and page the members list. Zero values filter nothing.
type SearchOptions struct {
	Gender        string // "female", "male" or ""
	MinBirthYear  int    // from the age range: born in or after
	MaxBirthYear  int    // born in or before
	City          string
	ActiveSinceMS int64   // "recently active": last activity at or after (unix ms)
	After         *Cursor // keyset position of the previous page's last member
	Limit         int     // page size (default 24)
	ExcludeID     uint64  // e.g. the viewer
	// HiddenFrom leaves out the members who block this member (the viewer).
	HiddenFrom uint64
	// Keep, when set, is a further filter evaluated in Go for each candidate in activity
	// order — "online now" against the watcher's cache. Online members are the most
	// recently active (presence transitions update last_active_ms), so they come first and
	// a page fills after a short scan; ScanBudget bounds the scan when few match.
	Keep       func(id uint64) bool
	ScanBudget int // candidates examined at most when Keep is set (default 5000)
}

// SearchResult is one page.
type SearchResult struct {
	Members []*members.Member
	// Next is where the following page starts; nil at the end of the list.
	Next *Cursor
	// Scanned is how many candidates were examined.
	Scanned int
}

// Search returns one page of verified members matching o, most recently active first.
func (s *Store) Search(ctx context.Context, o SearchOptions) (SearchResult, error) {
	if o.Limit <= 0 {
		o.Limit = 24
	}
	if o.ScanBudget <= 0 {
		o.ScanBudget = 5000
	}
	where := []string{"verified = 1"}
	var args []any
	if o.Gender != "" {
		where, args = append(where, "gender = ?"), append(args, o.Gender)
	}
	if o.MinBirthYear != 0 {
		where, args = append(where, "birth_year >= ?"), append(args, o.MinBirthYear)
	}
	if o.MaxBirthYear != 0 {
		where, args = append(where, "birth_year <= ?"), append(args, o.MaxBirthYear)
	}
	if o.City != "" {
		where, args = append(where, "city = ?"), append(args, o.City)
	}
	if o.ActiveSinceMS != 0 {
		where, args = append(where, "last_active_ms >= ?"), append(args, o.ActiveSinceMS)
	}
	if o.ExcludeID != 0 {
		where, args = append(where, "id <> ?"), append(args, int64(o.ExcludeID))
	}
	if o.HiddenFrom != 0 {
		where = append(where, "NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = members.id AND b.blocked_id = ?)")
		args = append(args, int64(o.HiddenFrom))
	}
	chunk := o.Limit + 1 // one extra row tells whether a next page exists
	if o.Keep != nil {
		chunk = max(o.Limit*4, 128)
	}
	var res SearchResult
	after := o.After
	for {
		w, a := where, args
		if after != nil {
			// The first conjunct is an index range; the second breaks ties on id.
			w = append(w, "last_active_ms <= ?", "(last_active_ms < ? OR id < ?)")
			a = append(a, after.Active, after.Active, int64(after.ID))
		}
		q := `SELECT ` + memberCols + ` FROM members WHERE ` + strings.Join(w, " AND ") +
			` ORDER BY last_active_ms DESC, id DESC LIMIT ?`
		rows, err := s.db.QueryContext(ctx, s.q(q), append(a, chunk)...)
		if err != nil {
			return res, fmt.Errorf("store: searching members: %w", err)
		}
		n := 0
		var last Cursor
		for rows.Next() {
			m, err := scanMember(rows)
			if err != nil {
				rows.Close()
				return res, err
			}
			n++
			if o.Keep == nil && len(res.Members) == o.Limit {
				// the extra row: there is a next page, starting after the last one shown
				lm := res.Members[len(res.Members)-1]
				res.Next = &Cursor{lm.LastActive, lm.ID}
				break
			}
			res.Scanned++
			last = Cursor{m.LastActive, m.ID}
			if o.Keep != nil && !o.Keep(m.ID) {
				continue
			}
			res.Members = append(res.Members, m)
			if o.Keep != nil && len(res.Members) == o.Limit {
				res.Next = &last
				break
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return res, fmt.Errorf("store: searching members: %w", err)
		}
		if o.Keep == nil || len(res.Members) == o.Limit || n < chunk {
			return res, nil
		}
		if res.Scanned >= o.ScanBudget {
			// Budget spent: hand back what was found and where to continue.
			res.Next = &last
			return res, nil
		}
		after = &last
	}
}
