package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"heartline/site/internal/members"
)

// Login sessions live server-side: the cookie holds a random token, the table its SHA-256,
// so a stolen database does not yield usable cookies and deleting a row revokes the login.

// newToken returns a random token (base64url, 43 characters) and its hash.
func newToken() (string, []byte) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	return tok, hashToken(tok)
}

func hashToken(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// CreateSession starts a login for member id lasting ttl; the token goes into the cookie.
func (s *Store) CreateSession(ctx context.Context, id uint64, ttl time.Duration) (token string, expires time.Time, err error) {
	tok, h := newToken()
	now := s.now()
	expires = now.Add(ttl)
	if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO sessions (token_hash, member_id, created_ms, expires_ms) VALUES (?, ?, ?, ?)`),
		h, int64(id), now.UnixMilli(), expires.UnixMilli()); err != nil {
		return "", time.Time{}, fmt.Errorf("store: creating session: %w", err)
	}
	return tok, expires, nil
}

// SessionMember returns the member logged in with token, or ErrNotFound when the session
// does not exist (logged out, revoked) or has expired.
func (s *Store) SessionMember(ctx context.Context, token string) (*members.Member, error) {
	if token == "" || len(token) > 64 {
		return nil, ErrNotFound
	}
	m, err := scanMember(s.db.QueryRowContext(ctx, s.q(`SELECT `+prefixed("m.", memberCols)+` FROM sessions s JOIN members m ON m.id = s.member_id
 WHERE s.token_hash = ? AND s.expires_ms > ?`), hashToken(token), s.now().UnixMilli()))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: reading session: %w", err)
	}
	return m, nil
}

// DeleteSession ends one login (logout). Deleting an unknown token is not an error.
func (s *Store) DeleteSession(ctx context.Context, token string) error {
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM sessions WHERE token_hash = ?`), hashToken(token))
	return err
}

// DeleteSessions ends every login of member id except the one with token keep ("" keeps
// none: "log out everywhere"). It returns how many ended.
func (s *Store) DeleteSessions(ctx context.Context, id uint64, keep string) (int, error) {
	return deleteSessions(ctx, s, s.db, id, keep)
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func deleteSessions(ctx context.Context, s *Store, db execer, id uint64, keep string) (int, error) {
	res, err := db.ExecContext(ctx, s.q(`DELETE FROM sessions WHERE member_id = ? AND token_hash <> ?`), int64(id), hashToken(keep))
	if err != nil {
		return 0, fmt.Errorf("store: deleting sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// ChangePassword stores a new password hash for member id and, in the same transaction,
// ends every other login (the one with token keep stays).
func (s *Store) ChangePassword(ctx context.Context, id uint64, hash, keep string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE members SET password_hash = ? WHERE id = ?`), hash, int64(id))
		if err != nil {
			return fmt.Errorf("store: changing password: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		_, err = deleteSessions(ctx, s, tx, id, keep)
		return err
	})
}

// PurgeExpiredSessions deletes sessions past their expiry.
func (s *Store) PurgeExpiredSessions(ctx context.Context) (int, error) {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM sessions WHERE expires_ms <= ?`), s.now().UnixMilli())
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// prefixed qualifies every column of a comma-separated list with p ("m.").
func prefixed(p, cols string) string {
	out := make([]byte, 0, len(cols)*2)
	start := true
	for i := 0; i < len(cols); i++ {
		c := cols[i]
		if start && c != ' ' && c != '\n' {
			out = append(out, p...)
			start = false
		}
		out = append(out, c)
		if c == ',' {
			start = true
		}
	}
	return string(out)
}
