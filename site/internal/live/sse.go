package live

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// ErrBadIDs is returned by ParseIDs for a malformed id list.
var ErrBadIDs = errors.New("ids must be a comma-separated list of member ids (positive integers)")

// ParseIDs parses "1,2,3" (duplicates removed), allowing at most max ids.
func ParseIDs(s string, max int) ([]uint64, error) {
	if s == "" {
		return nil, nil
	}
	if strings.Count(s, ",")+1 > max {
		return nil, fmt.Errorf("too many ids: at most %d per request", max)
	}
	seen := map[uint64]bool{}
	var out []uint64
	for part := range strings.SplitSeq(s, ",") {
		id, err := strconv.ParseUint(strings.TrimSpace(part), 10, 64)
		if err != nil || id == 0 {
			return nil, ErrBadIDs
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, nil
}

// ServeHTTP is the SSE endpoint: GET ?ids=1,2,3[&since=<cursor>]. Last-Event-ID (sent by
// a reconnecting EventSource) takes precedence over since.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ids, err := ParseIDs(r.URL.Query().Get("ids"), h.o.MaxIDs)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	select {
	case <-h.closed:
		w.Header().Set("Retry-After", "2")
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	default:
	}
	c := &client{ids: ids, q: make(chan []byte, h.o.QueueLen), kick: make(chan struct{}, 1)}
	if !h.add(c) {
		w.Header().Set("Retry-After", "5")
		http.Error(w, "too many live connections; retry later", http.StatusServiceUnavailable)
		return
	}
	defer h.remove(c)

	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("since")
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no")
	rc := http.NewResponseController(w)
	write := func(b []byte) bool {
		rc.SetWriteDeadline(time.Now().Add(h.o.WriteTimeout)) //nolint:errcheck // not all writers support it
		if _, err := w.Write(b); err != nil {
			return false
		}
		if err := rc.Flush(); err != nil {
			return false
		}
		h.sent.Add(1)
		return true
	}
	// The client is registered before the cursor is compared, so nothing published after
	// the comparison can be missed: it is in c.q.
	upToDate := h.upToDate(last)
	if !write(fmt.Appendf(nil, "retry: %d\n\n", h.o.Retry.Milliseconds())) {
		return
	}
	if !upToDate && !write(h.snapshot(c)) {
		return
	}
	ping := time.NewTicker(h.o.Ping)
	defer ping.Stop()
	ctx := r.Context()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.closed:
			return
		case f := <-c.q:
			if c.resync.Load() {
				continue // superseded by the snapshot the kick will bring
			}
			if !write(f) {
				return
			}
		case <-c.kick:
			h.resyncs.Add(1)
			if !write(h.snapshot(c)) {
				return
			}
		case <-ping.C:
			if !write([]byte(": ping\n\n")) {
				return
			}
		}
	}
}

// snapshot drains c's queue, clears its resync flag and returns a frame with the current
// state of everything c watches. The queue is drained before the cache is read, so the
// snapshot covers every frame it discards.
func (h *Hub) snapshot(c *client) []byte {
	c.resync.Store(false)
	for drained := false; !drained; {
		select {
		case <-c.q:
		default:
			drained = true
		}
	}
	id := h.Cursor()
	members := make([]presenceJSON, 0, len(c.ids))
	for _, u := range c.ids {
		members = append(members, PresenceOf(h.o.Source.Lookup(u)))
	}
	return formatFrame(id, "snapshot", struct {
		Online   int            `json:"online"`
		Members  []presenceJSON `json:"members"`
		ServerMS int64          `json:"server_ms"`
	}{h.o.Source.OnlineUsers(), members, h.o.Now().UnixMilli()})
}

func (h *Hub) add(c *client) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.clients) >= h.o.MaxClients {
		return false
	}
	h.clients[c] = struct{}{}
	for _, id := range c.ids {
		m := h.watching[id]
		if m == nil {
			m = map[*client]struct{}{}
			h.watching[id] = m
		}
		m[c] = struct{}{}
	}
	return true
}

func (h *Hub) remove(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.clients, c)
	for _, id := range c.ids {
		if m := h.watching[id]; m != nil {
			delete(m, c)
			if len(m) == 0 {
				delete(h.watching, id)
			}
		}
	}
	h.o.Log.Debug("live: client left", zap.Int("ids", len(c.ids)))
}
