package wire

import (
	"heartline/protocol/hl1"
)

// PresharedTable is the comparators' session state for -handshake none runs: slot s (1..n)
// has key PresharedKey(s), and its last accepted seq and ts. Apply does per heartbeat what
// the gateway does (decode, reconstruct seq/ts, SipHash tag, store), minus the HELLO path,
// so comparators that use it do the same cryptographic work per heartbeat as the gateway.
// Flat arrays, no pointers, no allocation per frame. Not safe for concurrent use of one
// slot (each sender socket maps to one receive loop, so a slot has one writer).
type PresharedTable struct {
	Epoch   uint32
	key     []hl1.MACKey
	lastSeq []uint64
	lastTS  []uint64
	lastMS  []int64
	startMS int64
	batch   hl1.Batch
}

// NewPresharedTable prepares n sessions (slots 1..n); startMS is the time both sides take
// as ts 0 (the loadgen's start; clocks within a few minutes are fine).
func NewPresharedTable(n int, epoch uint32, startMS int64) *PresharedTable {
	t := &PresharedTable{Epoch: epoch, key: make([]hl1.MACKey, n+1), lastSeq: make([]uint64, n+1), lastTS: make([]uint64, n+1), lastMS: make([]int64, n+1), startMS: startMS}
	for s := 1; s <= n; s++ {
		t.key[s] = PresharedKey(uint32(s))
		t.lastMS[s] = startMS
	}
	return t
}

// Apply handles one datagram (HEARTBEAT, BYE or BATCH) received at nowMS. It returns the
// heartbeats accepted and rejected.
func (t *PresharedTable) Apply(frame []byte, nowMS int64) (ok, bad int) {
	typ, err := hl1.PeekType(frame)
	if err != nil {
		return 0, 1
	}
	switch typ {
	case hl1.TypeHeartbeat, hl1.TypeBye:
		h, err := hl1.ParseHeartbeat(frame)
		if err != nil {
			return 0, 1
		}
		if t.one(h, nowMS) {
			return 1, 0
		}
		return 0, 1
	case hl1.TypeBatch:
		if err := hl1.ParseBatch(frame, &t.batch); err != nil {
			return 0, 1
		}
		for i := 0; i < t.batch.Len(); i++ {
			if t.one(t.batch.Entry(i), nowMS) {
				ok++
			} else {
				bad++
			}
		}
		return ok, bad
	}
	return 0, 1
}

func (t *PresharedTable) one(h hl1.Heartbeat, nowMS int64) bool {
	s := h.Slot
	if s == 0 || int(s) >= len(t.key) {
		return false
	}
	expected := t.lastTS[s] + hl1.TicksSince(t.lastMS[s], nowMS)
	seq, ts, err := h.Open(t.key[s], t.Epoch, t.lastSeq[s], expected)
	if err != nil {
		return false
	}
	t.lastSeq[s], t.lastTS[s], t.lastMS[s] = seq, ts, nowMS
	return true
}
