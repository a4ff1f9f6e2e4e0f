package main

// slotMap maps a gateway slot to a local session index (for REHELLO, which names only the
// slot): linear probing over a flat array of uint64 entries (slot<<32 | index+1; 0 = empty)
// with backward-shift deletion, so churn never leaves tombstones and the map never grows.
type slotMap struct {
	e    []uint64
	mask uint32
	n    int
}

func newSlotMap(capacity int) *slotMap {
	size := uint32(16)
	for int(size) < capacity*2 {
		size <<= 1
	}
	return &slotMap{e: make([]uint64, size), mask: size - 1}
}

func hashSlot(s uint32) uint32 { return (s * 0x9e3779b1) ^ (s >> 16) }

// put maps slot to idx (replacing an old mapping of the same slot). It reports false when
// the map is full (the caller sized it for its sessions, so that is a bug).
func (m *slotMap) put(slot uint32, idx int32) bool {
	v := uint64(slot)<<32 | uint64(uint32(idx)+1)
	for p, k := hashSlot(slot)&m.mask, 0; k <= int(m.mask); p, k = (p+1)&m.mask, k+1 {
		e := m.e[p]
		if e == 0 {
			if m.n+1 > int(m.mask) {
				return false
			}
			m.e[p] = v
			m.n++
			return true
		}
		if uint32(e>>32) == slot {
			m.e[p] = v
			return true
		}
	}
	return false
}

// get returns the index mapped to slot.
func (m *slotMap) get(slot uint32) (int32, bool) {
	for p, k := hashSlot(slot)&m.mask, 0; k <= int(m.mask); p, k = (p+1)&m.mask, k+1 {
		e := m.e[p]
		if e == 0 {
			return 0, false
		}
		if uint32(e>>32) == slot {
			return int32(uint32(e) - 1), true
		}
	}
	return 0, false
}

// del removes slot, shifting later entries of its probe run back (no tombstones).
func (m *slotMap) del(slot uint32) {
	p := hashSlot(slot) & m.mask
	for {
		e := m.e[p]
		if e == 0 {
			return
		}
		if uint32(e>>32) == slot {
			break
		}
		p = (p + 1) & m.mask
	}
	m.e[p] = 0
	m.n--
	for q := (p + 1) & m.mask; m.e[q] != 0; q = (q + 1) & m.mask {
		home := hashSlot(uint32(m.e[q]>>32)) & m.mask
		// Move e[q] into the hole at p if its home is not within (p, q] cyclically.
		if (q > p && (home <= p || home > q)) || (q < p && home <= p && home > q) {
			m.e[p] = m.e[q]
			m.e[q] = 0
			p = q
		}
	}
}
