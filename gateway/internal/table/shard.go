package table

import (
	"sync/atomic"

	"heartline/protocol/feed"
)

// Shard is the part of the table one goroutine owns. None of its methods may be called
// from any other goroutine; none of them allocate in steady state.
type Shard struct {
	t        *Table
	id       int
	sessions []Session
	hwm      uint32 // indices below hwm have been used at least once
	freeHead uint32 // free list through Session.next (index+1, 0 = empty)
	dirty    []uint32
	wheel    wheel

	out        Outbox
	snapWanted atomic.Bool
	snapGen    uint64 // generation of the snapshot being published
	online     atomic.Int64
	pending    atomic.Int64 // dirty sessions after the last publish (for metrics)
	releases   []uint32     // scratch for publish

	dirtyScan  bool   // the dirty list overflowed: scan flags from scanCursor
	scanCursor uint32 //
	snapping   bool   // a snapshot is being published, part by part
	snapCursor uint32 //
}

func newShard(t *Table, id, capacity int, unit uint32) *Shard {
	return &Shard{
		t:        t,
		id:       id,
		sessions: make([]Session, capacity),
		wheel:    newWheel(unit, t.Tick(t.opts.Start)),
		out:      Outbox{Shard: id},
	}
}

// ID is the shard's number.
func (s *Shard) ID() int { return s.id }

// Outbox is where the feed writer collects this shard's batches.
func (s *Shard) Outbox() *Outbox { return &s.out }

// Pending returns the number of sessions waiting to be published (a feed queue depth).
func (s *Shard) Pending() int64 { return s.pending.Load() }

// LookupResult says why a slot did or did not resolve.
type LookupResult uint8

const (
	LookupOK      LookupResult = iota
	LookupForeign              // the slot belongs to another shard (hand the frame over)
	LookupUnknown              // no such slot, or its index now serves another session
	LookupExpired              // the session went offline (BYE or silence), and its index was not reused since
)

// Lookup resolves a slot of this shard. On LookupForeign, the caller should route the
// frame to Table.ShardOf(slot).
func (s *Shard) Lookup(slot Slot) (uint32, *Session, LookupResult) {
	sh, idx, gen := s.t.layout.split(slot)
	if sh != s.id {
		if sh < len(s.t.shards) {
			return 0, nil, LookupForeign
		}
		return 0, nil, LookupUnknown
	}
	if idx >= s.hwm {
		return 0, nil, LookupUnknown
	}
	sess := &s.sessions[idx]
	if uint32(sess.gen) != gen {
		return 0, nil, LookupUnknown
	}
	if sess.state == stateOffline || sess.state == stateFree {
		// A freed index keeps the generation of the session that ended there until it is
		// reused, so the table can still tell "expired" (REHELLO 2) from "unknown".
		return 0, nil, LookupExpired
	}
	return idx, sess, LookupOK
}

// Slot returns the slot of session idx.
func (s *Shard) Slot(idx uint32) Slot {
	return s.t.layout.make(s.id, idx, uint32(s.sessions[idx].gen))
}

// Accept records a verified frame for session idx: absolute seq and ts, status, and the
// table tick it arrived. A lingering session comes back silently (flap suppression).
func (s *Shard) Accept(idx uint32, seq, ts uint32, active bool, now uint32) {
	sess := &s.sessions[idx]
	wasCounted := counted(sess)
	sess.LastSeq, sess.LastTs, sess.LastSeen = seq, ts, now
	sess.state = stateOnline
	if sess.flags&flagConfirmed == 0 {
		sess.flags |= flagConfirmed
		s.markDirty(idx)
	}
	was := sess.flags&flagActive != 0
	if active != was {
		sess.flags ^= flagActive
		s.markDirty(idx)
	}
	s.recount(sess, wasCounted)
}

// Bye takes session idx offline at once (after its BYE verified).
func (s *Shard) Bye(idx uint32, seq, ts uint32, now uint32) {
	sess := &s.sessions[idx]
	was := counted(sess)
	sess.LastSeq, sess.LastTs, sess.LastSeen = seq, ts, now
	sess.state = stateOffline
	sess.flags |= flagBye
	s.recount(sess, was)
	s.markDirty(idx)
}

// HelloParams is what a verified HELLO says about its session.
type HelloParams struct {
	User   uint64
	Device uint32
	K0, K1 uint64
	Active bool
	Stamp  uint32 // client_time_ms/16
}

// HelloResult says what Hello did.
type HelloResult uint8

const (
	HelloNew        HelloResult = iota // a new session was allocated
	HelloRefound                       // the existing session was re-keyed and restarted under a new slot generation
	HelloRetransmit                    // the same HELLO again: answer with the same WELCOME, change nothing
	HelloForeign                       // the session lives in another shard: hand the HELLO over
	HelloStale                         // older than the session's accepted HELLO (a replay): drop
	HelloFull                          // no free slot: answer REHELLO "gateway full"
)

// Hello allocates or re-finds the session for (user, device) and returns its slot and base
// tick (the WELCOME server time). For HelloForeign it returns the owning shard in foreign.
func (s *Shard) Hello(p HelloParams, now uint32) (slot Slot, base uint32, res HelloResult, foreign int) {
	ix := s.t.index
	ix.mu.Lock()
	if found, ok := ix.find(p.User, p.Device); ok {
		sh, idx, _ := s.t.layout.split(found)
		if sh != s.id {
			ix.mu.Unlock()
			return 0, 0, HelloForeign, sh
		}
		sess := &s.sessions[idx]
		d := int32(p.Stamp - sess.HelloStamp)
		switch {
		case d < 0:
			ix.mu.Unlock()
			return 0, 0, HelloStale, 0
		case d == 0 && sess.K0 == p.K0 && sess.K1 == p.K1 && sess.state != stateOffline && sess.LastSeq == 0:
			// The same HELLO again (its WELCOME was lost) before any heartbeat: answer with
			// the same WELCOME. Stamps have 16 ms resolution; two distinct HELLOs of one
			// session within 16 ms are treated alike, which is harmless before seq 1.
			ix.mu.Unlock()
			return found, sess.BaseTick, HelloRetransmit, 0
		case d == 0:
			ix.mu.Unlock()
			return 0, 0, HelloStale, 0
		}
		// A new HELLO restarts seq at 1, usually under the same session key (one token
		// serves many HELLOs). Keeping the slot would let anyone who captured the replaced
		// session's heartbeats replay them into the new one, since their seq, ts and tag
		// would all check out again, and knock out the real heartbeats as replays. A new
		// generation gives the new session a new slot, which the tag covers.
		sess.gen = uint8(s.t.layout.nextGen(uint32(sess.gen)))
		ix.replace(p.User, p.Device, found, s.Slot(idx))
		ix.mu.Unlock()
		s.start(idx, p, now)
		return s.Slot(idx), now, HelloRefound, 0
	}
	idx, ok := s.alloc()
	if !ok {
		ix.mu.Unlock()
		return 0, 0, HelloFull, 0
	}
	sess := &s.sessions[idx]
	sess.User, sess.Device = p.User, p.Device
	sess.gen = uint8(s.t.layout.nextGen(uint32(sess.gen)))
	sess.flags = flagInIndex
	slot = s.Slot(idx)
	ix.insert(p.User, p.Device, slot)
	ix.mu.Unlock()
	s.start(idx, p, now)
	return slot, now, HelloNew, 0
}

// LogoutResult says what Logout did.
type LogoutResult uint8

const (
	LogoutDone    LogoutResult = iota // the session was taken offline
	LogoutNone                        // no live session of (user, device) here: nothing to do
	LogoutForeign                     // the session lives in another shard: hand the HELLO over
	LogoutStale                       // not newer than the session's accepted HELLO (a replay): drop
)

// Logout takes the (user, device) session offline at once, whatever its slot (a verified
// HELLO with hl1.FlagLogout). Its stamp must be newer than the session's accepted HELLO, and
// becomes the session's, so the logout cannot be replayed. For LogoutForeign it returns the
// owning shard.
func (s *Shard) Logout(p HelloParams, now uint32) (LogoutResult, int) {
	ix := s.t.index
	ix.mu.Lock()
	found, ok := ix.find(p.User, p.Device)
	if !ok {
		ix.mu.Unlock()
		return LogoutNone, 0
	}
	sh, idx, _ := s.t.layout.split(found)
	if sh != s.id {
		ix.mu.Unlock()
		return LogoutForeign, sh
	}
	sess := &s.sessions[idx]
	if int32(p.Stamp-sess.HelloStamp) <= 0 {
		ix.mu.Unlock()
		return LogoutStale, 0
	}
	sess.HelloStamp = p.Stamp
	ix.mu.Unlock()
	if sess.state == stateOffline {
		return LogoutNone, 0
	}
	s.Bye(idx, sess.LastSeq, sess.LastTs, now)
	return LogoutDone, 0
}

// start (re)initialises session idx for a fresh WELCOME at tick now.
func (s *Shard) start(idx uint32, p HelloParams, now uint32) {
	sess := &s.sessions[idx]
	was := counted(sess)
	defer s.recount(sess, was)
	sess.K0, sess.K1 = p.K0, p.K1
	sess.LastSeq, sess.LastTs, sess.LastSeen, sess.BaseTick = 0, 0, now, now
	sess.HelloStamp = p.Stamp
	sess.state = stateOnline
	sess.flags &^= flagBye | flagActive
	if sess.flags&flagReportedOnline == 0 {
		// A new session (or one that had gone offline) is reported once its first heartbeat
		// arrives; a re-HELLO of a session already reported stays reported, so a re-HELLO
		// produces no offline/online pair.
		sess.flags &^= flagConfirmed
	}
	if p.Active {
		sess.flags |= flagActive
	}
	if sess.flags&flagInWheel == 0 {
		s.wheelInsert(idx, now+s.t.timeout)
	}
	s.markDirty(idx)
}

func (s *Shard) alloc() (uint32, bool) {
	if s.freeHead != 0 {
		idx := s.freeHead - 1
		s.freeHead = s.sessions[idx].next
		s.sessions[idx].next = 0
		return idx, true
	}
	if int(s.hwm) < len(s.sessions) {
		s.hwm++
		s.sessions[s.hwm-1].gen = s.t.genBase
		return s.hwm - 1, true
	}
	return 0, false
}

// release returns session idx to the free list; it must be out of the wheel, the index and
// the dirty list.
func (s *Shard) release(idx uint32) {
	sess := &s.sessions[idx]
	sess.state = stateFree
	sess.flags = 0
	sess.K0, sess.K1 = 0, 0
	sess.next = s.freeHead
	s.freeHead = idx + 1
}

// Publishing bounds: a batch carries at most MaxBatch records and a snapshot part at most
// MaxSnapshotChunk sessions; the dirty list holds at most maxDirtyList entries and falls back
// to a scan of the dirty flags beyond that, so publish buffers never grow with the table.
const (
	MaxBatch         = 4096
	MaxSnapshotChunk = 16384 // = feed.MaxRecords
	maxDirtyList     = 1 << 14
)

func (s *Shard) markDirty(idx uint32) {
	sess := &s.sessions[idx]
	if sess.flags&flagDirty != 0 {
		return
	}
	sess.flags |= flagDirty
	if len(s.dirty) < maxDirtyList {
		s.dirty = append(s.dirty, idx)
	} else {
		s.dirtyScan = true
	}
}

// Tick runs the shard's periodic work at table tick now: it advances the wheel and, if the
// writer has taken the previous batch, publishes dirty sessions as records. It returns the
// wheel lag in wheel ticks. Call it from the owning goroutine every few milliseconds.
func (s *Shard) Tick(now uint32) (lag uint64) {
	lag = s.advance(now)
	s.publish()
	return lag
}

// publish turns dirty sessions into one batch of coalesced records (latest state wins) and,
// while a snapshot is wanted, appends the next part of it.
func (s *Shard) publish() {
	if s.out.full.Load() {
		return
	}
	if !s.snapping && s.snapWanted.Swap(false) {
		s.snapping, s.snapCursor, s.snapGen = true, 0, s.t.snapGen.Load()
	}
	if len(s.dirty) == 0 && !s.dirtyScan && !s.snapping {
		return
	}
	out := &s.out
	s.releases = s.releases[:0]
	n := 0
	for n < len(s.dirty) && len(out.Records) < MaxBatch {
		s.emit(s.dirty[n])
		n++
	}
	s.dirty = s.dirty[:copy(s.dirty, s.dirty[n:])]
	if s.dirtyScan && len(out.Records) < MaxBatch {
		// The dirty list overflowed: find the rest by their flags.
		for ; s.scanCursor < s.hwm && len(out.Records) < MaxBatch; s.scanCursor++ {
			s.emit(s.scanCursor)
		}
		if s.scanCursor >= s.hwm {
			s.scanCursor, s.dirtyScan = 0, false
		}
	}
	if len(s.releases) > 0 {
		// Take the ticket while holding the index lock: a HELLO that re-creates one of these
		// sessions in another shard must come after this batch in the feed.
		ix := s.t.index
		ix.mu.Lock()
		out.Ticket = s.t.tickets.Add(1)
		for _, idx := range s.releases {
			sess := &s.sessions[idx]
			ix.remove(sess.User, sess.Device, s.Slot(idx))
			sess.flags &^= flagInIndex
		}
		ix.mu.Unlock()
		for _, idx := range s.releases {
			if s.sessions[idx].flags&flagInWheel == 0 {
				s.release(idx)
			}
		}
	} else {
		out.Ticket = s.t.tickets.Add(1)
	}
	if s.snapping {
		for ; s.snapCursor < s.hwm && len(out.Snapshot) < MaxSnapshotChunk; s.snapCursor++ {
			sess := &s.sessions[s.snapCursor]
			if sess.flags&flagReportedOnline == 0 {
				continue
			}
			out.Snapshot = append(out.Snapshot, feed.Record{Kind: feed.KindOnline, User: sess.User, Device: sess.Device, Status: reportedStatus(sess), At: s.t.UnixMilli(sess.LastSeen)})
		}
		out.HasSnapshot, out.SnapshotGen = true, s.snapGen
		if s.snapCursor >= s.hwm {
			out.SnapshotDone, s.snapping = true, false
		}
	}
	if s.dirtyScan {
		s.pending.Store(int64(len(s.dirty)) + 1) // at least one more beyond the list
	} else {
		s.pending.Store(int64(len(s.dirty)))
	}
	out.full.Store(true)
	select {
	case s.t.notify <- struct{}{}:
	default:
	}
}

func reportedStatus(sess *Session) feed.Status {
	if sess.flags&flagReportedActive != 0 {
		return feed.StatusActive
	}
	return feed.StatusAway
}

// emit appends the record session idx owes the feed, if it is dirty.
func (s *Shard) emit(idx uint32) {
	sess := &s.sessions[idx]
	if sess.flags&flagDirty == 0 {
		return
	}
	sess.flags &^= flagDirty
	out := &s.out
	at := s.t.UnixMilli(sess.LastSeen)
	st := feed.StatusAway
	if sess.flags&flagActive != 0 {
		st = feed.StatusActive
	}
	reportedOnline := sess.flags&flagReportedOnline != 0
	switch sess.state {
	case stateOnline, stateLingering:
		if sess.flags&flagConfirmed == 0 {
			return // not reported before its first heartbeat (flagConfirmed)
		}
		switch {
		case !reportedOnline:
			out.Records = append(out.Records, feed.Record{Kind: feed.KindOnline, User: sess.User, Device: sess.Device, Status: st, At: at})
		case reportedStatus(sess) != st:
			out.Records = append(out.Records, feed.Record{Kind: feed.KindStatus, User: sess.User, Device: sess.Device, Status: st, At: at})
		}
		sess.flags |= flagReportedOnline
		sess.flags &^= flagReportedActive
		if st == feed.StatusActive {
			sess.flags |= flagReportedActive
		}
	case stateOffline:
		if reportedOnline {
			out.Records = append(out.Records, feed.Record{Kind: feed.KindOffline, User: sess.User, Device: sess.Device, Status: reportedStatus(sess), At: at})
		}
		sess.flags &^= flagReportedOnline | flagReportedActive
		if sess.flags&flagInIndex != 0 {
			s.releases = append(s.releases, idx)
		} else if sess.flags&flagInWheel == 0 {
			s.release(idx)
		}
	}
}
