package main

// wheel is a hashed timing wheel over a session table: bucket b holds an intrusive
// singly-linked list through sessions.next, so filing a session is O(1) and costs no
// memory beyond one int32 per session. It is lazy like the gateway's: a session is filed
// under min(due, horizon); when its bucket fires the worker compares due with now and
// re-files it if it is not due yet, so changing a session's due time never needs an unlink.
type wheel struct {
	tickMS uint32
	head   []int32
	mask   uint32
	cursor uint32 // next tick to fire
}

// newWheel returns a wheel whose horizon covers at least horizonMS.
func newWheel(tickMS, horizonMS uint32) *wheel {
	if tickMS == 0 {
		tickMS = 1
	}
	n := uint32(2)
	for n*tickMS < horizonMS+2*tickMS {
		n <<= 1
	}
	w := &wheel{tickMS: tickMS, head: make([]int32, n), mask: n - 1}
	for i := range w.head {
		w.head[i] = -1
	}
	return w
}

// file links session i to fire at dueMS (clamped to the horizon and to the next tick).
func (w *wheel) file(s *sessions, i int32, dueMS uint32) {
	t := dueMS / w.tickMS
	if t < w.cursor {
		t = w.cursor
	}
	if t-w.cursor > w.mask {
		t = w.cursor + w.mask
	}
	b := t & w.mask
	s.next[i] = w.head[b]
	w.head[b] = i
	s.flags[i] |= flInWheel
}

// advance fires every bucket up to nowMS, calling fn for each session in it (already
// unlinked: fn may file it again).
func (w *wheel) advance(s *sessions, nowMS uint32, fn func(i int32)) {
	end := nowMS / w.tickMS
	for ; w.cursor <= end; w.cursor++ {
		b := w.cursor & w.mask
		i := w.head[b]
		w.head[b] = -1
		for i >= 0 {
			nx := s.next[i]
			s.next[i] = -1
			s.flags[i] &^= flInWheel
			fn(i)
			i = nx
		}
	}
}

// nextDue returns the time of the heartbeat after one sent at nowMS: one interval later,
// shifted uniformly by up to +-jitter of the interval. u is a uniform sample in [0,1).
func nextDue(nowMS, intervalMS uint32, jitter, u float64) uint32 {
	j := (2*u - 1) * jitter * float64(intervalMS)
	d := float64(intervalMS) + j
	if d < 1 {
		d = 1
	}
	return nowMS + uint32(d)
}
