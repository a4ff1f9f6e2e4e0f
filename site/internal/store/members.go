package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"heartline/site/internal/members"
)

// memberCols is the column list every member query selects, in scanMember's order.
const memberCols = `id, email, password_hash, nickname, gender, birth_year, city, height_cm, education, occupation,
 interests, bio, photo, demo, verified, presence_visibility, created_ms, last_active_ms`

type scanner interface{ Scan(dest ...any) error }

func scanMember(r scanner) (*members.Member, error) {
	var m members.Member
	var interests string
	var demo, verified int
	var created int64
	if err := r.Scan(&m.ID, &m.Email, &m.PasswordHash, &m.Nickname, &m.Gender, &m.BirthYear, &m.City, &m.HeightCM,
		&m.Education, &m.Occupation, &interests, &m.Bio, &m.Photo, &demo, &verified, &m.PresenceVisibility, &created, &m.LastActive); err != nil {
		return nil, err
	}
	if interests != "" {
		m.Interests = strings.Split(interests, ",")
	}
	m.Demo, m.Verified = demo == 1, verified == 1
	m.CreatedAt = time.UnixMilli(created).UTC()
	return &m, nil
}

// memberArgs are m's values in memberCols order.
func memberArgs(m *members.Member) []any {
	vis := m.PresenceVisibility
	if vis == "" {
		vis = members.VisibleToMembers
	}
	return []any{int64(m.ID), members.NormalizeEmail(m.Email), m.PasswordHash, m.Nickname, m.Gender, m.BirthYear, m.City, m.HeightCM,
		m.Education, m.Occupation, strings.Join(m.Interests, ","), m.Bio, m.Photo, b2i(m.Demo), b2i(m.Verified), vis,
		m.CreatedAt.UnixMilli(), m.LastActive}
}

const memberPlaceholders = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

// CreateMember assigns m the next sign-up id (from members.FirstSignupID) and inserts it.
// ErrEmailTaken when the address (compared case-insensitively) has an account, also when
// two sign-ups for it race: the unique index decides, nothing is overwritten.
func (s *Store) CreateMember(ctx context.Context, m *members.Member) error {
	return s.CreateMemberTx(ctx, m, nil)
}

// CreateMemberTx is CreateMember with more work (then) in the same transaction, e.g. the
// verification e-mail: both are stored or neither.
func (s *Store) CreateMemberTx(ctx context.Context, m *members.Member, then func(tx *sql.Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			var max sql.NullInt64
			if err := tx.QueryRowContext(ctx, s.q(`SELECT MAX(id) FROM members WHERE id >= ?`), int64(members.FirstSignupID)).Scan(&max); err != nil {
				return err
			}
			m.ID = members.FirstSignupID
			if max.Valid {
				m.ID = uint64(max.Int64) + 1
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO members (`+memberCols+`) VALUES `+memberPlaceholders), memberArgs(m)...); err != nil {
				return err
			}
			if then != nil {
				return then(tx)
			}
			return nil
		})
		if err == nil {
			return nil
		}
		if !isUniqueViolation(err) {
			return fmt.Errorf("store: creating member: %w", err)
		}
		if _, e := s.MemberByEmail(ctx, m.Email); e == nil {
			m.ID = 0
			return ErrEmailTaken
		}
		// Another sign-up took the same id first (PostgreSQL, read committed): try the next.
		if attempt >= 8 {
			return fmt.Errorf("store: creating member: id contention: %w", err)
		}
	}
}

// InsertMembers adds the members next returns (until nil) with their ids as given (demo
// seeding, import) in batched multi-row inserts through one prepared statement, committing
// every commitEvery rows. On SQLite the connection gets a large page cache for the load (so
// index pages are written once per commit, not once per row) and gives it back afterwards.
func (s *Store) InsertMembers(ctx context.Context, next func() (*members.Member, error)) (_ int, retErr error) {
	const rowsPerStmt, commitEvery = 128, 64 * 1024
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: inserting members: %w", err)
	}
	defer conn.Close()
	if s.engine == SQLite {
		if _, err := conn.ExecContext(ctx, `PRAGMA cache_size = -524288`); err != nil { // 512 MiB at most
			return 0, fmt.Errorf("store: inserting members: %w", err)
		}
		defer func() {
			conn.ExecContext(context.Background(), `PRAGMA cache_size = -2000`) //nolint:errcheck
			conn.ExecContext(context.Background(), `PRAGMA shrink_memory`)      //nolint:errcheck
		}()
		rebuild, err := s.dropActivityIndexes(ctx, conn)
		if err != nil {
			return 0, err
		}
		defer func() {
			if err := rebuild(); err != nil && retErr == nil {
				retErr = err
			}
		}()
	}
	total := 0
	var tx *sql.Tx
	var full *sql.Stmt
	batch := make([]any, 0, rowsPerStmt*18)
	rows := 0
	flush := func() error {
		if rows == 0 {
			return nil
		}
		var err error
		if rows == rowsPerStmt {
			_, err = full.ExecContext(ctx, batch...)
		} else {
			_, err = tx.ExecContext(ctx, s.q(multiInsert(rows)), batch...)
		}
		total += rows
		batch, rows = batch[:0], 0
		return err
	}
	begin := func() error {
		var err error
		if tx, err = conn.BeginTx(ctx, nil); err != nil {
			return err
		}
		full, err = tx.PrepareContext(ctx, s.q(multiInsert(rowsPerStmt)))
		return err
	}
	fail := func(err error) (int, error) {
		if tx != nil {
			tx.Rollback() //nolint:errcheck
		}
		if isUniqueViolation(err) {
			return 0, fmt.Errorf("store: inserting members: an id or e-mail already exists (seed into an empty database): %w", err)
		}
		return 0, fmt.Errorf("store: inserting members: %w", err)
	}
	if err := begin(); err != nil {
		return fail(err)
	}
	for {
		m, err := next()
		if err != nil {
			return fail(err)
		}
		if m == nil {
			break
		}
		batch = append(batch, memberArgs(m)...)
		if rows++; rows == rowsPerStmt {
			if err := flush(); err != nil {
				return fail(err)
			}
			if total%commitEvery == 0 {
				if err := tx.Commit(); err != nil {
					return fail(err)
				}
				if err := begin(); err != nil {
					return fail(err)
				}
			}
		}
	}
	if err := flush(); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return total, nil
}

// dropActivityIndexes drops the members table's secondary indexes (not the unique e-mail
// index, which catches duplicates) when the table is empty, so a bulk load writes only the
// table and builds each index once, sorted, afterwards. rebuild recreates them from the
// DDL the migrations wrote; it must run even when the load fails.
func (s *Store) dropActivityIndexes(ctx context.Context, conn *sql.Conn) (rebuild func() error, err error) {
	none := func() error { return nil }
	var any int
	if err := conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM members LIMIT 1)`).Scan(&any); err != nil || any > 0 {
		return none, err
	}
	rows, err := conn.QueryContext(ctx, `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'members' AND sql IS NOT NULL AND name <> 'members_email'`)
	if err != nil {
		return none, err
	}
	var names, ddl []string
	for rows.Next() {
		var n, d string
		if err := rows.Scan(&n, &d); err != nil {
			rows.Close()
			return none, err
		}
		names, ddl = append(names, n), append(ddl, d)
	}
	rows.Close()
	for _, n := range names {
		if _, err := conn.ExecContext(ctx, `DROP INDEX `+n); err != nil {
			return none, fmt.Errorf("store: bulk load: dropping index %s: %w", n, err)
		}
	}
	return func() error {
		for i, d := range ddl {
			if _, err := conn.ExecContext(context.Background(), d); err != nil {
				return fmt.Errorf("store: bulk load: recreating index %s (recreate it by hand: %s): %w", names[i], d, err)
			}
		}
		return nil
	}, nil
}

func multiInsert(rows int) string {
	return `INSERT INTO members (` + memberCols + `) VALUES ` + strings.Repeat(memberPlaceholders+",", rows-1) + memberPlaceholders
}

// MemberByID returns the member or ErrNotFound.
func (s *Store) MemberByID(ctx context.Context, id uint64) (*members.Member, error) {
	return s.oneMember(ctx, `SELECT `+memberCols+` FROM members WHERE id = ?`, int64(id))
}

// MemberByEmail returns the member with the address (case-insensitive) or ErrNotFound.
func (s *Store) MemberByEmail(ctx context.Context, email string) (*members.Member, error) {
	return s.oneMember(ctx, `SELECT `+memberCols+` FROM members WHERE email = ?`, members.NormalizeEmail(email))
}

func (s *Store) oneMember(ctx context.Context, query string, args ...any) (*members.Member, error) {
	m, err := scanMember(s.db.QueryRowContext(ctx, s.q(query), args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: reading member: %w", err)
	}
	return m, nil
}

// CountMembers is the number of verified members (the ones the members list shows).
func (s *Store) CountMembers(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM members WHERE verified = 1`).Scan(&n)
	return n, err
}

// UpdateProfile replaces the editable fields of member id.
func (s *Store) UpdateProfile(ctx context.Context, id uint64, p members.Profile) error {
	return s.execOne(ctx, `UPDATE members SET nickname = ?, city = ?, education = ?, occupation = ?, bio = ?, height_cm = ?, interests = ? WHERE id = ?`,
		p.Nickname, p.City, p.Education, p.Occupation, p.Bio, p.HeightCM, strings.Join(p.Interests, ","), int64(id))
}

// SetPhoto points member id's profile at a stored photo (see PutPhoto); "" removes it.
func (s *Store) SetPhoto(ctx context.Context, id uint64, name string) error {
	return s.execOne(ctx, `UPDATE members SET photo = ? WHERE id = ?`, name, int64(id))
}

// SetPresenceVisibility stores who may see member id's presence (site/privacy publishes it
// to the enforcing processes first).
func (s *Store) SetPresenceVisibility(ctx context.Context, id uint64, v string) error {
	switch v {
	case members.VisibleToMembers, members.VisibleToMatches, members.VisibleToNobody:
	default:
		return fmt.Errorf("store: presence visibility %q: use members, matches or nobody", v)
	}
	return s.execOne(ctx, `UPDATE members SET presence_visibility = ? WHERE id = ?`, v, int64(id))
}

func (s *Store) execOne(ctx context.Context, query string, args ...any) error {
	res, err := s.db.ExecContext(ctx, s.q(query), args...)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// TouchActive raises members' last activity times (unix ms; never moves one back). It
// writes in transactions of at most touchChunk members, so a burst (a watcher's first read
// of 100k online members) never holds SQLite's write lock long enough to stall a sign-up.
// The presence follower calls it with online/offline transitions.
func (s *Store) TouchActive(ctx context.Context, at map[uint64]int64) error {
	ids := make([]uint64, 0, len(at))
	for id := range at {
		ids = append(ids, id)
	}
	for len(ids) > 0 {
		n := min(len(ids), touchChunk)
		chunk := ids[:n]
		ids = ids[n:]
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			st, err := tx.PrepareContext(ctx, s.q(`UPDATE members SET last_active_ms = ? WHERE id = ? AND last_active_ms < ?`))
			if err != nil {
				return err
			}
			defer st.Close()
			for _, id := range chunk {
				if _, err := st.ExecContext(ctx, at[id], int64(id), at[id]); err != nil {
					return fmt.Errorf("store: touching member %d: %w", id, err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// touchChunk bounds the members one TouchActive transaction updates.
var touchChunk = 4096 // a variable so tests can make chunks small

// HiddenMembers returns the members whose presence visibility is not the default, with it
// (the site republishes them to Consul at start, see site/privacy).
func (s *Store) HiddenMembers(ctx context.Context) (map[uint64]string, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, presence_visibility FROM members WHERE presence_visibility <> ?`), members.VisibleToMembers)
	if err != nil {
		return nil, fmt.Errorf("store: reading presence visibility: %w", err)
	}
	defer rows.Close()
	out := map[uint64]string{}
	for rows.Next() {
		var id int64
		var v string
		if err := rows.Scan(&id, &v); err != nil {
			return nil, err
		}
		out[uint64(id)] = v
	}
	return out, rows.Err()
}
