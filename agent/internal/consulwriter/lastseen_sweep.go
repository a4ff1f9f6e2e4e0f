package consulwriter

import (
	"context"
	"time"

	"go.uber.org/zap"

	"heartline/protocol/presencekv"
)

// The last-seen sweep drops entries past the retention from buckets that nobody writes any
// more: a merge drops them too, but only when the bucket gets a new offline time, and a
// bucket whose users never come back would keep their last-seen times for ever (personal
// data kept past -lastseen-retention). Each lane walks its own buckets round-robin on the
// writer's clock, a few per tick (sweepPlan), re-reads each one's key (another agent may have
// written it since this one cached it) and, when an entry is past the retention, queues the
// bucket for the last-seen goroutine, whose CAS merge drops it (or deletes the key when
// nothing is left). So one full pass over the buckets takes Options.LastSeenSweep and costs
// one consistent GET per bucket, spread evenly, plus one write per bucket that needs it.

// sweepPlan returns how often a lane sweeps and how many of its buckets per tick, so that
// its perLane buckets are all swept once per cycle, at most every minTick.
func sweepPlan(cycle time.Duration, perLane int) (tick time.Duration, n int) {
	const minTick = 100 * time.Millisecond
	perLane = max(perLane, 1)
	tick = cycle / time.Duration(perLane)
	if tick >= minTick {
		return tick, 1
	}
	ticks := max(int(cycle/minTick), 1)
	return minTick, (perLane + ticks - 1) / ticks
}

// sweepLastSeen examines the lane's next buckets and queues those holding an entry past the
// retention. Only the last-seen goroutine calls it (it owns l.lastSeen).
func (l *lane) sweepLastSeen(ctx context.Context) {
	o := &l.w.o
	buckets := int(o.Table.Buckets())
	mine := (buckets - l.id + len(l.w.lanes) - 1) / len(l.w.lanes) // buckets b with b % lanes == l.id
	if mine == 0 {
		return
	}
	minAt := o.Clock.Now().Add(-o.LastSeenRetention).UnixMilli()
	var expired []uint32
	for i := 0; i < l.w.sweepN; i++ {
		b := uint32(l.id + l.sweepNext*len(l.w.lanes))
		l.sweepNext = (l.sweepNext + 1) % mine
		if ls := l.lastSeen[b]; ls != nil {
			ls.known = false // re-read: another agent may have written it since
		} else {
			l.lastSeen[b] = &lastSeen{}
		}
		if err := l.refreshLastSeen(ctx, []uint32{b}); err != nil {
			o.Log.Warn("last-seen sweep cannot read a bucket; it is swept again next cycle", zap.Uint32("bucket", b), zap.Error(err))
			continue
		}
		o.Metrics.LastSeenSwept.Inc()
		dropped := 0
		for _, e := range l.lastSeen[b].entries {
			if e.At < minAt {
				dropped++
			}
		}
		if dropped > 0 {
			o.Metrics.LastSeenExpired.Add(float64(dropped))
			expired = append(expired, b)
		}
	}
	if len(expired) == 0 {
		return
	}
	l.lsMu.Lock()
	for _, b := range expired {
		if _, ok := l.pendingLastSeen[b]; !ok {
			l.pendingLastSeen[b] = []presencekv.LastSeen{} // nothing new: the merge only drops
		}
	}
	l.pendingN.Store(int64(len(l.pendingLastSeen) + l.lsInFlight))
	l.lsMu.Unlock()
}
