package web

import (
	"context"
	"time"
)

// Password hashing is the site's most expensive operation (argon2id: 19 MiB and ~30 ms of a
// core each). Rate limits bound how often one address or account may ask for it; the hash
// slots bound how many run at once, whatever the number of addresses asking, so a flood of
// logins can neither take all memory nor all cores from the rest of the site.

// withHashSlot runs f once one of Options.HashConcurrency slots is free; if none frees up
// within Options.HashWait (or ctx ends) it returns how long the client should wait before
// retrying, without running f.
func (s *Server) withHashSlot(ctx context.Context, f func()) time.Duration {
	t := time.NewTimer(s.o.HashWait)
	defer t.Stop()
	select {
	case s.hashSlots <- struct{}{}:
	case <-t.C:
		s.m.hashBusy.Inc()
		return time.Second
	case <-ctx.Done():
		return time.Second
	}
	defer func() { <-s.hashSlots }()
	f()
	return 0
}
