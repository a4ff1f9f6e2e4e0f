package watcher

import "slices"

// Update is one session's state as of Version.
type Update struct {
	Gateway string
	User    uint64
	Device  uint32
	Online  bool
	Status  uint8
	At      int64 // online: since; offline: last seen (unix ms)
	Version uint64
	ID      string
}

// sessionState is one session of a user on one gateway: 32 bytes, kept in a small slice
// per user (users have a handful of devices), because a full watcher holds every online
// session of the cluster.
type sessionState struct {
	version uint64
	at      int64
	device  uint32
	gw      uint32
	status  uint8
	online  bool
}

type userState struct {
	sessions []sessionState // online sessions and offline tombstones
	online   int32
	// version is the highest version applied to any of the user's sessions: user-level
	// events carry it, so a user's event versions never go backwards (see doc.go).
	version uint64
}

func (u *userState) find(device, gw uint32) int {
	for i := range u.sessions {
		if u.sessions[i].device == device && u.sessions[i].gw == gw {
			return i
		}
	}
	return -1
}

// Device is one online session of a user.
type Device struct {
	Device  uint32 `json:"device"`
	Gateway string `json:"gateway"`
	Status  uint8  `json:"status"`
	Since   int64  `json:"since_ms"`
	Version uint64 `json:"version"`
}

// Presence is a user's presence in the cache.
type Presence struct {
	User     uint64   `json:"user"`
	Online   bool     `json:"online"`
	Status   uint8    `json:"status,omitempty"`
	Devices  []Device `json:"devices"`
	LastSeen int64    `json:"last_seen_ms,omitempty"`
}

// Cache is the versioned presence cache. It is a pure data structure (no locking, no I/O):
// the Watcher serialises access to it.
type Cache struct {
	gws      []string
	gwIdx    map[string]uint32
	users    map[uint64]*userState // pointer: updated in place
	lastSeen map[uint64]int64
	sessions int
	online   int
}

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{gwIdx: map[string]uint32{}, users: map[uint64]*userState{}, lastSeen: map[uint64]int64{}}
}

func (c *Cache) gw(name string) uint32 {
	if i, ok := c.gwIdx[name]; ok {
		return i
	}
	i := uint32(len(c.gws))
	c.gws = append(c.gws, name)
	c.gwIdx[name] = i
	return i
}

func combined(u *userState) uint8 {
	var s uint8
	for _, ss := range u.sessions {
		if ss.online && ss.status > s {
			s = ss.status
		}
	}
	return s
}

// Apply applies u unless the cache already holds that session at the same or a newer
// version, and returns the user-level event it caused, if any. The event's Version is the
// highest version applied to any of the user's sessions (u.Version or more), so a user's
// events never go backwards even when the user's sessions on different gateways are
// learnt out of order.
func (c *Cache) Apply(u Update) (Event, bool) {
	us := c.users[u.User]
	if us == nil {
		us = &userState{}
		c.users[u.User] = us
	}
	if !u.Online && u.At > c.lastSeen[u.User] {
		// A max, so it commutes: even an offline update too old to apply still says the
		// user was seen then.
		c.lastSeen[u.User] = u.At
	}
	gw := c.gw(u.Gateway)
	i := us.find(u.Device, gw)
	var old sessionState
	if i >= 0 {
		old = us.sessions[i]
		if old.version >= u.Version {
			return Event{}, false
		}
	}
	wasOnline := us.online > 0
	before := combined(us)
	next := sessionState{version: u.Version, at: u.At, device: u.Device, gw: gw, status: u.Status, online: u.Online}
	if i >= 0 {
		us.sessions[i] = next
		if old.online {
			us.online--
			c.sessions--
		}
	} else {
		us.sessions = append(us.sessions, next)
	}
	if u.Online {
		us.online++
		c.sessions++
	}
	isOnline := us.online > 0
	after := combined(us)
	us.version = max(us.version, u.Version)
	ev := Event{User: u.User, Status: after, Devices: int(us.online), At: u.At, Version: us.version, ID: u.ID}
	switch {
	case !wasOnline && isOnline:
		c.online++
		ev.Type = EventOnline
	case wasOnline && !isOnline:
		c.online--
		ev.Type = EventOffline
		ev.At = c.lastSeen[u.User]
	case isOnline && before != after:
		ev.Type = EventStatus
	default:
		return Event{}, false
	}
	return ev, true
}

// SetLastSeen records a last-seen time from a last-seen key (kept if newer).
func (c *Cache) SetLastSeen(user uint64, at int64) {
	if at > c.lastSeen[user] {
		c.lastSeen[user] = at
	}
}

// Lookup returns user's presence.
func (c *Cache) Lookup(user uint64) Presence {
	p := Presence{User: user, LastSeen: c.lastSeen[user], Devices: []Device{}}
	us := c.users[user]
	if us == nil {
		return p
	}
	for _, s := range us.sessions {
		if s.online {
			p.Devices = append(p.Devices, Device{Device: s.device, Gateway: c.gws[s.gw], Status: s.status, Since: s.at, Version: s.version})
		}
	}
	slices.SortFunc(p.Devices, CompareDevices)
	p.Online = len(p.Devices) > 0
	p.Status = combined(us)
	return p
}

// Counts returns the online users and online sessions.
func (c *Cache) Counts() (users, sessions int) { return c.online, c.sessions }

// Sweep marks offline, at version, every online session that matches in (a scope of the
// cache that was just re-read from Consul) but is not in present, unless the cache holds
// it at a newer version. It returns the events caused.
func (c *Cache) Sweep(in func(user uint64, gateway string) bool, present map[SessionID]struct{}, version uint64, id string, now int64, emit func(Event)) {
	var victims []Update
	for user, us := range c.users {
		for _, s := range us.sessions {
			gw := c.gws[s.gw]
			if !s.online || s.version >= version || !in(user, gw) {
				continue
			}
			if _, ok := present[SessionID{User: user, Device: s.device, Gateway: gw}]; ok {
				continue
			}
			victims = append(victims, Update{Gateway: gw, User: user, Device: s.device, Online: false, At: now, Version: version, ID: id})
		}
	}
	for _, v := range victims {
		if ev, ok := c.Apply(v); ok && emit != nil {
			emit(ev)
		}
	}
}

// Prune forgets offline session tombstones whose version is below version, and users left
// with no sessions. Updates older than version must no longer arrive (the watcher prunes
// only what it has already passed by a wide margin).
func (c *Cache) Prune(version uint64) {
	for user, us := range c.users {
		keep := us.sessions[:0]
		for _, s := range us.sessions {
			if s.online || s.version >= version {
				keep = append(keep, s)
			}
		}
		us.sessions = keep
		if len(keep) == 0 && us.version < version {
			delete(c.users, user)
		}
	}
}

// SessionID names one session on one gateway.
type SessionID struct {
	User    uint64
	Device  uint32
	Gateway string
}

// Diff returns the events that turn old's view of every user into next's, all with the
// given version and id. The watcher uses it when it rebuilds its cache from scratch.
func Diff(old, next *Cache, version uint64, id string) []Event {
	var evs []Event
	seen := map[uint64]bool{}
	visit := func(user uint64) {
		if seen[user] {
			return
		}
		seen[user] = true
		a, b := old.Lookup(user), next.Lookup(user)
		ev := Event{User: user, Status: b.Status, Devices: len(b.Devices), Version: version, ID: id}
		switch {
		case !a.Online && b.Online:
			ev.Type, ev.At = EventOnline, b.Devices[0].Since
		case a.Online && !b.Online:
			ev.Type, ev.At = EventOffline, b.LastSeen
		case a.Online && b.Online && a.Status != b.Status:
			ev.Type = EventStatus
		default:
			return
		}
		evs = append(evs, ev)
	}
	for u := range old.users {
		visit(u)
	}
	for u := range next.users {
		visit(u)
	}
	return evs
}
