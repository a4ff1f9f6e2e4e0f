package table

import (
	"fmt"
	"sync/atomic"
	"time"
)

// TickDuration is the table's time unit: LastSeen, BaseTick and HL1 ts values are counted in
// 10 ms ticks since the table started (uint32: 497 days of uptime).
const TickDuration = 10 * time.Millisecond

// Options shapes a Table. Zero fields take the defaults noted.
type Options struct {
	Shards           int           // one per ingest loop plus one for TCP; default 1
	SessionsPerShard int           // capacity of each shard; default 1<<20
	Interval         time.Duration // heartbeat interval announced in WELCOME; default 10s
	Misses           int           // heartbeats missed before expiry; default 3
	Grace            time.Duration // added to Interval*Misses; 0: default 2s; negative: none (see None)
	Debounce         time.Duration // flap-suppression window after expiry; 0: default 5s; negative: none
	WheelTick        time.Duration // wheel resolution; default 100ms
	Start            time.Time     // time of tick 0; default time.Now()
	// Epoch is the gateway process's random epoch. Slot generations start at a value taken
	// from it, so a restarted gateway does not hand out the very slots its previous run
	// did: an app still heartbeating on an old slot then finds it unknown (REHELLO) instead
	// of landing on another member's session. 0 starts every slot at generation 1.
	Epoch uint32
}

// None turns a configured duration of 0 into the negative value Options reads as "none":
// a process whose flag says -grace 0 means no grace, not the default.
func None(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

func (o *Options) defaults() {
	if o.Shards == 0 {
		o.Shards = 1
	}
	if o.SessionsPerShard == 0 {
		o.SessionsPerShard = 1 << 20
	}
	if o.Interval == 0 {
		o.Interval = 10 * time.Second
	}
	if o.Misses == 0 {
		o.Misses = 3
	}
	if o.Grace == 0 {
		o.Grace = 2 * time.Second
	}
	if o.Debounce == 0 {
		o.Debounce = 5 * time.Second
	}
	o.Grace, o.Debounce = max(o.Grace, 0), max(o.Debounce, 0)
	if o.WheelTick == 0 {
		o.WheelTick = 100 * time.Millisecond
	}
	if o.Start.IsZero() {
		o.Start = time.Now()
	}
}

// Table is the sharded presence table. Create it with New; give shard i to the goroutine
// that owns it and to nobody else.
type Table struct {
	opts     Options
	layout   layout
	shards   []*Shard
	index    *index
	timeout  uint32 // ticks: Interval*Misses + Grace
	debounce uint32 // ticks
	genBase  uint8  // generation a never-used slot index starts from (see Options.Epoch)
	startMs  int64  // unix ms of tick 0
	tickets  atomic.Uint64
	snapGen  atomic.Uint64
	notify   chan struct{} // poked (non-blocking) when an outbox becomes ready
}

// New allocates the whole table up front (sessions, index, wheels), so memory is fixed by
// Options and a flood cannot grow it.
func New(opts Options) (*Table, error) {
	opts.defaults()
	l, err := newLayout(opts.Shards, opts.SessionsPerShard)
	if err != nil {
		return nil, err
	}
	if opts.Interval < TickDuration || opts.Misses < 1 || opts.Grace < 0 || opts.Debounce < 0 {
		return nil, fmt.Errorf("table: interval must be >= %v, misses >= 1, grace and debounce >= 0", TickDuration)
	}
	t := &Table{
		opts:     opts,
		layout:   l,
		timeout:  uint32((opts.Interval*time.Duration(opts.Misses) + opts.Grace) / TickDuration),
		debounce: uint32(opts.Debounce / TickDuration),
		genBase:  uint8(l.genStart(opts.Epoch)),
		startMs:  opts.Start.UnixMilli(),
		notify:   make(chan struct{}, 1),
	}
	t.index = newIndex(t, opts.Shards*opts.SessionsPerShard)
	unit := uint32(opts.WheelTick / TickDuration)
	for i := 0; i < opts.Shards; i++ {
		t.shards = append(t.shards, newShard(t, i, opts.SessionsPerShard, unit))
	}
	return t, nil
}

// Shard returns shard i.
func (t *Table) Shard(i int) *Shard { return t.shards[i] }

// Shards returns the number of shards.
func (t *Table) Shards() int { return len(t.shards) }

// ShardOf returns the shard a slot names (which may be out of range for a forged slot).
func (t *Table) ShardOf(s Slot) int {
	sh, _, _ := t.layout.split(s)
	return sh
}

// Tick converts a time to table ticks.
func (t *Table) Tick(now time.Time) uint32 {
	d := now.Sub(t.opts.Start)
	if d < 0 {
		return 0
	}
	return uint32(d / TickDuration)
}

// UnixMilli converts table ticks to unix milliseconds.
func (t *Table) UnixMilli(tick uint32) int64 { return t.startMs + int64(tick)*10 }

// WheelTick is the timing wheel's resolution (the unit of Shard.Tick's lag).
func (t *Table) WheelTick() time.Duration { return t.opts.WheelTick }

// Timeout is how long a session may stay silent before it expires: Interval x Misses +
// Grace. It is reported offline Debounce later, unless it comes back meanwhile.
func (t *Table) Timeout() time.Duration {
	return t.opts.Interval*time.Duration(t.opts.Misses) + t.opts.Grace
}

// Debounce is the flap-suppression window after Timeout.
func (t *Table) Debounce() time.Duration { return t.opts.Debounce }

// Interval is the heartbeat interval announced in WELCOME.
func (t *Table) Interval() time.Duration { return t.opts.Interval }

// RequestSnapshot asks every shard to publish its online sessions, part by part, with its
// next batches. It returns the generation the parts will carry (Outbox.SnapshotGen); parts
// of an older generation still in flight must be ignored.
func (t *Table) RequestSnapshot() uint64 {
	gen := t.snapGen.Add(1)
	for _, s := range t.shards {
		s.snapWanted.Store(true)
	}
	return gen
}

// Notify is poked (without blocking) whenever a shard's outbox becomes ready.
func (t *Table) Notify() <-chan struct{} { return t.notify }

// Pending returns the dirty sessions waiting to be published across shards.
func (t *Table) Pending() int64 {
	var n int64
	for _, s := range t.shards {
		n += s.Pending()
	}
	return n
}

// Online returns the number of sessions online (for metrics): confirmed by a first
// heartbeat and not offline, including those inside the debounce window (online.go).
func (t *Table) Online() int64 {
	var n int64
	for _, s := range t.shards {
		n += s.online.Load()
	}
	return n
}

// sessionAt returns the session a slot names, for the index's key comparison.
func (t *Table) sessionAt(slot Slot) *Session {
	sh, idx, _ := t.layout.split(slot)
	return &t.shards[sh].sessions[idx]
}
