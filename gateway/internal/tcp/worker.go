package tcp

import (
	"time"

	"github.com/panjf2000/gnet/v2"

	"heartline/gateway/internal/ingest"
)

// OnTick closes connections past their auth or idle timeout (including ones stalled
// inside a frame) at least once a second, and lingering ones (see closeAfter) every 100ms
// while there are any.
func (s *Server) OnTick() (time.Duration, gnet.Action) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.lingering {
		c.checkLinger(now.UnixNano())
		s.lingerChecks.Add(1)
	}
	scan := s.scanInterval()
	if now.Sub(s.idleScan) >= scan {
		s.idleScan = now
		authCutoff := now.Add(-s.opts.AuthTimeout).UnixNano()
		idleCutoff := now.Add(-s.opts.IdleTimeout).UnixNano()
		for c := range s.conns {
			switch {
			case !c.authed.Load():
				if c.opened < authCutoff {
					c.close(CauseAuthTimeout)
				}
			case c.last.Load() < idleCutoff:
				c.close(CauseIdleTimeout)
			}
		}
	}
	if len(s.lingering) > 0 {
		return min(scan, 100*time.Millisecond), gnet.None
	}
	return scan, gnet.None
}

// scanInterval is how often OnTick looks for timed-out connections: once a second, or
// often enough that a short timeout (tests) fires within half of it late.
func (s *Server) scanInterval() time.Duration {
	return max(10*time.Millisecond, min(time.Second, s.opts.AuthTimeout/2, s.opts.IdleTimeout/2))
}

// worker owns the TCP shard: it applies frames from the event loops and hand-offs from
// the UDP loops, and ticks the shard.
func (s *Server) worker() {
	defer close(s.done)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	now := func() ingest.Now {
		t := s.opts.Clock.Now()
		return ingest.Now{Time: t, Tick: s.tb.Tick(t)}
	}
	var ho ingest.Handoff
	for {
		select {
		case w, ok := <-s.work:
			if !ok {
				return
			}
			s.h.Frame(w.b[:w.len], &w.c.from, w.c, now())
			w.c.queued.Add(-1)
		case ho = <-s.inbox:
			s.h.Handoff(&ho, now())
			ho.Conn = nil
		case <-tick.C:
			s.h.Tick(now())
		}
	}
}
