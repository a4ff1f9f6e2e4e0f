package ingest

import (
	"sync/atomic"
	"time"

	"heartline/protocol/hl1"
)

// Drain is the switch that empties a gateway without showing anyone offline (PROTOCOL.md,
// REHELLO 4). While it is on, each loop answers the heartbeats of its live sessions with
// REHELLO 4 at a bounded pace, and refuses new HELLOs with REHELLO 4 (slot 0). An app so
// told says HELLO to the next gateway in its rendezvous order and stops heartbeating here;
// its session here is still accepted and reported online until it expires by absence, by
// which time the new gateway has published it (make before break). The pace is what keeps
// the rest of the fleet's HELLO limits from refusing the apps that move.
//
// One Drain is shared by every loop of a gateway (the admin endpoint and SIGTERM flip it);
// the loops read it once per frame with one atomic load.
type Drain struct {
	since atomic.Int64 // unix nanoseconds the drain started; 0: not draining
}

// Start turns the drain on at now; it reports false if it was already on.
func (d *Drain) Start(now time.Time) bool { return d.since.CompareAndSwap(0, now.UnixNano()) }

// Stop turns the drain off (an operator changed their mind); it reports whether it was on.
func (d *Drain) Stop() bool { return d.since.Swap(0) != 0 }

// Active reports whether the gateway is draining. A nil Drain never is.
func (d *Drain) Active() bool { return d != nil && d.since.Load() != 0 }

// Since is when the drain started (zero time when not draining).
func (d *Drain) Since() time.Time {
	if n := d.since.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// DrainPace bounds how fast a draining gateway moves its apps away. Zero fields take the
// defaults.
type DrainPace struct {
	// PerLoop is REHELLO 4s per second per loop (default 500): the gateway's whole rate is
	// this times its loops, and the fleet must absorb that many HELLOs per second.
	PerLoop float64
	// PerSource is REHELLO 4s per second per source address per loop (default 2). Keep the
	// whole gateway's rate per address (this times the loops) at or below the other
	// gateways' -hello-rate, so that apps behind one NAT address are never refused there.
	PerSource float64
}

func (p *DrainPace) defaults() {
	if p.PerLoop <= 0 {
		p.PerLoop = 500
	}
	if p.PerSource <= 0 {
		p.PerSource = 2
	}
}

// askToMove answers a heartbeat of a live session of a draining gateway with REHELLO 4, if
// the pace allows; otherwise the session stays until a later heartbeat finds room. Every
// session heartbeats each interval, so all are asked within sessions/pace seconds.
func (h *Handler) askToMove(slot uint32, from *Addr, conn Conn, now Now) {
	if !h.drainBudget.ready(now.Tick) {
		return
	}
	if h.collecting() { // a relay's app: the REHELLO 4 joins the BATCH's one answer
		h.drainBudget.tokens--
		h.Stats.DrainRehellos.Add(1)
		h.collect(slot, hl1.RehelloDraining)
		return
	}
	if conn == nil && !h.drainLimit.allow(from.Key(), now.Tick) {
		return
	}
	h.drainBudget.tokens--
	h.Stats.DrainRehellos.Add(1)
	h.reply1(hl1.AppendRehello(h.reply[:0], hl1.Rehello{Slot: slot, Reason: hl1.RehelloDraining}), from, conn)
}
