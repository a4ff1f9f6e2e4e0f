package live

import (
	"heartline/agent/privacywatch"
)

// HidingSource is a Source whose online count leaves out invisible members, so the count
// (shown to everyone, anonymous visitors too) does not move when one of them comes or goes.
type HidingSource struct {
	Source
	View *privacywatch.View
}

// OnlineUsers implements Source.
func (s HidingSource) OnlineUsers() int {
	n := s.Source.OnlineUsers()
	s.View.Hidden(func(u uint64) {
		if s.Source.Lookup(u).Online {
			n--
		}
	})
	return max(n, 0)
}
