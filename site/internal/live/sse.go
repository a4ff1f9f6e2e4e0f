package live

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"heartline/protocol/privacy"
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
// a reconnecting EventSource) takes precedence over since. Options.Identify says who the
// viewer is; an anonymous viewer may follow the online count only.
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
	v, err := h.o.Identify(r, ids)
	if err != nil {
		var ie *IdentifyError
		if errors.As(err, &ie) {
			http.Error(w, ie.Message, ie.Status)
			return
		}
		h.o.Log.Warn("live: identifying a viewer", zap.Error(err))
		http.Error(w, "cannot open a live stream right now; retry shortly", http.StatusServiceUnavailable)
		return
	}
	if v.ID == 0 && len(ids) > 0 {
		http.Error(w, "log in to follow members' presence (anonymous visitors get the online count only)", http.StatusForbidden)
		return
	}
	c := &client{viewer: v.ID, issued: v.IssuedMS, addr: v.Addr, ids: ids, basis: make([]privacy.Basis, len(ids)), shown: make([]bool, len(ids)),
		q: make(chan []byte, h.o.QueueLen), kick: make(chan struct{}, 1)}
	for i, u := range ids {
		c.basis[i] = v.Basis[u]
	}
	switch h.add(c) {
	case errFull:
		w.Header().Set("Retry-After", "5")
		http.Error(w, "too many live connections; retry later", http.StatusServiceUnavailable)
		return
	case errTooManyFromAddr:
		w.Header().Set("Retry-After", "10")
		http.Error(w, "too many live connections from your network: close other tabs, or retry later", http.StatusTooManyRequests)
		return
	case errTooManyForMember:
		w.Header().Set("Retry-After", "10")
		http.Error(w, "too many live connections for your account: close other tabs, or retry later", http.StatusTooManyRequests)
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
	now := h.o.Now()
	members := make([]presenceJSON, 0, len(c.ids))
	h.mu.Lock() // c.shown is the hub's
	for i, u := range c.ids {
		allowed := !h.enforce || h.o.Privacy.Subject(u).Allowed(c.viewer, u, c.basis[i], c.issued)
		c.shown[i] = allowed
		members = append(members, ViewOf(h.o.Source.Lookup(u), c.viewer, allowed, now))
	}
	h.mu.Unlock()
	return formatFrame(id, "snapshot", struct {
		Online   int            `json:"online"`
		Members  []presenceJSON `json:"members"`
		ServerMS int64          `json:"server_ms"`
	}{h.o.Source.OnlineUsers(), members, h.o.Now().UnixMilli()})
}

var (
	errFull             = errors.New("live: the hub is full")
	errTooManyFromAddr  = errors.New("live: too many streams from one address range")
	errTooManyForMember = errors.New("live: too many streams for one member")
)

func (h *Hub) add(c *client) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case len(h.clients) >= h.o.MaxClients:
		return errFull
	case c.addr != "" && h.perAddr[c.addr] >= h.o.MaxPerAddr:
		return errTooManyFromAddr
	case c.viewer != 0 && h.perUser[c.viewer] >= h.o.MaxPerMember:
		return errTooManyForMember
	}
	h.clients[c] = struct{}{}
	if c.addr != "" {
		h.perAddr[c.addr]++
	}
	if c.viewer != 0 {
		h.perUser[c.viewer]++
	}
	for i, id := range c.ids {
		m := h.watching[id]
		if m == nil {
			m = map[*client]int{}
			h.watching[id] = m
		}
		m[c] = i
	}
	return nil
}

// dec decrements m[k], deleting it at zero.
func dec[K comparable](m map[K]int, k K) {
	if m[k] <= 1 {
		delete(m, k)
	} else {
		m[k]--
	}
}

func (h *Hub) remove(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.clients, c)
	if c.addr != "" {
		dec(h.perAddr, c.addr)
	}
	if c.viewer != 0 {
		dec(h.perUser, c.viewer)
	}
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
