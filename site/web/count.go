package web

import (
	"context"
	"sync"
	"time"

	"heartline/site/store"
)

// memberCount caches the number of members shown on the landing and members pages:
// counting a million rows on every page view would cost more than the page.
type memberCount struct {
	mu   sync.Mutex
	n    int
	at   time.Time
	have bool
}

// countTTL is how stale the shown member count may be.
const countTTL = 10 * time.Second

func (c *memberCount) get(ctx context.Context, st *store.Store, now time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.have && now.Sub(c.at) < countTTL && now.Sub(c.at) >= 0 {
		return c.n
	}
	n, err := st.CountMembers(ctx)
	if err != nil {
		return c.n // keep the last known count
	}
	c.n, c.at, c.have = n, now, true
	return n
}

// invalidate makes the next get count again (after a sign-up is verified).
func (c *memberCount) invalidate() {
	c.mu.Lock()
	c.have = false
	c.mu.Unlock()
}
