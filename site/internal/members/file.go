package members

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

// The JSON members file is the site's former storage. It is read only by `site import`, the
// one-time move into the database (site/store); nothing writes it any more.

// maxFileSize bounds how much of a members file is read.
const maxFileSize = 256 << 20

// fileFormat is the JSON file layout.
type fileFormat struct {
	Version int       `json:"version"`
	Members []*Member `json:"members"`
}

// NormalizeEmail is the form e-mail addresses are compared and stored in.
func NormalizeEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

// ReadFile reads a members file (version 1) and checks its ids and e-mails are unique.
func ReadFile(path string) ([]*Member, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("members: reading %s: %w", path, err)
	}
	if st.Size() > maxFileSize {
		return nil, fmt.Errorf("members: %s is larger than %d bytes", path, maxFileSize)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("members: reading %s: %w", path, err)
	}
	var f fileFormat
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("members: %s is not a members file: %w", path, err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("members: %s has version %d, want 1", path, f.Version)
	}
	ids, emails := map[uint64]bool{}, map[string]bool{}
	for _, m := range f.Members {
		if m == nil || m.ID == 0 {
			return nil, errors.New("members: " + path + ": a member with id 0")
		}
		e := NormalizeEmail(m.Email)
		if ids[m.ID] || emails[e] {
			return nil, fmt.Errorf("members: %s: duplicate member id %d or e-mail %s", path, m.ID, e)
		}
		ids[m.ID], emails[e] = true, true
	}
	return f.Members, nil
}

// WriteFile writes members in the file format (tests and tools that make import input).
func WriteFile(path string, ms []*Member) error {
	b, err := json.MarshalIndent(fileFormat{Version: 1, Members: ms}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o600)
}
