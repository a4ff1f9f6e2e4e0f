package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Mail is one e-mail in the outbox. The outbox is written in the same transaction as what
// caused the mail (a sign-up), so a mail is never lost nor sent for something not stored;
// a sender (site/mail) delivers pending mails and marks them sent.
type Mail struct {
	ID        string
	To        string
	Subject   string
	Body      string
	CreatedAt time.Time
	SentAt    time.Time // zero: pending
	Attempts  int
	LastError string
}

// Purposes of e-mail tokens.
const PurposeVerify = "verify"

// EnqueueVerification stores a verification token for member id (valid for ttl) and the
// mail carrying it, built by body from the token, in tx.
func (s *Store) EnqueueVerification(ctx context.Context, tx *sql.Tx, id uint64, to string, ttl time.Duration, subject string, body func(token string) string) error {
	tok, h := newToken()
	now := s.now()
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO email_tokens (token_hash, member_id, purpose, expires_ms) VALUES (?, ?, ?, ?)`),
		h, int64(id), PurposeVerify, now.Add(ttl).UnixMilli()); err != nil {
		return fmt.Errorf("store: storing verification token: %w", err)
	}
	return s.enqueue(ctx, tx, Mail{To: to, Subject: subject, Body: body(tok)})
}

// EnqueueMail stores a mail for sending.
func (s *Store) EnqueueMail(ctx context.Context, m Mail) error { return s.enqueue(ctx, s.db, m) }

func (s *Store) enqueue(ctx context.Context, db execer, m Mail) error {
	id, _ := newToken()
	_, err := db.ExecContext(ctx, s.q(`INSERT INTO outbox (id, to_addr, subject, body, created_ms) VALUES (?, ?, ?, ?, ?)`),
		id[:22], m.To, m.Subject, m.Body, s.now().UnixMilli())
	if err != nil {
		return fmt.Errorf("store: queueing mail: %w", err)
	}
	return nil
}

// Verify consumes a verification token: the member is marked verified and the token
// deleted. ErrNotFound for an unknown, used or expired token.
func (s *Store) Verify(ctx context.Context, token string) (uint64, error) {
	if token == "" || len(token) > 64 {
		return 0, ErrNotFound
	}
	var id int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		h := hashToken(token)
		err := tx.QueryRowContext(ctx, s.q(`SELECT member_id FROM email_tokens WHERE token_hash = ? AND purpose = ? AND expires_ms > ?`),
			h, PurposeVerify, s.now().UnixMilli()).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM email_tokens WHERE token_hash = ?`), h); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE members SET verified = 1, last_active_ms = ? WHERE id = ?`), s.now().UnixMilli(), id)
		return err
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		err = fmt.Errorf("store: verifying: %w", err)
	}
	return uint64(id), err
}

// PendingMail returns up to limit unsent mails, oldest first (a mail that failed 10 times
// stays in the table for an operator but is no longer tried).
func (s *Store) PendingMail(ctx context.Context, limit int) ([]Mail, error) {
	return s.mails(ctx, `SELECT id, to_addr, subject, body, created_ms, sent_ms, attempts, last_error FROM outbox WHERE sent_ms = 0 AND attempts < 10 ORDER BY created_ms LIMIT ?`, limit)
}

// RecentMail returns the newest limit mails, sent or not (the demo's /outbox page).
func (s *Store) RecentMail(ctx context.Context, limit int) ([]Mail, error) {
	return s.mails(ctx, `SELECT id, to_addr, subject, body, created_ms, sent_ms, attempts, last_error FROM outbox ORDER BY created_ms DESC, id LIMIT ?`, limit)
}

func (s *Store) mails(ctx context.Context, query string, limit int) ([]Mail, error) {
	rows, err := s.db.QueryContext(ctx, s.q(query), limit)
	if err != nil {
		return nil, fmt.Errorf("store: reading outbox: %w", err)
	}
	defer rows.Close()
	var out []Mail
	for rows.Next() {
		var m Mail
		var created, sent int64
		if err := rows.Scan(&m.ID, &m.To, &m.Subject, &m.Body, &created, &sent, &m.Attempts, &m.LastError); err != nil {
			return nil, err
		}
		m.CreatedAt = time.UnixMilli(created).UTC()
		if sent != 0 {
			m.SentAt = time.UnixMilli(sent).UTC()
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// MarkSent records that mail id was delivered.
func (s *Store) MarkSent(ctx context.Context, id string) error {
	return s.execOne(ctx, `UPDATE outbox SET sent_ms = ?, attempts = attempts + 1, last_error = '' WHERE id = ?`, s.now().UnixMilli(), id)
}

// MarkFailed records a failed delivery attempt of mail id (it stays pending).
func (s *Store) MarkFailed(ctx context.Context, id string, cause error) error {
	msg := cause.Error()
	if len(msg) > 500 {
		msg = msg[:500]
	}
	return s.execOne(ctx, `UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?`, msg, id)
}
