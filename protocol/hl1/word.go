package hl1

// Word is the packed 32-bit field of HEARTBEAT and BYE (the seed's Δts:16 | status:1 | Δseq:15):
//
//	bits 31..16  ts16   = ts_abs mod 2^16 (10 ms ticks since the session's base time)
//	bit  15      status   1 = active (foreground), 0 = away (background)
//	bits 14..0   seq15  = seq_abs mod 2^15
//
// The receiver turns ts16/seq15 back into absolute values with ReconstructTS and
// ReconstructSeq.
type Word uint32

// MakeWord packs the low bits; seq15 is taken mod 2^15.
func MakeWord(ts16 uint16, active bool, seq15 uint16) Word {
	w := Word(ts16)<<16 | Word(seq15&seqMask)
	if active {
		w |= 1 << 15
	}
	return w
}

// WordFor packs absolute values (it keeps their low 16 / 15 bits).
func WordFor(tsAbs, seqAbs uint64, active bool) Word {
	return MakeWord(uint16(tsAbs), active, uint16(seqAbs))
}

// TS16 returns ts_abs mod 2^16.
func (w Word) TS16() uint16 { return uint16(w >> 16) }

// Active returns the status bit: true = active/foreground, false = away/background.
func (w Word) Active() bool { return w&(1<<15) != 0 }

// Seq15 returns seq_abs mod 2^15.
func (w Word) Seq15() uint16 { return uint16(w) & seqMask }

const seqMask = 1<<15 - 1
