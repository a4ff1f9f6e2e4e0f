package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Photo is a stored profile photo, addressed by the SHA-256 of its (re-encoded) bytes.
type Photo struct {
	Name        string // "<sha256 hex>.jpg" or ".png": the URL path element
	ContentType string
	Data        []byte
}

// PutPhoto stores p unless a photo with the same name exists (same bytes: nothing to do).
func (s *Store) PutPhoto(ctx context.Context, p Photo) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO photos (hash, content_type, data, created_ms) VALUES (?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING`),
		p.Name, p.ContentType, p.Data, s.now().UnixMilli())
	if err != nil {
		return fmt.Errorf("store: storing photo: %w", err)
	}
	return nil
}

// PhotoByName returns a stored photo or ErrNotFound.
func (s *Store) PhotoByName(ctx context.Context, name string) (*Photo, error) {
	p := Photo{Name: name}
	err := s.db.QueryRowContext(ctx, s.q(`SELECT content_type, data FROM photos WHERE hash = ?`), name).Scan(&p.ContentType, &p.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: reading photo: %w", err)
	}
	return &p, nil
}
