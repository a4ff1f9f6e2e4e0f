package members

import "time"

// Member is one account with its public profile. PasswordHash is never rendered or sent.
type Member struct {
	ID           uint64    `json:"id"`
	Email        string    `json:"email"`
	PasswordHash string    `json:"password_hash"`
	Nickname     string    `json:"nickname"`
	Gender       string    `json:"gender"` // "female" or "male"
	BirthYear    int       `json:"birth_year"`
	City         string    `json:"city"`
	HeightCM     int       `json:"height_cm,omitempty"`
	Education    string    `json:"education,omitempty"`
	Occupation   string    `json:"occupation,omitempty"`
	Interests    []string  `json:"interests,omitempty"`
	Bio          string    `json:"bio,omitempty"`
	Demo         bool      `json:"demo,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	// Verified: the member followed the link in the verification e-mail (demo members are).
	Verified bool `json:"verified,omitempty"`
	// Photo is the content-addressed name of the profile photo ("<sha256>.jpg"); "" for none.
	Photo string `json:"photo,omitempty"`
	// LastActive is the last activity (login, page view, presence transition), unix ms;
	// the members list and search sort by it.
	LastActive int64 `json:"last_active_ms,omitempty"`
	// PresenceVisibility is who may see this member's presence: "members" (default),
	// "matches" or "nobody". Stored now; the presence privacy change enforces it.
	PresenceVisibility string `json:"presence_visibility,omitempty"`
}

// Presence visibility settings.
const (
	VisibleToMembers = "members"
	VisibleToMatches = "matches"
	VisibleToNobody  = "nobody"
)

// Age is the member's age in years at now (by birth year).
func (m *Member) Age(now time.Time) int { return now.Year() - m.BirthYear }

// GenderLabel is the Chinese label of Gender.
func (m *Member) GenderLabel() string {
	switch m.Gender {
	case "female":
		return "女"
	case "male":
		return "男"
	}
	return ""
}

// Initial is the first character of the nickname, for the avatar.
func (m *Member) Initial() string {
	for _, r := range m.Nickname {
		return string(r)
	}
	return "?"
}

// AvatarClass picks one of eight avatar colours from the id (a CSS class, so no inline style).
func (m *Member) AvatarClass() string {
	return "avatar-c" + string(rune('0'+m.ID%8))
}
