package table

// wheel is a hashed timing wheel of singly linked session lists (the links live in
// Session.next, so the wheel costs 4 bytes per bucket and nothing per session). One wheel
// per shard, advanced by the owning loop on its tick.
//
// It is lazy: a heartbeat does not move its session. When a bucket fires, each session in
// it is re-checked against its real deadline (derived from LastSeen) and either re-filed
// or moved on. A session that heartbeats every interval is thus touched by the wheel about
// once per timeout instead of once per heartbeat, and deadlines beyond the wheel's span
// need no overflow list.
type wheel struct {
	buckets []uint32 // head index+1 per bucket, 0 = empty
	mask    uint64
	unit    uint32 // table ticks (10 ms) per wheel tick
	cursor  uint64 // last wheel tick processed
}

const wheelBuckets = 4096

func newWheel(unit uint32, nowTick uint32) wheel {
	if unit == 0 {
		unit = 1
	}
	return wheel{buckets: make([]uint32, wheelBuckets), mask: wheelBuckets - 1, unit: unit, cursor: uint64(nowTick / unit)}
}

// insert files session idx to fire at the first wheel tick at or after due (table ticks).
func (s *Shard) wheelInsert(idx uint32, due uint32) {
	w := &s.wheel
	wt := (uint64(due) + uint64(w.unit) - 1) / uint64(w.unit)
	if wt <= w.cursor {
		wt = w.cursor + 1
	}
	b := wt & w.mask
	sess := &s.sessions[idx]
	sess.next = w.buckets[b]
	sess.flags |= flagInWheel
	w.buckets[b] = idx + 1
}

// advance fires every bucket up to now (table ticks) and returns how many wheel ticks it
// was behind (the wheel lag).
func (s *Shard) advance(now uint32) uint64 {
	w := &s.wheel
	target := uint64(now / w.unit)
	if target <= w.cursor {
		return 0
	}
	lag := target - w.cursor - 1
	// After a long pause, visiting each bucket once is enough: the checks are lazy.
	start := w.cursor + 1
	if target-w.cursor > uint64(len(w.buckets)) {
		start = target - uint64(len(w.buckets)) + 1
	}
	w.cursor = target
	for t := start; t <= target; t++ {
		b := t & w.mask
		head := w.buckets[b]
		w.buckets[b] = 0
		for head != 0 {
			idx := head - 1
			sess := &s.sessions[idx]
			head = sess.next
			sess.next = 0
			sess.flags &^= flagInWheel
			s.expire(idx, now)
		}
	}
	return lag
}

// expire decides what happens to a session whose wheel bucket fired.
func (s *Shard) expire(idx uint32, now uint32) {
	sess := &s.sessions[idx]
	deadline := sess.LastSeen + s.t.timeout
	switch sess.state {
	case stateOnline:
		if int32(now-deadline) < 0 {
			s.wheelInsert(idx, deadline)
			return
		}
		sess.state = stateLingering
		fallthrough
	case stateLingering:
		end := deadline + s.t.debounce
		if int32(now-end) < 0 {
			s.wheelInsert(idx, end)
			return
		}
		was := counted(sess)
		sess.state = stateOffline
		s.recount(sess, was)
		s.markDirty(idx)
	case stateOffline:
		if sess.flags&flagDirty == 0 && sess.flags&flagInIndex == 0 {
			s.release(idx)
		}
	}
}
