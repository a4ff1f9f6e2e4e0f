package livesync

import (
	"testing"

	"heartline/agent/watcher"
	"heartline/protocol/hl1"
)

func TestEventOf(t *testing.T) {
	cases := []struct {
		in   watcher.Event
		want hl1.Event
	}{
		{watcher.Event{Type: watcher.EventOnline, User: 5, Status: watcher.StatusActive, Devices: 1, At: 1000, Version: 7},
			hl1.Event{UserID: 5, State: hl1.StateActive, Devices: 1, LastSeenMS: 1000, Version: 7}},
		{watcher.Event{Type: watcher.EventStatus, User: 5, Status: watcher.StatusAway, Devices: 300, At: 2000, Version: 8},
			hl1.Event{UserID: 5, State: hl1.StateAway, Devices: 255, LastSeenMS: 2000, Version: 8}},
		{watcher.Event{Type: watcher.EventOffline, User: 5, At: 3000, Version: 9},
			hl1.Event{UserID: 5, State: hl1.StateOffline, LastSeenMS: 3000, Version: 9}},
		{watcher.Event{Type: watcher.EventOffline, User: 5, At: -1, Version: 9}, // a clock before 1970 is not a time
			hl1.Event{UserID: 5, State: hl1.StateOffline, Version: 9}},
	}
	for _, c := range cases {
		if got := EventOf(c.in); got != c.want {
			t.Errorf("EventOf(%+v) = %+v, want %+v", c.in, got, c.want)
		}
	}
}
