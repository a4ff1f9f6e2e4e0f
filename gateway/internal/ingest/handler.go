package ingest

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"heartline/gateway/internal/table"
	"heartline/protocol/hl1"
	"heartline/protocol/token"
)

// Now is the time of one receive batch, computed once and shared by its frames.
type Now struct {
	Time time.Time
	Tick uint32 // table ticks
}

// Sender sends a reply datagram. The UDP loop queues it for the next sendmmsg.
type Sender interface {
	Send(frame []byte, to *Addr)
}

// Conn is a reply path for frames that did not come over UDP (TCP connections). A
// handed-off frame carries it so the owning loop can answer on it. Both methods may be
// called from any loop and must not block.
type Conn interface {
	SendFrame(frame []byte)
	// Refused is told each frame of type t from this connection that was dropped (counted
	// under r) without an answer, so the connection can apply the TCP rules of PROTOCOL.md
	// (e.g. CLOSE 3 after a HELLO that failed authentication). Drops that are answered
	// (REHELLO) reach the connection as that frame instead.
	Refused(t hl1.Type, r DropReason)
}

// Handoff is a frame travelling to the loop that owns its shard. It is a value (copied into
// a channel), so handing off does not allocate.
type Handoff struct {
	From  Addr
	Conn  Conn // nil for UDP
	Hops  uint8
	Len   uint8
	Frame [hl1.HelloSize]byte
	// A BATCH entry handed to its owner carries Reply (1-based, the origin loop's reply
	// slot) and Origin (the origin loop's shard); the owner answers with Verdict set and
	// the REHELLO, if any, in Frame (see relay.go).
	Reply   uint8
	Verdict bool
	Origin  uint16
}

// Router hands a frame to the loop owning shard. It returns false if that loop's inbox is
// full.
type Router interface {
	Route(shard int, h *Handoff) bool
}

// HandlerOptions configures a Handler.
type HandlerOptions struct {
	Keys           *token.KeyRing
	Epoch          uint32
	MaxClockSkew   time.Duration // default hl1.DefaultMaxClockSkew
	HelloPerSource float64       // HELLOs per second per source address; default 5
	HelloBurst     float64       // default 20
	HelloPerLoop   float64       // HELLOs per second per loop (CPU bound on floods); default 20000
	// RehelloPerSrc: REHELLOs per second per source address; default 50. A REHELLO is
	// smaller than the frame it answers, so the limit only keeps spoofed floods from using
	// the gateway as a (non-amplifying) reflector; it must stay well above what a restart
	// needs, when every app behind one NAT address holds a slot the gateway no longer knows.
	RehelloPerSrc  float64
	RehelloPerLoop float64   // REHELLOs per second per loop; default 20000 (every app of a restarted gateway needs one)
	LimiterEntries int       // per-source table size; default 65536
	Drain          *Drain    // shared by every loop; nil: this gateway never drains
	Upstream       *Upstream // shared by every loop; nil: HELLOs never refused for the agent's sake
	DrainPace      DrainPace // how fast a drain moves apps away
	Relays         Relays    // sources allowed to send BATCH; empty: BATCH from nobody
}

// Handler applies frames to one shard. It is owned by that shard's goroutine.
type Handler struct {
	opts   HandlerOptions
	tb     *table.Table
	shard  *table.Shard
	send   Sender
	router Router
	Stats  *Stats

	helloLimit    *limiter
	rehelloLimit  *limiter
	helloBudget   bucket // per-loop HELLO budget
	rehelloBudget bucket // per-loop REHELLO budget (spoofed floods must not turn us into a reflector)
	drainLimit    *limiter
	drainBudget   bucket // per-loop REHELLO 4 budget: the pace of a drain

	reply [hl1.WelcomeSize]byte
	entry [hl1.HeartbeatSize]byte
	ho    Handoff
	bat   hl1.Batch

	// Relay replies (relay.go): one REHELLOS frame per BATCH.
	index     int // this handler's shard
	replies   [maxOpenReplies]relayReply
	inBatch   bool // applying a BATCH: REHELLOs go to replies[gathering]
	gathering int  // -1: none (no free reply: the BATCH's REHELLOs are dropped)
	inVerdict bool // applying another loop's BATCH entry: its REHELLO goes to verdict
	verdict   hl1.Rehello
	relayOut  [hl1.MaxRehellosSize]byte
}

// NewHandler returns a handler for shard of tb.
func NewHandler(tb *table.Table, shard int, send Sender, router Router, opts HandlerOptions) *Handler {
	if opts.MaxClockSkew == 0 {
		opts.MaxClockSkew = hl1.DefaultMaxClockSkew
	}
	if opts.HelloPerSource == 0 {
		opts.HelloPerSource = 5
	}
	if opts.HelloBurst == 0 {
		opts.HelloBurst = 20
	}
	if opts.HelloPerLoop == 0 {
		opts.HelloPerLoop = 20000
	}
	if opts.RehelloPerSrc == 0 {
		opts.RehelloPerSrc = 50
	}
	if opts.RehelloPerLoop == 0 {
		opts.RehelloPerLoop = 20000
	}
	if opts.LimiterEntries == 0 {
		opts.LimiterEntries = 1 << 16
	}
	opts.DrainPace.defaults()
	return &Handler{
		bat: hl1.Batch{Slots: make([]uint64, 0, hl1.MaxBatchEntries), Words: make([]hl1.Word, 0, hl1.MaxBatchEntries),
			Tags: make([]uint64, 0, hl1.MaxBatchEntries)},
		opts: opts, tb: tb, shard: tb.Shard(shard), send: send, router: router, Stats: new(Stats), index: shard, gathering: -1,
		helloLimit:    newLimiter(opts.LimiterEntries, opts.HelloPerSource, opts.HelloBurst),
		rehelloLimit:  newLimiter(opts.LimiterEntries, opts.RehelloPerSrc, 2*opts.RehelloPerSrc),
		helloBudget:   newBucket(opts.HelloPerLoop, opts.HelloPerLoop),
		rehelloBudget: newBucket(opts.RehelloPerLoop, opts.RehelloPerLoop),
		drainLimit:    newLimiter(opts.LimiterEntries, opts.DrainPace.PerSource, 1),
		drainBudget:   newBucket(opts.DrainPace.PerLoop, max(1, opts.DrainPace.PerLoop/10)),
	}
}

// Shard returns the shard this handler owns.
func (h *Handler) Shard() *table.Shard { return h.shard }

// Frame handles one frame from a peer: UDP (conn == nil, replies to from) or TCP.
func (h *Handler) Frame(b []byte, from *Addr, conn Conn, now Now) {
	h.Stats.Datagrams.Add(1)
	h.frame(b, from, conn, 0, now)
}

func (h *Handler) frame(b []byte, from *Addr, conn Conn, hops uint8, now Now) {
	t, err := hl1.PeekType(b)
	if err != nil {
		h.Stats.Drop(DropReasonOf(err))
		return
	}
	switch t {
	case hl1.TypeHeartbeat, hl1.TypeBye:
		h.heartbeat(b, from, conn, hops, now)
	case hl1.TypeHello:
		h.hello(b, from, conn, hops, now)
	case hl1.TypeBatch:
		h.batch(b, from, conn, hops, now)
	default:
		h.refuse(b[0], ReasonUnexpected, conn)
	}
}

func beatType(hb hl1.Heartbeat) hl1.Type {
	if hb.Bye {
		return hl1.TypeBye
	}
	return hl1.TypeHeartbeat
}

// refuse counts a dropped frame (vt is its first byte) that gets no answer and tells its
// connection, if it came over one.
func (h *Handler) refuse(vt byte, r DropReason, conn Conn) {
	h.Stats.Drop(r)
	if conn != nil {
		conn.Refused(hl1.Type(vt), r)
	}
}

func (h *Handler) heartbeat(b []byte, from *Addr, conn Conn, hops uint8, now Now) {
	hb, err := hl1.ParseHeartbeat(b)
	if err != nil {
		h.refuse(b[0], DropReasonOf(err), conn)
		return
	}
	h.beat(hb, b, from, conn, hops, now)
}

// batch applies each entry of a relay's BATCH as the HEARTBEAT it is: each is authenticated
// with its own session's key, so the relay cannot forge.
func (h *Handler) batch(b []byte, from *Addr, conn Conn, hops uint8, now Now) {
	if conn != nil {
		h.Stats.Drop(ReasonUnexpected) // BATCH is UDP only
		return
	}
	if !h.opts.Relays.Allows(from) {
		h.Stats.Drop(ReasonNotARelay)
		return
	}
	if err := hl1.ParseBatch(b, &h.bat); err != nil {
		h.Stats.Drop(DropReasonOf(err))
		return
	}
	h.applyBatchEntries(from, hops, now)
}

// beat applies one decoded heartbeat. raw is its frame if it arrived as one (nil for a
// BATCH entry, which is re-encoded if it must be handed off).
func (h *Handler) beat(hb hl1.Heartbeat, raw []byte, from *Addr, conn Conn, hops uint8, now Now) {
	idx, sess, res := h.shard.Lookup(hb.Slot)
	switch res {
	case table.LookupForeign:
		if raw == nil {
			raw = hl1.AppendHeartbeat(h.entry[:0], hb)
		}
		h.handoff(h.tb.ShardOf(hb.Slot), raw, from, conn, hops)
		return
	case table.LookupUnknown:
		h.Stats.Drop(ReasonUnknownSlot)
		h.rehello(hb.Slot, hl1.RehelloUnknownSlot, from, conn, now)
		return
	case table.LookupExpired:
		h.Stats.Drop(ReasonExpired)
		h.rehello(hb.Slot, hl1.RehelloExpired, from, conn, now)
		return
	}
	expected := uint64(sess.LastTs) + uint64(now.Tick-sess.LastSeen)
	seq, ts, err := hb.Open(macKey(sess.K0, sess.K1), h.opts.Epoch, uint64(sess.LastSeq), expected)
	if err != nil {
		if !errors.Is(err, hl1.ErrBadMAC) { // replay: silent
			h.refuse(byte(beatType(hb)), DropReasonOf(err), conn)
			return
		}
		// The slot is live but the frame is not its session's: an app still holding a slot
		// from this gateway's previous run (or from before its clock drifted out of the ts
		// window) would otherwise be dropped silently for ever, never told to say HELLO
		// again. A forger only gets the 6-byte answer an unknown slot gets, rate-limited
		// the same way; replays stay silent.
		h.Stats.Drop(ReasonBadMAC)
		h.rehello(hb.Slot, hl1.RehelloUnknownSlot, from, conn, now)
		return
	}
	if seq > math.MaxUint32 || ts > math.MaxUint32 {
		h.Stats.Drop(ReasonOverflow)
		h.rehello(hb.Slot, hl1.RehelloExpired, from, conn, now)
		return
	}
	if hb.Bye {
		h.shard.Bye(idx, uint32(seq), uint32(ts), now.Tick)
		h.Stats.Byes.Add(1)
		return
	}
	h.shard.Accept(idx, uint32(seq), uint32(ts), hb.Word.Active(), now.Tick)
	h.Stats.Heartbeats.Add(1)
	if h.opts.Drain.Active() {
		h.askToMove(hb.Slot, from, conn, now)
	}
}

func (h *Handler) hello(b []byte, from *Addr, conn Conn, hops uint8, now Now) {
	const vt = byte(hl1.TypeHello)
	// The checks that cost no MAC come first (PROTOCOL.md, Error handling): a flood of
	// junk, truncated, stale or unknown-key HELLOs is dropped here and spends neither the
	// per-source allowance of the address it claims nor the loop's HELLO budget, which is
	// left to HELLOs that need the two HMACs and the tag.
	hello, err := hl1.ParseHello(b)
	if err != nil {
		h.refuse(vt, DropReasonOf(err), conn)
		return
	}
	if err := h.opts.Keys.Precheck(hello.Token[:], now.Time); err != nil {
		h.refuse(vt, DropReasonOf(err), conn)
		return
	}
	if err := hello.CheckClock(now.Time, h.opts.MaxClockSkew); err != nil {
		h.refuse(vt, DropReasonOf(err), conn)
		return
	}
	if hops == 0 { // a handed-off HELLO was rate-limited where it arrived
		// Per source first, then the loop-wide budget: a flood of well-formed HELLOs from
		// many sources costs at most HelloPerLoop token HMACs per second.
		if !h.helloLimit.allow(from.Key(), now.Tick) || !h.helloBudget.allow(now.Tick) {
			h.refuse(vt, ReasonRateLimited, conn)
			return
		}
	}
	logout := hello.Logout()
	if h.opts.Drain.Active() && !logout {
		// No new sessions while draining: the app tries the next gateway at once.
		h.Stats.Drop(ReasonDraining)
		h.rehello(0, hl1.RehelloDraining, from, conn, now)
		return
	}
	if h.opts.Upstream.CutOff() && !logout {
		// The agent cannot reach Consul: a session started here would not be shown.
		h.Stats.Drop(ReasonCutOff)
		h.rehello(0, hl1.RehelloUnavailable, from, conn, now)
		return
	}
	tok, sk, err := h.opts.Keys.Open(hello.Token[:], now.Time)
	if err != nil {
		h.refuse(vt, DropReasonOf(err), conn)
		return
	}
	key := hl1.NewMACKey(sk)
	if !hello.Verify(key) {
		h.refuse(vt, ReasonHelloBadTag, conn)
		return
	}
	p := table.HelloParams{
		User: tok.UserID, Device: tok.DeviceID,
		K0: binary.LittleEndian.Uint64(sk[0:8]), K1: binary.LittleEndian.Uint64(sk[8:16]),
		Active: hello.Active(), Stamp: uint32(hello.ClientTimeMS / 16),
	}
	if logout {
		h.logout(p, b, from, conn, hops, now)
		return
	}
	slot, base, res, owner := h.shard.Hello(p, now.Tick)
	switch res {
	case table.HelloForeign:
		h.handoff(owner, b, from, conn, hops)
		return
	case table.HelloStale:
		h.refuse(byte(hl1.TypeHello), ReasonHelloReplay, conn)
		return
	case table.HelloFull:
		h.Stats.Drop(ReasonGatewayFull)
		h.rehello(0, hl1.RehelloFull, from, conn, now)
		return
	}
	w := hl1.Welcome{
		Slot: slot, Epoch: h.opts.Epoch, IntervalMS: uint32(h.tb.Interval() / time.Millisecond),
		ServerTimeMS: uint64(h.tb.UnixMilli(base)),
	}.Seal(key, hello.Nonce)
	h.Stats.Hellos.Add(1)
	h.reply1(hl1.AppendWelcome(h.reply[:0], w), from, conn)
}

// logout applies a verified HELLO with hl1.FlagLogout: the (user, device) session here ends
// whatever its slot, and nothing is answered.
func (h *Handler) logout(p table.HelloParams, b []byte, from *Addr, conn Conn, hops uint8, now Now) {
	switch res, owner := h.shard.Logout(p, now.Tick); res {
	case table.LogoutForeign:
		h.handoff(owner, b, from, conn, hops)
	case table.LogoutStale:
		h.refuse(byte(hl1.TypeHello), ReasonHelloReplay, conn)
	case table.LogoutDone:
		h.Stats.Byes.Add(1)
		h.Stats.Logouts.Add(1)
	}
}

// rehello answers a frame of at least HeartbeatSize bytes (so never an amplification) with a
// REHELLO, rate-limited per source.
func (h *Handler) rehello(slot uint32, reason hl1.RehelloReason, from *Addr, conn Conn, now Now) {
	if h.collecting() {
		h.collect(slot, reason)
		return
	}
	if conn == nil && (!h.rehelloLimit.allow(from.Key(), now.Tick) || !h.rehelloBudget.allow(now.Tick)) {
		return
	}
	h.Stats.Rehellos.Add(1)
	h.reply1(hl1.AppendRehello(h.reply[:0], hl1.Rehello{Slot: slot, Reason: reason}), from, conn)
}

func (h *Handler) reply1(frame []byte, from *Addr, conn Conn) {
	if conn != nil {
		conn.SendFrame(frame)
		return
	}
	h.send.Send(frame, from)
}

func (h *Handler) handoff(owner int, b []byte, from *Addr, conn Conn, hops uint8) {
	if hops > 0 || h.router == nil {
		h.refuse(b[0], ReasonTooManyHops, conn)
		return
	}
	ho := &h.ho
	ho.From, ho.Conn, ho.Hops, ho.Len = *from, conn, hops+1, uint8(copy(ho.Frame[:], b))
	if h.inBatch && h.gathering >= 0 { // its verdict comes back to this BATCH's reply
		ho.Reply, ho.Origin = uint8(h.gathering+1), uint16(h.index)
	}
	ok := h.router.Route(owner, ho)
	ho.Conn, ho.Reply = nil, 0
	if !ok {
		h.refuse(b[0], ReasonInboxFull, conn)
		return
	}
	if h.inBatch && h.gathering >= 0 {
		h.replies[h.gathering].pending++
	}
	h.Stats.HandedOff.Add(1)
}

// Handoff processes a frame another loop handed over.
func (h *Handler) Handoff(ho *Handoff, now Now) {
	switch {
	case ho.Verdict:
		h.takeVerdict(ho, now)
	case ho.Reply != 0:
		h.Stats.Received.Add(1)
		h.verdictFor(ho, now)
	default:
		h.Stats.Received.Add(1)
		h.frame(ho.Frame[:ho.Len], &ho.From, ho.Conn, ho.Hops, now)
	}
}

// Tick runs the shard's periodic work (wheel, feed publishing).
func (h *Handler) Tick(now Now) {
	h.expireReplies(now)
	lag := h.shard.Tick(now.Tick)
	h.Stats.WheelLag.Store(int64(lag) * h.tb.WheelTick().Milliseconds())
}

// macKey rebuilds the hl1 key from the session's stored halves (hl1.MACKey keeps them
// unexported). Two stores and two loads.
func macKey(k0, k1 uint64) hl1.MACKey {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[0:8], k0)
	binary.LittleEndian.PutUint64(b[8:16], k1)
	return hl1.NewMACKey(b)
}
