package table

import (
	"fmt"
	"math/bits"
)

// Slot is the 32-bit session address carried by WELCOME, HEARTBEAT, BYE and BATCH:
//
//	[generation : genBits][shard : shardBits][index : indexBits]   (high to low)
//
// The widths are fixed per process by the table's shape (Options.Shards and
// Options.SessionsPerShard). Generation starts at 1 so a valid slot is never 0.
type Slot = uint32

// layout holds the bit widths of a slot for one table shape.
type layout struct {
	indexBits, shardBits, genBits uint
	indexMask, shardMask, genMask uint32
}

func newLayout(shards, perShard int) (layout, error) {
	if shards < 1 || perShard < 1 {
		return layout{}, fmt.Errorf("table: need at least one shard and one session per shard (got %d shards, %d per shard)", shards, perShard)
	}
	var l layout
	l.indexBits = uint(bits.Len(uint(perShard - 1)))
	l.shardBits = uint(bits.Len(uint(shards - 1)))
	if l.indexBits+l.shardBits > 28 {
		return layout{}, fmt.Errorf("table: %d shards x %d sessions leaves fewer than 4 generation bits in a 32-bit slot; lower -max-sessions or -loops", shards, perShard)
	}
	l.genBits = 32 - l.indexBits - l.shardBits
	l.indexMask = 1<<l.indexBits - 1
	l.shardMask = 1<<l.shardBits - 1
	// Session.gen is a byte: at most 8 generation bits are used; the bits above must be 0.
	l.genMask = uint32(1<<min(l.genBits, 8) - 1)
	return l, nil
}

func (l layout) make(shard int, index uint32, gen uint32) Slot {
	return (gen&l.genMask)<<(l.indexBits+l.shardBits) | uint32(shard)<<l.indexBits | index
}

func (l layout) split(s Slot) (shard int, index uint32, gen uint32) {
	return int(s >> l.indexBits & l.shardMask), s & l.indexMask, s >> (l.indexBits + l.shardBits)
}

// genStart returns the generation before the first one a process gives out, from its
// epoch: nextGen(genStart(epoch)) is that first generation (1 when epoch is 0).
func (l layout) genStart(epoch uint32) uint32 {
	// Fold all 32 bits in, so epochs that differ only in their high bits differ here too.
	return (epoch ^ epoch>>8 ^ epoch>>16 ^ epoch>>24) & l.genMask
}

// nextGen returns the generation after g, skipping 0.
func (l layout) nextGen(g uint32) uint32 {
	g = (g + 1) & l.genMask
	if g == 0 {
		g = 1
	}
	return g
}
