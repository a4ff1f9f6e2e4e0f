package members

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// ErrEmailTaken is returned by Create when the e-mail address already has an account.
var ErrEmailTaken = errors.New("members: e-mail address already registered")

// maxFileSize bounds how much of a members file is read.
const maxFileSize = 256 << 20

// fileFormat is the JSON file layout.
type fileFormat struct {
	Version int       `json:"version"`
	Members []*Member `json:"members"`
}

// Store holds the members in memory, ordered by id; when Path is set every Create rewrites
// the file atomically (write to a temp file, rename). Safe for concurrent use.
type Store struct {
	mu      sync.RWMutex
	path    string
	byID    map[uint64]*Member
	byEmail map[string]*Member
	order   []*Member // ascending id
}

// NewStore returns an empty store that persists to path ("" keeps it in memory only).
func NewStore(path string) *Store {
	return &Store{path: path, byID: map[uint64]*Member{}, byEmail: map[string]*Member{}}
}

// Load reads a members file written by Save or by the seed command.
func Load(path string) (*Store, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("members: reading %s: %w (create one with `site seed -out %s`)", path, err, path)
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("members: %s is larger than %d bytes", path, maxFileSize)
	}
	var f fileFormat
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("members: %s is not a members file: %w", path, err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("members: %s has version %d, want 1", path, f.Version)
	}
	s := NewStore(path)
	for _, m := range f.Members {
		if err := s.add(m); err != nil {
			return nil, fmt.Errorf("members: %s: %w", path, err)
		}
	}
	return s, nil
}

// NormalizeEmail is the form e-mail addresses are compared in.
func NormalizeEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

func (s *Store) add(m *Member) error {
	if m.ID == 0 {
		return errors.New("member with id 0")
	}
	if _, ok := s.byID[m.ID]; ok {
		return fmt.Errorf("duplicate member id %d", m.ID)
	}
	key := NormalizeEmail(m.Email)
	if _, ok := s.byEmail[key]; ok {
		return fmt.Errorf("%w: %s", ErrEmailTaken, m.Email)
	}
	s.byID[m.ID] = m
	s.byEmail[key] = m
	i, _ := slices.BinarySearchFunc(s.order, m.ID, func(a *Member, id uint64) int {
		switch {
		case a.ID < id:
			return -1
		case a.ID > id:
			return 1
		}
		return 0
	})
	s.order = slices.Insert(s.order, i, m)
	return nil
}

// Add inserts members as they are (ids set by the caller), e.g. generated demo members.
func (s *Store) Add(ms ...*Member) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range ms {
		if err := s.add(m); err != nil {
			return err
		}
	}
	return nil
}

// Create assigns the next free id to m, adds it and persists the store.
func (s *Store) Create(m *Member) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byEmail[NormalizeEmail(m.Email)]; ok {
		return ErrEmailTaken
	}
	m.ID = FirstSignupID
	if n := len(s.order); n > 0 && s.order[n-1].ID >= FirstSignupID {
		m.ID = s.order[n-1].ID + 1
	}
	if err := s.add(m); err != nil {
		return err
	}
	if err := s.saveLocked(); err != nil {
		// Keep memory and file in step: an account that could not be saved does not exist.
		s.removeLocked(m)
		return err
	}
	return nil
}

func (s *Store) removeLocked(m *Member) {
	delete(s.byID, m.ID)
	delete(s.byEmail, NormalizeEmail(m.Email))
	s.order = slices.DeleteFunc(s.order, func(x *Member) bool { return x == m })
}

// Save writes the store to its path (no-op for an in-memory store).
func (s *Store) Save() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.saveLocked()
}

func (s *Store) saveLocked() error {
	if s.path == "" {
		return nil
	}
	return WriteFile(s.path, s.order)
}

// WriteFile writes members to path atomically in the members file format.
func WriteFile(path string, ms []*Member) error {
	b, err := json.MarshalIndent(fileFormat{Version: 1, Members: ms}, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".members-*.json")
	if err != nil {
		return fmt.Errorf("members: saving %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("members: saving %s: %w", path, err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("members: saving %s: %w", path, err)
	}
	return nil
}

// ByID returns the member with id, or nil.
func (s *Store) ByID(id uint64) *Member {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.byID[id]
}

// ByEmail returns the member with the e-mail address (case-insensitive), or nil.
func (s *Store) ByEmail(email string) *Member {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.byEmail[NormalizeEmail(email)]
}

// Count is the number of members.
func (s *Store) Count() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.order)
}

// Page returns members [offset, offset+limit) in id order.
func (s *Store) Page(offset, limit int) []*Member {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if offset < 0 || offset >= len(s.order) || limit <= 0 {
		return nil
	}
	end := min(offset+limit, len(s.order))
	return slices.Clone(s.order[offset:end])
}
