package table

import "sync"

// index maps (user, device) to the slot of its session. It is an open-addressing table of
// uint32 slots with linear probing and backward-shift deletion (no tombstones), sized
// 5/3 of the table's capacity (load factor <= 0.6: ~3.6 probes for a miss), so it costs
// ~6.7 bytes per session and never grows. Keys are not stored: a probe compares the User and Device of the session a
// slot names. That read of another shard's session is safe because User and Device are only
// written under mu (when a session is allocated) and a session leaves the index, under mu,
// before its index can be reused.
//
// It is the only lock in the table and it is taken on HELLO and when a batch of sessions is
// released, never per heartbeat.
type index struct {
	mu    sync.Mutex
	slots []uint32
	n     uint32
	t     *Table
}

func newIndex(t *Table, capacity int) *index {
	n := capacity*5/3 + 1
	return &index{slots: make([]uint32, n), n: uint32(n), t: t}
}

// home maps a key to its first probe position (multiply-shift range reduction).
func (ix *index) home(user uint64, device uint32) uint32 {
	return uint32(uint64(hashKey(user, device)) * uint64(ix.n) >> 32)
}

func (ix *index) step(i uint32) uint32 {
	if i++; i == ix.n {
		return 0
	}
	return i
}

// dist is the cyclic probe distance from a to b.
func (ix *index) dist(a, b uint32) uint32 {
	if b >= a {
		return b - a
	}
	return b + ix.n - a
}

func hashKey(user uint64, device uint32) uint32 {
	x := user ^ uint64(device)*0x9E3779B97F4A7C15
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return uint32(x)
}

func (ix *index) keyOf(slot uint32) (uint64, uint32) {
	s := ix.t.sessionAt(slot)
	return s.User, s.Device
}

// find returns the slot of (user, device). Caller holds mu.
func (ix *index) find(user uint64, device uint32) (uint32, bool) {
	for i := ix.home(user, device); ; i = ix.step(i) {
		v := ix.slots[i]
		if v == 0 {
			return 0, false
		}
		if u, d := ix.keyOf(v); u == user && d == device {
			return v, true
		}
	}
}

// insert adds slot for (user, device), which must not be present. Caller holds mu. The
// index has room by construction (capacity*2 entries for capacity sessions).
func (ix *index) insert(user uint64, device uint32, slot uint32) {
	i := ix.home(user, device)
	for ix.slots[i] != 0 {
		i = ix.step(i)
	}
	ix.slots[i] = slot
}

// replace swaps the entry holding old (of user, device) for slot, the same session under a
// new generation: the probe position depends on (user, device) only. Caller holds mu.
func (ix *index) replace(user uint64, device uint32, old, slot uint32) {
	for i := ix.home(user, device); ix.slots[i] != 0; i = ix.step(i) {
		if ix.slots[i] == old {
			ix.slots[i] = slot
			return
		}
	}
}

// remove deletes the entry holding exactly slot, if any. Caller holds mu.
func (ix *index) remove(user uint64, device uint32, slot uint32) bool {
	i := ix.home(user, device)
	for ix.slots[i] != slot {
		if ix.slots[i] == 0 {
			return false
		}
		i = ix.step(i)
	}
	// Backward-shift: pull later members of the probe run into the hole.
	for j := ix.step(i); ix.slots[j] != 0; j = ix.step(j) {
		u, d := ix.keyOf(ix.slots[j])
		// Move slots[j] into i if its home is not in the cyclic range (i, j].
		if ix.dist(ix.home(u, d), j) >= ix.dist(i, j) {
			ix.slots[i] = ix.slots[j]
			i = j
		}
	}
	ix.slots[i] = 0
	return true
}
