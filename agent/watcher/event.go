package watcher

// EventType is what happened to a user (all devices together).
type EventType uint8

const (
	EventOnline  EventType = 1 // the user's first session appeared
	EventOffline EventType = 2 // the user's last session went away
	EventStatus  EventType = 3 // the user's combined status changed (e.g. away -> active)
)

func (t EventType) String() string {
	switch t {
	case EventOnline:
		return "online"
	case EventOffline:
		return "offline"
	case EventStatus:
		return "status"
	}
	return "unknown"
}

// Status values, as in protocol/feed.
const (
	StatusAway   uint8 = 1
	StatusActive uint8 = 2
)

// Event is one change of a user's presence.
type Event struct {
	Type    EventType
	User    uint64
	Status  uint8 // combined status after the event (0 when offline)
	Devices int   // online sessions after the event
	// At is the transition time (unix ms, gateway clock): since when online, or last seen.
	At int64
	// Version is the Consul index of the update that caused the event.
	Version uint64
	// ID names the update's source: "<gateway>/<lane>/<epoch>/<seq>" for change records,
	// "resync/<index>" for bucket reads, "gone/<gateway>/<index>" for a lost session.
	ID string
}
