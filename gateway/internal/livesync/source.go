package livesync

import (
	"context"
	"time"

	"go.uber.org/zap"

	"heartline/agent/watcher"
	"heartline/protocol/hl1"
)

// WatcherSource adapts the agent's watcher library to Source.
type WatcherSource struct{ W *watcher.Watcher }

// Ready implements Source.
func (s WatcherSource) Ready() bool { return s.W.Ready() }

// Version implements Source: the Consul index the watcher's cache reflects.
func (s WatcherSource) Version() uint64 { return s.W.Stats().Index }

// Lookup implements Source.
func (s WatcherSource) Lookup(user uint64) hl1.Event {
	p := s.W.Lookup(user)
	ev := hl1.Event{UserID: user, LastSeenMS: uint64(max(p.LastSeen, 0))}
	if !p.Online {
		return ev
	}
	ev.State = stateOf(p.Status)
	ev.Devices = uint8(min(len(p.Devices), 255))
	for _, d := range p.Devices { // online: the latest transition of any device
		ev.LastSeenMS = max(ev.LastSeenMS, uint64(max(d.Since, 0)))
	}
	return ev
}

// EventOf converts a watcher event. LastSeenMS is the event's time: the last heartbeat
// for an offline user, the transition (online since, status change) for an online one.
func EventOf(ev watcher.Event) hl1.Event {
	out := hl1.Event{UserID: ev.User, LastSeenMS: uint64(max(ev.At, 0)), Version: ev.Version}
	if ev.Type != watcher.EventOffline && ev.Devices > 0 {
		out.State = stateOf(ev.Status)
		out.Devices = uint8(min(ev.Devices, 255))
	}
	return out
}

func stateOf(status uint8) hl1.State {
	if status == watcher.StatusActive {
		return hl1.StateActive
	}
	return hl1.StateAway
}

// Pump feeds h from w until ctx ends: it subscribes to w's events for the users h is
// interested in, tells h when w is ready (h then sends the initial states it held back),
// publishes events in batches (everything already waiting is taken at once, so the
// changes of one Consul transaction coalesce), and asks h to resync when the watcher had to
// drop events for it. Run w.Run separately.
func Pump(ctx context.Context, w *watcher.Watcher, h *Hub) {
	sub := w.Subscribe(8192, h.Interested)
	defer w.Unsubscribe(sub)
	readyTick := time.NewTicker(20 * time.Millisecond)
	defer readyTick.Stop()
	readyC := readyTick.C
	var dropped uint64
	batch := make([]hl1.Event, 0, 1024)
	for {
		select {
		case <-ctx.Done():
			return
		case <-readyC:
			if w.Ready() && (h.o.Privacy == nil || h.o.Privacy.Ready()) {
				h.o.Log.Info("presence watcher ready: sending initial states", zap.Int64("subscriptions", h.Stats.Active.Load()))
				h.SetReady()
				readyTick.Stop()
				readyC = nil
			}
		case ev := <-sub.C:
			batch = append(batch[:0], EventOf(ev))
		drain:
			for len(batch) < cap(batch) {
				select {
				case ev := <-sub.C:
					batch = append(batch, EventOf(ev))
				default:
					break drain
				}
			}
			h.Publish(batch)
			if d := sub.Dropped(); d != dropped {
				dropped = d
				h.Resync()
			}
		}
	}
}
