package hl1

// Reconstruction of absolute seq/ts from their low bits, QUIC-packet-number style: the
// receiver picks the value congruent to the low bits that lies nearest its own reference.
// Worked examples are in PROTOCOL.md ("Reconstruction").

const (
	SeqBits = 15 // bits of seq_abs on the wire
	TSBits  = 16 // bits of ts_abs on the wire

	// MaxSeqGap is the largest number of consecutive lost frames after which the next
	// heartbeat still reconstructs to its true seq_abs.
	MaxSeqGap = 1<<(SeqBits-1) - 1 // 16383
	// MaxTSDrift is the largest |true ts_abs - expected ts| (in 10 ms ticks) that still
	// reconstructs: 32767 ticks = 327.67 s ahead, 32768 ticks = 327.68 s behind.
	MaxTSDrift = 1<<(TSBits-1) - 1
	// TickMS is the length of one ts tick in milliseconds.
	TickMS = 10
)

// ReconstructSeq returns the absolute sequence number nearest to lastSeq+1 whose low 15
// bits are seq15: lastSeq+1 + signext15(seq15 - (lastSeq+1) mod 2^15), i.e. a value in
// [lastSeq+1-16384, lastSeq+1+16383]. Candidates below zero are lifted by 2^15 (they
// cannot be sequence numbers). The caller must still require result > lastSeq and verify
// the MAC over it. Values near 2^64 (never reached in practice) wrap.
func ReconstructSeq(lastSeq uint64, seq15 uint16) uint64 {
	return reconstruct(lastSeq+1, uint64(seq15), SeqBits)
}

// ReconstructTS returns the absolute timestamp (10 ms ticks) nearest to expected whose low
// 16 bits are ts16: expected + signext16(ts16 - expected mod 2^16). expected is the last
// accepted ts_abs plus the server ticks elapsed since that frame. Candidates below zero are
// lifted by 2^16.
func ReconstructTS(expected uint64, ts16 uint16) uint64 {
	return reconstruct(expected, uint64(ts16), TSBits)
}

func reconstruct(expected, low uint64, bits uint) uint64 {
	win := uint64(1) << bits
	d := (low - expected) & (win - 1) // forward distance, 0..win-1
	if d < win/2 {
		return expected + d
	}
	back := win - d // the same residue reached backwards: 1..win/2
	if back > expected {
		return expected + d // expected-back would be negative
	}
	return expected - back
}
