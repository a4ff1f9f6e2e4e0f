package driver

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"time"

	"heartline/protocol/client"
	"heartline/protocol/hl1"
)

// worker owns one socket and the sessions assigned to it.
type worker struct {
	d    *Driver
	conn interface {
		WriteToUDPAddrPort([]byte, netip.AddrPort) (int, error)
		ReadFromUDPAddrPort([]byte) (int, netip.AddrPort, error)
		Close() error
	}
	mu      sync.Mutex
	idx     []int32
	slots   map[uint64]int32 // gateway<<32 | slot -> session, for REHELLO
	pending int
	buf     []byte
	rng     *rand.Rand

	// abandoned remembers HELLOs superseded by a retry (ring), so that a WELCOME arriving
	// after the session went elsewhere can be declined with a BYE instead of leaving an
	// orphan session online at that gateway until it expires.
	// Each unmatched WELCOME is checked against every entry (a MAC each: a WELCOME does not
	// show its nonce), so the ring stays small; a logout also sends a logout HELLO to the
	// gateway left behind, which ends a re-keyed session whose WELCOME the ring forgot.
	abandoned [256]abandonedHello
	abN       int

	// inFlight[g] lists the sessions whose HELLO went to gateway g, oldest first (entries
	// that no longer wait for g are skipped lazily). WELCOMEs come back mostly in that
	// order, so a WELCOME is matched with one or two tag checks instead of one per session
	// of the worker: after a mass re-HELLO the O(sessions) scan made the bed's own driver
	// the bottleneck, and its retries a HELLO storm.
	inFlight [8][]int32
}

// compactInFlight keeps, in order, the last entry of each session still waiting for g.
func (w *worker) compactInFlight(g int) {
	d := w.d
	q := w.inFlight[g]
	last := make(map[int32]int, len(q))
	for k, i := range q {
		last[i] = k
	}
	out := q[:0]
	for k, i := range q {
		if last[i] == k && d.state[i] == stHello && int(d.target[i]) == g {
			out = append(out, i)
		}
	}
	w.inFlight[g] = out
}

// abandon records session i's HELLO in flight as given up (caller holds mu).
func (w *worker) abandon(i int, now int64) {
	d := w.d
	w.abandoned[w.abN%len(w.abandoned)] = abandonedHello{i: int32(i), gw: d.target[i], nonce: d.nonce[i], at: now}
	w.abN++
}

type abandonedHello struct {
	i     int32
	gw    int8
	nonce uint32
	at    int64 // driver-monotonic ns
}

func slotKey(gw int8, slot uint32) uint64 { return uint64(uint8(gw))<<32 | uint64(slot) }

// leave drops session i's established session to say HELLO again (a move, or a re-HELLO),
// remembering it as the session left behind: if the HELLO lands on another gateway, the
// old session is not BYEd (make before break) but a logout soon after BYEs it too, as the
// reference client does. A session left behind by an earlier move expires by itself.
// (Caller holds mu.)
func (w *worker) leave(i int) {
	d := w.d
	if p := d.prev[i]; p.gw >= 0 && p.movedAt != 0 && d.mono()-p.movedAt <= int64(prevMemory) {
		d.older[i] = p // still to be ended by a logout: keep it (the reference client keeps 4)
	}
	d.prev[i] = prevSession{gw: d.gw[i], slot: d.slot[i], epoch: d.epoch[i], seq: d.seq[i], welcome: d.welcome[i]}
	w.forget(i)
}

// forget drops session i's established state (caller holds mu).
func (w *worker) forget(i int) {
	d := w.d
	if d.gw[i] >= 0 {
		delete(w.slots, slotKey(d.gw[i], d.slot[i]))
	}
	if d.state[i] == stHello {
		w.pending--
	}
	d.gw[i] = -1
}

// order returns the gateways session i should try, best first: the rendezvous order over the
// passing gateways, then the others.
func (w *worker) order(i int) []int {
	d := w.d
	healthy := *d.healthy.Load()
	var out []int
	seen := map[int]bool{}
	for _, id := range client.GatewayOrder(d.user[i], healthy) {
		for g, gid := range d.o.GatewayIDs {
			if gid == id && !seen[g] {
				out, seen[g] = append(out, g), true
			}
		}
	}
	for g := range d.o.GatewayIDs {
		if !seen[g] {
			out = append(out, g)
		}
	}
	// Gateways that said REHELLO 4 go last (the reference client skips them unless nothing
	// else answers).
	now := d.mono()
	draining := func(g int) bool { return now < d.drainingUntil[g].Load() }
	slices.SortStableFunc(out, func(a, b int) int {
		switch da, db := draining(a), draining(b); {
		case da == db:
			return 0
		case db:
			return -1
		}
		return 1
	})
	return out
}

// shouldMove says whether online session i, which is not on its preferred gateway, moves
// now: at once if its gateway is no longer listed as passing, else at the first of its
// confirm instants after it noticed (the reference client's ConfirmEvery).
func (w *worker) shouldMove(i int, now int64) bool {
	d := w.d
	listed := false
	for _, id := range *d.live.Load() {
		listed = listed || id == d.o.GatewayIDs[d.gw[i]]
	}
	if !listed || d.o.ConfirmEvery < 0 {
		return true
	}
	if d.confirmAt[i] == 0 {
		every := int64(d.o.ConfirmEvery)
		k := (now - d.phase[i] + every - 1) / every
		d.confirmAt[i] = max(d.phase[i]+k*every, 1)
	}
	return now >= d.confirmAt[i]
}

// preferred is order(i)[0], cached until the healthy list changes (the scan runs every
// tick for every session; recomputing the order each time would eat the bed's CPU).
func (w *worker) preferred(i int) int {
	d := w.d
	gen := d.healthyGen.Load() + 1
	if d.prefGen[i] != gen {
		d.pref[i], d.prefGen[i] = int8(w.order(i)[0]), gen
	}
	return int(d.pref[i])
}

func (w *worker) sendHello(i int, now int64) {
	d := w.d
	ord := w.order(i)
	g := ord[int(d.attempts[i]/3)%len(ord)]
	if d.state[i] != stHello {
		w.pending++
	} else {
		w.abandon(i, now)
	}
	d.state[i], d.target[i], d.helloAt[i] = stHello, int8(g), now
	d.attempts[i]++
	d.nonce[i] = w.rng.Uint32()
	w.inFlight[g] = append(w.inFlight[g], int32(i))
	if len(w.inFlight[g]) > 2*len(w.idx)+16 {
		w.compactInFlight(g) // retries (a session that keeps asking g) pile up behind a live head
	}
	d.note(i, evHello, int8(g), 0, 0)
	h := hl1.Hello{Flags: hl1.FlagActive, ClientTimeMS: w.helloClock(i), Nonce: d.nonce[i], Token: d.tok[i]}
	w.buf = hl1.AppendHello(w.buf[:0], h.Seal(d.key[i]))
	if _, err := w.conn.WriteToUDPAddrPort(w.buf, d.o.Gateways[g]); err != nil {
		d.Stats.SendErrors.Add(1)
	}
	d.Stats.HellosSent.Add(1)
}

// sendBeat sends a HEARTBEAT (or BYE) on session i's established session.
func (w *worker) sendBeat(i int, bye bool) {
	d := w.d
	if d.gw[i] < 0 {
		return
	}
	d.seq[i]++
	ts := (d.mono()-d.welcome[i])/int64(hl1.TickMS*time.Millisecond) + d.tsJump[i]
	if ts < 0 {
		ts = 0
	}
	b := hl1.Beat{Slot: d.slot[i], Epoch: d.epoch[i], Seq: d.seq[i], TS: uint64(ts), Active: true, Bye: bye}
	w.buf = hl1.AppendHeartbeat(w.buf[:0], b.Seal(d.key[i]))
	g := int(d.gw[i])
	if _, err := w.conn.WriteToUDPAddrPort(w.buf, d.o.Gateways[g]); err != nil {
		d.Stats.SendErrors.Add(1)
	}
	if bye {
		d.note(i, evBye, int8(g), d.slot[i], uint32(d.seq[i]))
		d.Stats.ByesSent.Add(1)
		return
	}
	d.Stats.HeartbeatsSent[g].Add(1)
	d.ringMu.Lock()
	c := &d.ring[d.ringN%len(d.ring)]
	c.Gateway = g
	copy(c.Frame[:], w.buf)
	d.ringN++
	d.ringMu.Unlock()
}

// byePrev logs out the sessions moves left behind, if the moves were recent enough for them
// to be still alive at their gateways (caller holds mu).
func (w *worker) byePrev(i int) {
	d := w.d
	p, o := d.prev[i], d.older[i]
	d.prev[i].gw, d.older[i].gw = -1, -1
	w.byeLeft(i, p)
	if o.gw != p.gw || o.slot != p.slot {
		w.byeLeft(i, o)
	}
}

// byeLeft sends BYE and a logout HELLO for session p that i left behind, if it may be alive.
func (w *worker) byeLeft(i int, p prevSession) {
	d := w.d
	if p.gw < 0 || p.movedAt == 0 || d.mono()-p.movedAt > int64(prevMemory) || p.gw == d.gw[i] {
		return
	}
	ts := (d.mono() - p.welcome) / int64(hl1.TickMS*time.Millisecond)
	b := hl1.Beat{Slot: p.slot, Epoch: p.epoch, Seq: p.seq + 1, TS: uint64(ts), Active: true, Bye: true}
	w.buf = hl1.AppendHeartbeat(w.buf[:0], b.Seal(d.key[i]))
	_, _ = w.conn.WriteToUDPAddrPort(w.buf, d.o.Gateways[p.gw])
	d.note(i, evByePrev, p.gw, p.slot, uint32(p.seq+1))
	d.Stats.ByesSent.Add(1)
	// And a logout HELLO, as the reference client sends: a HELLO this session gave up on may
	// have re-found the session there under a slot it never learnt (its WELCOME was lost).
	h := hl1.Hello{Flags: hl1.FlagLogout, ClientTimeMS: w.helloClock(i), Nonce: w.rng.Uint32(), Token: d.tok[i]}
	w.buf = hl1.AppendHello(w.buf[:0], h.Seal(d.key[i]))
	_, _ = w.conn.WriteToUDPAddrPort(w.buf, d.o.Gateways[p.gw])
	d.Stats.Logouts.Add(1)
}

// helloClock is session i's HELLO clock: the (possibly skewed) wall clock kept monotonic per
// session, as PROTOCOL.md requires of apps: max(wall clock, previous HELLO + 16 ms).
func (w *worker) helloClock(i int) uint64 {
	d := w.d
	ct := time.Now().UnixMilli() + d.skewMS[i]
	if floor := d.lastHello[i] + 16; d.lastHello[i] != 0 && ct < floor {
		ct = floor
	}
	d.lastHello[i] = ct
	return uint64(ct)
}

func (w *worker) loop(ctx context.Context) {
	d := w.d
	w.rng = rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(len(w.idx))))
	t := time.NewTicker(d.o.Tick)
	defer t.Stop()
	timeout := int64(d.o.HelloTimeout)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.mu.Lock()
		now := d.mono()
		for _, i32 := range w.idx {
			i := int(i32)
			switch {
			case d.badClock[i]:
				// An app whose clock is far off keeps trying, once a second.
				if now-d.helloAt[i] > int64(time.Second) {
					if d.state[i] == stHello {
						w.pending--
					}
					d.state[i] = stIdle
					w.sendHello(i, now)
				}
			case !d.alive[i]:
			case d.state[i] == stIdle:
				if w.pending < d.o.HelloWindow && now >= d.helloAt[i] {
					w.sendHello(i, now)
				}
			case d.state[i] == stHello:
				if now-d.helloAt[i] > timeout {
					w.pending--
					d.state[i] = stIdle
					w.sendHello(i, now)
				}
			case d.state[i] == stOnline:
				if w.preferred(i) == int(d.gw[i]) {
					d.confirmAt[i] = 0
				} else if w.shouldMove(i, now) {
					d.confirmAt[i] = 0
					// The catalog says another gateway should have this user: move there.
					w.leave(i)
					d.attempts[i] = 0
					d.Stats.Moves.Add(1)
					d.moves[i]++
					d.note(i, evMove, d.prev[i].gw, d.prev[i].slot, 0)
					w.sendHello(i, now)
					continue
				}
				if now >= d.nextAt[i] {
					w.sendBeat(i, false)
					iv := time.Duration(d.ivl.Load())
					d.nextAt[i] = now + int64(iv) + w.rng.Int64N(int64(iv)/5+1) - int64(iv)/10
				}
			}
		}
		w.mu.Unlock()
	}
}

func (w *worker) read() {
	d := w.d
	buf := make([]byte, 2048)
	for {
		n, from, err := w.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		g, ok := d.gwIndex[netip.AddrPortFrom(from.Addr().Unmap(), from.Port())]
		if !ok {
			continue
		}
		frame := buf[:n]
		typ, err := hl1.PeekType(frame)
		if err != nil {
			continue
		}
		switch typ {
		case hl1.TypeWelcome:
			wl, err := hl1.ParseWelcome(frame)
			if err != nil {
				continue
			}
			w.welcomed(g, wl)
		case hl1.TypeRehello:
			r, err := hl1.ParseRehello(frame)
			if err != nil {
				continue
			}
			w.rehelloed(g, r)
		}
	}
}

// rehelloed handles a REHELLO from gateway g: the session on that slot says HELLO again;
// reason 4 (draining) makes it a move away from g, make before break.
func (w *worker) rehelloed(g int, r hl1.Rehello) {
	d := w.d
	switch r.Reason {
	case hl1.RehelloDraining:
		d.drainingUntil[g].Store(d.mono() + int64(drainAvoid))
	case hl1.RehelloUnavailable:
		// g's agent cannot reach Consul: HELLO elsewhere, as the reference client does.
		d.drainingUntil[g].Store(d.mono() + int64(hl1.UnavailableAvoid))
		d.Stats.Unavailable.Add(1)
	}
	if r.Slot == 0 {
		return // a refused HELLO: its retry goes to the next gateway (order)
	}
	d.Stats.Rehellos.Add(1)
	w.mu.Lock()
	defer w.mu.Unlock()
	i, ok := w.slots[slotKey(int8(g), r.Slot)]
	if !ok || d.state[i] != stOnline {
		return
	}
	d.note(int(i), evRehello, int8(g), r.Slot, uint32(r.Reason))
	if r.Reason == hl1.RehelloDraining {
		// Asked to move: no BYE (the draining gateway keeps the member online until the
		// session expires there), the session is left behind like any move's.
		w.leave(int(i))
		d.Stats.DrainMoves.Add(1)
		d.moves[i]++
	} else {
		w.forget(int(i))
	}
	d.state[i], d.attempts[i], d.helloAt[i] = stIdle, 0, 0
}

func (w *worker) welcomed(g int, wl hl1.Welcome) {
	d := w.d
	w.mu.Lock()
	defer w.mu.Unlock()
	q := w.inFlight[g]
	// Drop the head entries that no longer wait for g (answered, moved on, died).
	for len(q) > 0 && (d.state[q[0]] != stHello || int(d.target[q[0]]) != g) {
		q = q[1:]
	}
	w.inFlight[g] = q
	for k, i32 := range q {
		i := int(i32)
		if d.state[i] != stHello || int(d.target[i]) != g || !wl.Verify(d.key[i], d.nonce[i]) {
			continue
		}
		w.inFlight[g] = append(q[:k:k], q[k+1:]...)
		w.pending--
		d.Stats.Welcomes.Add(1)
		if d.badClock[i] {
			// Accepted although its clock is far off: record it as established so the
			// checker sees it (and reports it) rather than hiding it.
			d.state[i] = stOnline
		}
		now := d.mono()
		d.state[i], d.gw[i], d.slot[i], d.epoch[i], d.seq[i], d.welcome[i] = stOnline, int8(g), wl.Slot, wl.Epoch, 0, now
		d.note(i, evWelcome, int8(g), wl.Slot, 0)
		d.tookHello[i] = d.attempts[i]
		d.tsJump[i], d.attempts[i] = 0, 0
		d.ivl.Store(int64(wl.Interval()))
		w.slots[slotKey(int8(g), wl.Slot)] = i32
		d.nextAt[i] = now // the first beat right after WELCOME confirms the session (PROTOCOL.md)
		if int(d.older[i].gw) == g {
			d.older[i].gw = -1 // the gateway re-found that session: the current one's BYE ends it
		}
		if int(d.prev[i].gw) == g {
			d.prev[i].gw = -1 // the same session re-found: nothing left behind
		} else if d.prev[i].gw >= 0 {
			// Make before break, like the reference client: no BYE to the gateway left
			// behind. Its session expires by itself, and until then it keeps the member
			// shown online while the new gateway's agent publishes (a BYE now would show
			// the member offline in between). A logout soon after BYEs both (Churn).
			d.prev[i].movedAt = now
		}
		return
	}
	w.declineLate(g, wl)
}

// declineLate answers a WELCOME that matches no HELLO in flight: if it answers a HELLO the
// session gave up on (a retry went to another gateway), that gateway now holds an orphan
// session that would show the member online until it expires; a BYE on it ends it at once.
// (Caller holds mu.)
func (w *worker) declineLate(g int, wl hl1.Welcome) {
	d := w.d
	now := d.mono()
	for k := range w.abandoned {
		a := &w.abandoned[k]
		i := int(a.i)
		if a.at == 0 || int(a.gw) != g || now-a.at > int64(10*time.Second) {
			continue
		}
		if int(d.gw[i]) == g || (d.state[i] == stHello && int(d.target[i]) == g) || !wl.Verify(d.key[i], a.nonce) {
			continue // on g after all: an older generation of its own session, already dead
		}
		a.at = 0
		b := hl1.Beat{Slot: wl.Slot, Epoch: wl.Epoch, Seq: 1, TS: 0, Active: true, Bye: true}
		w.buf = hl1.AppendHeartbeat(w.buf[:0], b.Seal(d.key[i]))
		_, _ = w.conn.WriteToUDPAddrPort(w.buf, d.o.Gateways[g])
		d.Stats.Declined.Add(1)
		d.note(i, evDecline, int8(g), wl.Slot, 0)
		return
	}
}
