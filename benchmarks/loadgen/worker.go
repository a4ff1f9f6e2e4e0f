package main

import (
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"heartline/benchmarks/mmsg"
	"heartline/benchmarks/wire"
	"heartline/protocol/hl1"
	"heartline/protocol/token"
)

// counters are one worker's totals, read by the live line and the summary (atomics: the
// worker writes, the main goroutine reads).
type counters struct {
	Datagrams     atomic.Uint64 // datagrams sent (any frame)
	Heartbeats    atomic.Uint64 // heartbeats sent (BATCH entries counted one each)
	Batches       atomic.Uint64 // BATCH frames sent
	Hellos        atomic.Uint64 // HELLOs sent (first tries)
	HelloRetries  atomic.Uint64 // HELLOs re-sent after a timeout
	HelloGaveUp   atomic.Uint64 // sessions sent to the back of the queue after -hello-tries
	Welcomed      atomic.Uint64 // WELCOMEs matched to a session
	Online        atomic.Int64  // sessions currently welcomed
	Rehellos      atomic.Uint64 // REHELLOs received
	Byes          atomic.Uint64 // BYEs sent (churn)
	Lost          atomic.Uint64 // heartbeats dropped on purpose (-loss)
	StatusChanges atomic.Uint64
	Unmatched     atomic.Uint64 // replies that matched no session (stale or forged)
	Errors        atomic.Uint64 // send/receive errors
	Bytes         atomic.Uint64 // payload bytes sent
}

// worker owns one socket and one partition of the sessions.
type worker struct {
	id, of   int
	o        *Options
	tr       transport
	s        *sessions
	w        *wheel
	slots    *slotMap
	helloQ   []int32 // ring of sessions waiting for a HELLO
	qHead    int
	qLen     int
	pending  []pendingHello
	helloB   bucket
	churnB   bucket
	rng      *rand.Rand
	keys     *token.KeyRing
	keyID    uint16
	seed     uint64
	interval uint32 // ms; 0 until the first WELCOME when the gateway decides
	start    time.Time
	c        counters

	targets  []mmsg.Sockaddr
	frames   [][]byte // queued frames for the next sendmmsg
	dst      []mmsg.Sockaddr
	buf      []byte // backing storage for frames
	bufOff   int
	sizes    []int
	batch    hl1.Batch
	rehellos []hl1.Rehello // decoding buffer for REHELLOS (relay mode)
	bdst     int           // target index of the batch being filled (relay mode)
	nowMS    uint32
	sendErr  error
	// churnOn is set once every session has been online (after warm-up): churn is a
	// steady-state load, and with it running a warm-up could never see all sessions online.
	churnOn atomic.Bool
}

type pendingHello struct {
	idx    int32
	sentMS uint32
	tries  uint8
}

const frameCap = 128 // bytes reserved per queued frame (HELLO is 73, a JSON beat < 100)

func newWorker(id, of int, o *Options, tr transport, keys *token.KeyRing, targets []mmsg.Sockaddr, start time.Time) *worker {
	n := partitionSize(o.Sessions, of, id)
	wk := &worker{
		id: id, of: of, o: o, tr: tr, s: newSessions(n), slots: newSlotMap(n),
		helloQ: make([]int32, n), pending: make([]pendingHello, 0, o.HelloWin),
		rng: rand.New(rand.NewPCG(o.Seed, uint64(id))), keys: keys, seed: o.Seed,
		start: start, targets: targets,
		frames: make([][]byte, 0, o.Batch), dst: make([]mmsg.Sockaddr, 0, o.Batch),
		buf: make([]byte, o.Batch*frameCap+hl1.MaxFrame), sizes: make([]int, len(tr.Buffers())),
	}
	wk.helloB = newBucket(o.HelloRate/float64(of), max(1, o.HelloRate/float64(of)/100))
	wk.churnB = newBucket(o.Churn/float64(of), max(1, o.Churn/float64(of)/100))
	if keys != nil {
		wk.keyID, _ = keys.Current()
	}
	wk.interval = uint32(o.Interval / time.Millisecond)
	horizon := wk.interval * 2
	if horizon < 120_000 {
		horizon = 120_000
	}
	wk.w = newWheel(uint32(max(1, o.Tick/time.Millisecond)), horizon)
	if o.Handshake == "none" {
		for i := 0; i < n; i++ {
			g := globalID(i, of, id)
			slot := uint32(g + 1)
			wk.s.slot[i], wk.s.epoch[i], wk.s.key[i] = slot, o.Epoch, wire.PresharedKey(slot)
			wk.s.state[i], wk.s.flags[i] = stOnline, flActive
			wk.w.file(wk.s, int32(i), uint32(wk.rng.Uint64N(uint64(max(1, wk.interval)))))
		}
		wk.c.Online.Store(int64(n))
	} else {
		for i := 0; i < n; i++ {
			wk.s.flags[i] = flActive
			wk.enqueueHello(int32(i))
		}
	}
	return wk
}

func (wk *worker) ms(t time.Time) uint32 { return uint32(t.Sub(wk.start) / time.Millisecond) }

func (wk *worker) enqueueHello(i int32) {
	wk.s.state[i] = stNeedHello
	wk.helloQ[(wk.qHead+wk.qLen)%len(wk.helloQ)] = i
	wk.qLen++
}

func (wk *worker) dequeueHello() int32 {
	i := wk.helloQ[wk.qHead]
	wk.qHead = (wk.qHead + 1) % len(wk.helloQ)
	wk.qLen--
	return i
}

// target returns the index of the gateway session i talks to (user id hashed over targets).
func (wk *worker) target(i int32) int {
	if len(wk.targets) == 1 {
		return 0
	}
	g := wk.o.UserBase + globalID(int(i), wk.of, wk.id)
	return int((g * 0x9e3779b97f4a7c15 >> 32) % uint64(len(wk.targets)))
}

// frame returns room for one outgoing frame addressed to target t; commit it with queue.
func (wk *worker) frame() []byte {
	return wk.buf[wk.bufOff:wk.bufOff]
}

func (wk *worker) queue(f []byte, t int) {
	wk.frames = append(wk.frames, f)
	wk.dst = append(wk.dst, wk.targets[t])
	wk.bufOff += len(f)
	wk.c.Datagrams.Add(1)
	wk.c.Bytes.Add(uint64(len(f)))
	if len(wk.frames) == cap(wk.frames) || wk.bufOff+frameCap > len(wk.buf)-hl1.MaxFrame {
		wk.flush()
	}
}

func (wk *worker) flush() {
	if len(wk.frames) == 0 {
		return
	}
	if _, err := wk.tr.Send(wk.frames, wk.dst); err != nil {
		wk.c.Errors.Add(1)
		wk.sendErr = err
	}
	wk.frames, wk.dst, wk.bufOff = wk.frames[:0], wk.dst[:0], 0
}

// step runs one tick at now: replies, HELLO retries and sends, churn, due heartbeats.
func (wk *worker) step(now time.Time) {
	wk.nowMS = wk.ms(now)
	wk.receive(now)
	wk.retryHellos(now)
	wk.sendHellos(now)
	wk.churn(now)
	wk.w.advance(wk.s, wk.nowMS, wk.fire)
	wk.flushBatch()
	wk.flush()
}

func (wk *worker) receive(now time.Time) {
	bufs := wk.tr.Buffers()
	for {
		n, err := wk.tr.Recv(wk.sizes, nil)
		if err != nil {
			if !errors.Is(err, mmsg.ErrWouldBlock) {
				wk.c.Errors.Add(1)
			}
			return
		}
		for k := 0; k < n; k++ {
			wk.reply(bufs[k][:wk.sizes[k]])
		}
		if n < len(wk.sizes) {
			return
		}
	}
}

func (wk *worker) reply(f []byte) {
	t, err := hl1.PeekType(f)
	if err != nil {
		wk.c.Unmatched.Add(1)
		return
	}
	switch t {
	case hl1.TypeWelcome:
		w, err := hl1.ParseWelcome(f)
		if err != nil {
			wk.c.Unmatched.Add(1)
			return
		}
		for p, ph := range wk.pending {
			i := ph.idx
			if !w.Verify(wk.s.key[i], wk.s.nonce[i]) {
				continue
			}
			wk.pending[p] = wk.pending[len(wk.pending)-1]
			wk.pending = wk.pending[:len(wk.pending)-1]
			wk.welcome(i, w)
			return
		}
		wk.c.Unmatched.Add(1) // a duplicate WELCOME for a retried HELLO, or stale
	case hl1.TypeRehello:
		r, err := hl1.ParseRehello(f)
		if err != nil {
			wk.c.Unmatched.Add(1)
			return
		}
		wk.rehello(r)
	case hl1.TypeRehellos: // relay mode: the REHELLOs one BATCH caused, mapped to apps by slot
		rs, err := hl1.ParseRehellos(f, wk.rehellos[:0])
		wk.rehellos = rs[:0]
		if err != nil {
			wk.c.Unmatched.Add(1)
			return
		}
		for _, r := range rs {
			wk.rehello(r)
		}
	default:
		wk.c.Unmatched.Add(1)
	}
}

// rehello makes the session holding r's slot say HELLO again.
func (wk *worker) rehello(r hl1.Rehello) {
	i, ok := wk.slots.get(r.Slot)
	if !ok || wk.s.state[i] != stOnline || wk.s.slot[i] != r.Slot {
		wk.c.Unmatched.Add(1)
		return
	}
	wk.c.Rehellos.Add(1)
	wk.goOffline(i)
	wk.s.logins[i]++
	wk.enqueueHello(i)
}

func (wk *worker) welcome(i int32, w hl1.Welcome) {
	s := wk.s
	s.slot[i], s.epoch[i], s.seq[i], s.welcomeAt[i] = w.Slot, w.Epoch, 0, wk.nowMS
	s.state[i] = stOnline
	wk.slots.put(w.Slot, i)
	if wk.interval == 0 {
		wk.interval = max(w.IntervalMS, 1)
	}
	// The first heartbeat goes at once: it confirms the session, which the gateway reports
	// online only then (PROTOCOL.md, WELCOME). HELLOs are already spread by the hello window,
	// so the beats that follow, one interval apart, are spread too.
	s.due[i] = wk.nowMS
	if s.flags[i]&flInWheel == 0 {
		wk.w.file(s, i, s.due[i])
	}
	wk.c.Welcomed.Add(1)
	wk.c.Online.Add(1)
}

func (wk *worker) goOffline(i int32) {
	if wk.s.state[i] == stOnline {
		wk.c.Online.Add(-1)
		wk.slots.del(wk.s.slot[i])
	}
	wk.s.state[i] = stNeedHello
}

// hello builds session i's HELLO: a fresh token (deterministic per login) and a new nonce.
func (wk *worker) hello(i int32, now time.Time, fresh bool) {
	s := wk.s
	g := globalID(int(i), wk.of, wk.id)
	tok := token.Token{KeyID: wk.keyID, UserID: wk.o.UserBase + g, DeviceID: wk.o.DeviceID,
		Expiry: uint32(wk.start.Add(24 * time.Hour).Unix()), Nonce: mix64(wk.seed ^ g<<16 ^ uint64(s.logins[i]))}
	// Every field is fixed per login (expiry from the run's start, not from now), so a
	// retried HELLO carries the same token and the session key derived at the first try.
	tok, err := wk.keys.Sign(tok)
	if err != nil {
		wk.c.Errors.Add(1)
		return
	}
	if fresh {
		sk, err := wk.keys.DeriveSessionKey(tok)
		if err != nil {
			wk.c.Errors.Add(1)
			return
		}
		s.key[i] = hl1.NewMACKey(sk)
		s.nonce[i] = wk.rng.Uint32()
	}
	h := hl1.Hello{ClientTimeMS: uint64(now.UnixMilli()), Nonce: s.nonce[i], Token: tok.Bytes()}
	if s.flags[i]&flActive != 0 {
		h.Flags = hl1.FlagActive
	}
	wk.queue(hl1.AppendHello(wk.frame(), h.Seal(s.key[i])), wk.target(i))
}

func (wk *worker) retryHellos(now time.Time) {
	for p := 0; p < len(wk.pending); p++ {
		ph := &wk.pending[p]
		timeout := uint32(wk.o.HelloRetry/time.Millisecond) << min(ph.tries, 6)
		if wk.nowMS-ph.sentMS < timeout {
			continue
		}
		if int(ph.tries)+1 >= wk.o.HelloTries {
			wk.c.HelloGaveUp.Add(1)
			i := ph.idx
			wk.pending[p] = wk.pending[len(wk.pending)-1]
			wk.pending = wk.pending[:len(wk.pending)-1]
			p--
			wk.enqueueHello(i)
			continue
		}
		if wk.helloB.take(wk.nowMS, 1) == 0 {
			return
		}
		ph.tries++
		ph.sentMS = wk.nowMS
		wk.c.HelloRetries.Add(1)
		wk.hello(ph.idx, now, false)
	}
}

func (wk *worker) sendHellos(now time.Time) {
	room := min(cap(wk.pending)-len(wk.pending), wk.qLen)
	if room <= 0 {
		return
	}
	n := wk.helloB.take(wk.nowMS, room)
	for ; n > 0 && wk.qLen > 0; n-- {
		i := wk.dequeueHello()
		if wk.s.state[i] != stNeedHello {
			continue
		}
		wk.s.state[i] = stHelloSent
		wk.pending = append(wk.pending, pendingHello{idx: i, sentMS: wk.nowMS})
		wk.c.Hellos.Add(1)
		wk.hello(i, now, true)
	}
}

// churn logs random online sessions out (BYE) and queues them for a fresh login.
func (wk *worker) churn(now time.Time) {
	if wk.o.Churn <= 0 || wk.s.len() == 0 || !wk.churnOn.Load() {
		return
	}
	for n := wk.churnB.take(wk.nowMS, 1<<20); n > 0; n-- {
		i := int32(wk.rng.IntN(wk.s.len()))
		if wk.s.state[i] != stOnline {
			continue
		}
		wk.beat(i, true)
		wk.c.Byes.Add(1)
		wk.goOffline(i)
		wk.s.logins[i]++
		wk.enqueueHello(i)
	}
}

// fire is the wheel callback: send session i's heartbeat if it is due, re-file it.
func (wk *worker) fire(i int32) {
	s := wk.s
	if s.state[i] != stOnline {
		return // re-filed when welcomed again
	}
	if int32(s.due[i]-wk.nowMS) > 0 {
		wk.w.file(s, i, s.due[i])
		return
	}
	if wk.o.StatusFlip > 0 && wk.rng.Float64() < wk.o.StatusFlip {
		s.flags[i] ^= flActive
		wk.c.StatusChanges.Add(1)
	}
	if wk.o.Loss > 0 && wk.rng.Float64() < wk.o.Loss {
		s.seq[i]++ // lost on the way: the next one carries a seq gap
		wk.c.Lost.Add(1)
	} else {
		wk.beat(i, false)
	}
	s.due[i] = nextDue(wk.nowMS, wk.interval, wk.o.Jitter, wk.rng.Float64())
	wk.w.file(s, i, s.due[i])
}

// beat sends session i's next HEARTBEAT (or BYE), or adds it to the relay BATCH.
func (wk *worker) beat(i int32, bye bool) {
	s := wk.s
	s.seq[i]++
	active := s.flags[i]&flActive != 0
	if wk.o.Proto == "json" {
		status := "idle"
		if active {
			status = "active"
		}
		b := wire.JSONBeat{UserID: wk.o.UserBase + globalID(int(i), wk.of, wk.id), TS: wk.start.UnixMilli() + int64(wk.nowMS), Status: status, Seq: uint64(s.seq[i])}
		wk.queue(wire.AppendJSONBeat(wk.frame(), b), wk.target(i))
		wk.c.Heartbeats.Add(1)
		return
	}
	ts := uint64(wk.nowMS-s.welcomeAt[i]) / 10
	h := hl1.Beat{Slot: s.slot[i], Epoch: s.epoch[i], Seq: uint64(s.seq[i]), TS: ts, Active: active, Bye: bye}.Seal(s.key[i])
	if wk.o.Relay > 0 && !bye {
		t := wk.target(i)
		if wk.batch.Len() > 0 && t != wk.bdst {
			wk.flushBatch()
		}
		wk.bdst = t
		if err := wk.batch.Add(h); err != nil {
			wk.c.Errors.Add(1)
			return
		}
		wk.c.Heartbeats.Add(1)
		if wk.batch.Len() >= wk.o.Relay {
			wk.flushBatch()
		}
		return
	}
	wk.queue(hl1.AppendHeartbeat(wk.frame(), h), wk.target(i))
	if !bye {
		wk.c.Heartbeats.Add(1)
	}
}

func (wk *worker) flushBatch() {
	if wk.batch.Len() == 0 {
		return
	}
	wk.batch.Sort()
	f, err := hl1.AppendBatch(wk.frame(), &wk.batch)
	wk.batch.Reset()
	if err != nil {
		wk.c.Errors.Add(1)
		return
	}
	wk.c.Batches.Add(1)
	wk.queue(f, wk.bdst)
}

// run ticks until stop is closed.
func (wk *worker) run(stop <-chan struct{}) {
	t := time.NewTicker(wk.o.Tick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			wk.flush()
			return
		case now := <-t.C:
			wk.step(now)
		}
	}
}

// mix64 is splitmix64's finaliser (token nonces from seed, session and login count).
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
