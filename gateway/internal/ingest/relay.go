package ingest

import (
	"net/netip"

	"heartline/protocol/hl1"
)

// Relays lists the source prefixes allowed to send BATCH frames (the operator's relays). A
// BATCH from anywhere else is dropped as not_a_relay before any MAC is computed: a BATCH
// costs up to 337 MAC checks, and its answers go to its (possibly spoofed) source.
type Relays []netip.Prefix

// Allows reports whether a BATCH from a may be processed.
func (r Relays) Allows(a *Addr) bool {
	ip := a.AddrPort().Addr().Unmap()
	for _, p := range r {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// maxOpenReplies bounds the BATCHes of one loop whose answer waits for verdicts of other
// loops. A BATCH that finds none free is still applied; the REHELLOs it causes are dropped
// (counted) and the relay's apps are told at their next heartbeat.
const maxOpenReplies = 16

// relayReply collects the REHELLOs one BATCH causes, so that the relay gets them as one
// REHELLOS frame, smaller than the BATCH: never an amplifier, in bytes or in datagrams.
// Entries of slots another loop owns are handed to it; it sends its verdict back (a
// REHELLO or nothing) and the frame goes out once every verdict is in, or at the loop's
// next tick when a verdict was lost to a full inbox.
type relayReply struct {
	to       Addr
	rehellos []hl1.Rehello // capacity MaxBatchEntries, allocated once per loop
	pending  int           // entries handed off whose verdict has not come back
	open     bool          // the BATCH is still being applied
	inUse    bool
	tick     uint32 // when the BATCH arrived
}

// openReply takes a free reply for a BATCH from to, or returns -1.
func (h *Handler) openReply(to *Addr, now Now) int {
	for i := range h.replies {
		r := &h.replies[i]
		if !r.inUse {
			if r.rehellos == nil {
				r.rehellos = make([]hl1.Rehello, 0, hl1.MaxBatchEntries)
			}
			r.to, r.rehellos, r.pending, r.open, r.inUse, r.tick = *to, r.rehellos[:0], 0, true, true, now.Tick
			return i
		}
	}
	h.Stats.Drop(ReasonInboxFull)
	return -1
}

// collecting reports whether REHELLOs are being gathered (a BATCH is being applied, or a
// handed-off entry of another loop's BATCH) rather than sent one by one.
func (h *Handler) collecting() bool { return h.inBatch || h.inVerdict }

// collect adds one REHELLO to what is being gathered: the reply of the BATCH being applied
// (dropped if it found no free reply: openReply counted that), or the verdict of a
// handed-off entry.
func (h *Handler) collect(slot uint32, reason hl1.RehelloReason) {
	rh := hl1.Rehello{Slot: slot, Reason: reason}
	switch {
	case h.inVerdict:
		h.verdict = rh
	case h.gathering >= 0:
		if r := &h.replies[h.gathering]; len(r.rehellos) < cap(r.rehellos) {
			r.rehellos = append(r.rehellos, rh)
		}
	}
}

// applyBatchEntries applies a decoded BATCH from a relay and answers it with at most one
// REHELLOS frame.
func (h *Handler) applyBatchEntries(from *Addr, hops uint8, now Now) {
	i := h.openReply(from, now)
	h.inBatch, h.gathering = true, i
	for e := 0; e < h.bat.Len(); e++ {
		h.beat(h.bat.Entry(e), nil, from, nil, hops, now)
	}
	h.inBatch, h.gathering = false, -1
	if i >= 0 {
		h.replies[i].open = false
		h.finishReply(i, false, now)
	}
}

// verdictFor applies an entry of another loop's BATCH and sends that loop its REHELLO (or
// none).
func (h *Handler) verdictFor(ho *Handoff, now Now) {
	h.inVerdict, h.verdict = true, hl1.Rehello{}
	h.frame(ho.Frame[:ho.Len], &ho.From, nil, ho.Hops, now)
	h.inVerdict = false
	h.sendVerdict(ho, h.verdict)
}

// finishReply sends reply i if the BATCH has been applied and every verdict is in (or
// force: the tick gave up waiting), and frees it.
func (h *Handler) finishReply(i int, force bool, now Now) {
	r := &h.replies[i]
	if !r.inUse || r.open || (r.pending > 0 && !force) {
		return
	}
	r.inUse = false
	if len(r.rehellos) == 0 {
		return
	}
	// One frame per BATCH, charged to the per-source and per-loop REHELLO limits like a
	// lone REHELLO: a spoofed flood of BATCHes from a relay's address is answered at most
	// at the REHELLO rate, with frames smaller than the BATCHes.
	if !h.rehelloLimit.allow(r.to.Key(), now.Tick) || !h.rehelloBudget.allow(now.Tick) {
		return
	}
	h.Stats.Rehellos.Add(uint64(len(r.rehellos)))
	frame, err := hl1.AppendRehellos(h.relayOut[:0], r.rehellos)
	if err == nil {
		h.send.Send(frame, &r.to)
	}
}

// sendVerdict returns a handed-off BATCH entry's REHELLO (or none) to the loop that holds
// the BATCH's reply.
func (h *Handler) sendVerdict(ho *Handoff, rehello hl1.Rehello) {
	back := &h.ho
	back.From, back.Conn, back.Hops, back.Len = ho.From, nil, ho.Hops+1, 0
	back.Reply, back.Origin, back.Verdict = ho.Reply, ho.Origin, true
	if rehello.Reason != 0 {
		back.Len = uint8(len(hl1.AppendRehello(back.Frame[:0], rehello)))
	}
	ok := h.router.Route(int(ho.Origin), back)
	back.Verdict, back.Reply = false, 0
	if !ok {
		h.Stats.Drop(ReasonInboxFull) // the origin's tick sends what it has
	}
}

// takeVerdict applies a verdict from the loop that owned an entry of one of our BATCHes.
func (h *Handler) takeVerdict(ho *Handoff, now Now) {
	i := int(ho.Reply) - 1
	if i < 0 || i >= len(h.replies) || !h.replies[i].inUse {
		return // its reply already went out at a tick
	}
	r := &h.replies[i]
	r.pending--
	if ho.Len > 0 {
		if rh, err := hl1.ParseRehello(ho.Frame[:ho.Len]); err == nil && len(r.rehellos) < cap(r.rehellos) {
			r.rehellos = append(r.rehellos, rh)
		}
	}
	h.finishReply(i, false, now)
}

// replyWaitTicks is how long (in table ticks of 10 ms) a BATCH's reply waits for the other
// loops' verdicts before it goes out with what it has: a loop drains its inbox after each
// receive or receive timeout (TickEvery, 10 ms by default), so a verdict normally takes up
// to two of them; 100 ms leaves room for a busy machine.
const replyWaitTicks = 10

// expireReplies sends, at each tick, the replies whose verdicts are overdue.
func (h *Handler) expireReplies(now Now) {
	for i := range h.replies {
		if r := &h.replies[i]; r.inUse && !r.open && now.Tick-r.tick >= replyWaitTicks {
			h.finishReply(i, true, now)
		}
	}
}
