package web

import (
	"context"
	"sync"
	"time"

	"heartline/site/internal/store"
)

// memberCount caches the number of members shown on the landing and members pages:
// counting a million rows takes longer than a page may. The first call counts; later calls
// return the cached number and, when it is older than countTTL, start one recount in the
// background, so no page view waits for a count.
type memberCount struct {
	mu       sync.Mutex
	n        int
	at       time.Time
	have     bool
	counting bool
}

// countTTL is how stale the shown member count may be.
const countTTL = 10 * time.Second

func (c *memberCount) get(ctx context.Context, st *store.Store, now time.Time) int {
	c.mu.Lock()
	if !c.have {
		c.mu.Unlock()
		n, err := st.CountMembers(ctx)
		c.mu.Lock()
		defer c.mu.Unlock()
		if err == nil {
			c.n, c.at, c.have = n, now, true
		}
		return c.n
	}
	defer c.mu.Unlock()
	if age := now.Sub(c.at); (age >= countTTL || age < 0) && !c.counting {
		c.counting = true
		go func() {
			n, err := st.CountMembers(context.WithoutCancel(ctx))
			c.mu.Lock()
			if err == nil {
				c.n = n
			}
			c.at, c.counting = now, false
			c.mu.Unlock()
		}()
	}
	return c.n
}

// invalidate makes the next get count again, synchronously (after a sign-up is verified,
// so the new member sees themselves counted).
func (c *memberCount) invalidate() {
	c.mu.Lock()
	c.have = false
	c.mu.Unlock()
}
