package model

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"heartline/protocol/hl1"
	"heartline/protocol/token"
)

// helloTimeout is how long an app waits for a WELCOME before it says HELLO again.
const helloTimeout = time.Second

type appState uint8

const (
	stIdle     appState = iota // no session: logged out, or about to say HELLO
	stHelloing                 // HELLO sent to gw, waiting for the WELCOME
	stOnline                   // WELCOME received from gw: heartbeating on slot
)

func (s appState) String() string { return [...]string{"idle", "helloing", "online"}[s] }

// app is one (member, device) modelled on the reference client and the chaos driver.
type app struct {
	user   uint64
	device uint32
	addr   netip.AddrPort // its own source address: per-source rate limits never mix apps
	shard  int            // the ingest loop its datagrams land on (SO_REUSEPORT hashes the source)
	key    hl1.MACKey
	tok    token.Token

	alive    bool // false: silent (app killed, phone off the network)
	loggedIn bool // wants to be online; false after BYE until it logs in again

	state    appState
	gw       int // online: its gateway; helloing: where the HELLO went
	slot     uint32
	epoch    uint32
	baseMS   int64 // WELCOME server time (ts origin)
	seq      uint64
	nonce    uint32
	helloAt  time.Time
	helloMS  int64 // client time of the last HELLO (kept monotonic, as PROTOCOL.md asks)
	nextBeat time.Time

	// avoidUntil: gateways that answered REHELLO 4 (draining) are skipped until then, as
	// the reference client does for hl1.DrainAvoid.
	avoidUntil map[int]time.Time

	// abandoned are HELLOs the app gave up on (a retry went out): a late WELCOME for one
	// of them is declined with a BYE when the app is elsewhere, as the chaos driver does.
	abandoned []abandonedHello

	// Outcome of the last HEARTBEAT (not BYE) the app sent, and when.
	lastBeatAccepted bool
	acceptedInc      int       // gateway incarnation that accepted it
	lastAcceptedAt   time.Time // the fake time it was accepted
	wantedSince      time.Time // alive and logged in, continuously, since

	// fate of the next WELCOME: dropped, or held back for holdWelcome; of the next REHELLO:
	// dropped.
	dropWelcome bool
	holdWelcome time.Duration
	dropRehello bool

	trace []string
}

type abandonedHello struct {
	gw    int
	nonce uint32
}

func newApp(t *testing.T, keys *token.KeyRing, i int, start time.Time) *app {
	t.Helper()
	a := &app{user: uint64(1000 + i/2), device: uint32(1 + i%2), shard: i % shards, gw: -1, avoidUntil: map[int]time.Time{}}
	tok, sk, err := keys.Issue(token.Claims{UserID: a.user, DeviceID: a.device, Expiry: start.Add(48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	a.tok, a.key = tok, hl1.NewMACKey(sk)
	a.addr = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 7, byte(i >> 8), byte(i)}), 40000)
	return a
}

func (a *app) String() string { return fmt.Sprintf("app %d/%d", a.user, a.device) }

// world is the model: the cluster, the apps, the network between them, and the record of
// what each gateway process was last seen doing with each app's session.
type world struct {
	t    *testing.T
	c    *cluster
	rng  *rand.Rand
	apps []*app
	held []heldWelcome

	// sessions: per (app, gateway), what the gateway's table did with the app's session, as
	// far as the counters show: the ground truth of which sessions may still be shown.
	sessions map[sessionRef]*sessionRecord

	violations []string
	log        []string
}

type sessionRef struct{ app, gw int }

// sessionRecord is one app's session at one gateway process.
type sessionRecord struct {
	incarnation  int
	confirmed    bool      // a heartbeat was accepted: the gateway reports it online
	lastActivity time.Time // last accepted HELLO or heartbeat (the table's LastSeen)
	bye          bool      // a BYE was accepted after lastActivity
	// uncertain: a HELLO re-found the session about when it expired (within the wheel's
	// lateness), so whether the gateway still reports it before its next heartbeat depends
	// on which came first; until a heartbeat is accepted it may be shown, not must.
	uncertain bool
}

type heldWelcome struct {
	app   int
	gw    int
	inc   int
	frame []byte
	at    time.Time
}

func (w *world) note(a *app, format string, args ...any) {
	line := fmt.Sprintf("%8.1fs %s", w.c.now.Sub(modelStart).Seconds(), fmt.Sprintf(format, args...))
	a.trace = append(a.trace, line)
	if len(a.trace) > 100 {
		a.trace = a.trace[len(a.trace)-100:]
	}
}

func (w *world) violate(format string, args ...any) {
	w.violations = append(w.violations, fmt.Sprintf(format, args...))
}

// record returns the session record of app i at gateway g, starting a fresh one when the
// gateway process changed or the previous session is certainly gone.
func (w *world) record(i, g int) *sessionRecord {
	ref := sessionRef{i, g}
	r := w.sessions[ref]
	inc := w.c.gws[g].incarnation
	if r == nil || r.incarnation != inc {
		r = &sessionRecord{incarnation: inc}
		w.sessions[ref] = r
	}
	return r
}

// hello sends a HELLO to gateway g, or to another one if the app keeps away from g
// (abandoning a HELLO still in flight).
func (w *world) hello(i, g int) {
	a := w.apps[i]
	g = w.steer(a, g)
	if a.state == stHelloing {
		a.abandoned = append(a.abandoned, abandonedHello{gw: a.gw, nonce: a.nonce})
		if len(a.abandoned) > 8 {
			a.abandoned = a.abandoned[1:]
		}
	}
	a.state, a.gw, a.helloAt, a.lastBeatAccepted = stHelloing, g, w.c.now, false
	a.nonce = w.rng.Uint32()
	ct := max(w.c.now.UnixMilli(), a.helloMS+16)
	a.helloMS = ct
	h := hl1.Hello{Flags: hl1.FlagActive, ClientTimeMS: uint64(ct), Nonce: a.nonce, Token: a.tok.Bytes()}.Seal(a.key)
	gw := w.c.gws[g]
	replies, before, after := gw.frame(hl1.AppendHello(nil, h), a.addr, a.shard)
	if after.Hellos > before.Hellos {
		r := w.record(i, g)
		quiet := w.c.now.Sub(r.lastActivity)
		switch {
		case r.bye || quiet > shownFor+wheelSlack:
			*r = sessionRecord{incarnation: r.incarnation} // gone: a new session, not reported before its first heartbeat
		case r.confirmed && quiet >= shownFor-wheelTick:
			r.uncertain = true
		}
		r.lastActivity = w.c.now
		w.note(a, "HELLO %s → WELCOME", gw.id)
	} else {
		w.note(a, "HELLO %s → no WELCOME (drops %s)", gw.id, after.dropsSince(before))
	}
	for _, rp := range replies {
		w.receive(i, g, rp.Frame, true)
	}
}

// beat sends the app's next HEARTBEAT (or BYE) on its session and checks the gateway's
// answer: accepted, or a REHELLO; anything else loses the app silently.
func (w *world) beat(i int, bye bool) {
	a := w.apps[i]
	g := w.c.gws[a.gw]
	a.seq++
	ts := max((w.c.now.UnixMilli()-a.baseMS)/hl1.TickMS, 0)
	b := hl1.Beat{Slot: a.slot, Epoch: a.epoch, Seq: a.seq, TS: uint64(ts), Active: true, Bye: bye}.Seal(a.key)
	replies, before, after := g.frame(hl1.AppendHeartbeat(nil, b), a.addr, a.shard)
	r := w.record(i, a.gw)
	switch {
	case bye && after.Byes > before.Byes:
		r.bye = true
		w.note(a, "BYE %s slot %x → accepted", g.id, a.slot)
	case bye:
		w.note(a, "BYE %s slot %x → not accepted (drops %s)", g.id, a.slot, after.dropsSince(before))
	case after.Heartbeats > before.Heartbeats:
		r.confirmed, r.lastActivity, r.bye, r.uncertain = true, w.c.now, false, false
		a.lastBeatAccepted, a.acceptedInc, a.lastAcceptedAt = true, g.incarnation, w.c.now
	default:
		a.lastBeatAccepted = false
		if after.Rehellos > before.Rehellos {
			w.note(a, "HEARTBEAT %s slot %x seq %d → REHELLO (drops %s)", g.id, a.slot, a.seq, after.dropsSince(before))
		} else {
			w.note(a, "HEARTBEAT %s slot %x seq %d → dropped SILENTLY (drops %s)", g.id, a.slot, a.seq, after.dropsSince(before))
			w.violate("%s believes it is online at %s (slot %x, epoch %x) but its heartbeat was dropped without a REHELLO (drops %s, gateway epoch now %x): the app is never told to say HELLO again",
				a, g.id, a.slot, a.epoch, after.dropsSince(before), g.proc.Epoch())
		}
	}
	for _, rp := range replies {
		w.receive(i, a.gw, rp.Frame, false)
	}
}

// receive delivers a gateway's reply to app i (fresh: the answer to a frame just sent,
// whose WELCOME may be dropped or held back).
func (w *world) receive(i, g int, frame []byte, fresh bool) {
	a := w.apps[i]
	if !a.alive {
		return
	}
	typ, err := hl1.PeekType(frame)
	if err != nil {
		w.violate("%s got an unparseable reply from %s: % x", a, w.c.gws[g].id, frame)
		return
	}
	switch typ {
	case hl1.TypeWelcome:
		if fresh && a.dropWelcome {
			a.dropWelcome = false
			w.note(a, "WELCOME from %s lost", w.c.gws[g].id)
			return
		}
		if fresh && a.holdWelcome > 0 {
			w.held = append(w.held, heldWelcome{app: i, gw: g, inc: w.c.gws[g].incarnation, frame: frame, at: w.c.now.Add(a.holdWelcome)})
			w.note(a, "WELCOME from %s held back %v", w.c.gws[g].id, a.holdWelcome)
			a.holdWelcome = 0
			return
		}
		w.welcomed(i, g, frame)
	case hl1.TypeRehello:
		r, err := hl1.ParseRehello(frame)
		if err != nil {
			w.violate("%s: bad REHELLO from %s: %v", a, w.c.gws[g].id, err)
			return
		}
		if a.dropRehello {
			a.dropRehello = false
			w.note(a, "REHELLO %d from %s for slot %x lost", r.Reason, w.c.gws[g].id, r.Slot)
			return
		}
		switch {
		case a.state == stOnline && a.gw == g && r.Slot == a.slot:
		case a.state == stHelloing && a.gw == g && r.Slot == 0 && (r.Reason == hl1.RehelloFull || r.Reason == hl1.RehelloDraining):
		default:
			return // not about its current session or HELLO
		}
		w.note(a, "REHELLO %d from %s for slot %x", r.Reason, w.c.gws[g].id, r.Slot)
		a.state = stIdle
		switch {
		case r.Reason == hl1.RehelloDraining:
			// Move on, make before break: no BYE, the session here expires by itself.
			a.avoidUntil[g] = w.c.now.Add(hl1.DrainAvoid)
			g = w.otherGateway(g)
		case w.rng.IntN(5) == 0:
			g = w.otherGateway(g)
		}
		w.hello(i, g)
	default:
		w.violate("%s got an unexpected frame type %v from %s", a, typ, w.c.gws[g].id)
	}
}

// welcomed handles a WELCOME: the app's current HELLO is answered, or an abandoned one is.
func (w *world) welcomed(i, g int, frame []byte) {
	a := w.apps[i]
	wl, err := hl1.ParseWelcome(frame)
	if err != nil {
		w.violate("%s: bad WELCOME from %s: %v", a, w.c.gws[g].id, err)
		return
	}
	if a.state == stHelloing && a.gw == g && wl.Verify(a.key, a.nonce) {
		a.state, a.slot, a.epoch, a.baseMS, a.seq = stOnline, wl.Slot, wl.Epoch, int64(wl.ServerTimeMS), 0
		a.abandoned = a.abandoned[:0]
		w.note(a, "WELCOME %s slot %x epoch %x", w.c.gws[g].id, wl.Slot, wl.Epoch)
		if wl.Interval() != interval {
			w.violate("%s: WELCOME interval %v, want %v", a, wl.Interval(), interval)
		}
		w.beat(i, false) // the first heartbeat right after WELCOME confirms the session
		a.nextBeat = w.c.now.Add(interval)
		return
	}
	for _, ab := range a.abandoned {
		if ab.gw != g || !wl.Verify(a.key, ab.nonce) {
			continue
		}
		if a.gw == g {
			return // its session there was re-found under a newer HELLO: nothing left behind
		}
		// Decline: a BYE on the session nobody will use, so it does not linger.
		b := hl1.Beat{Slot: wl.Slot, Epoch: wl.Epoch, Seq: 1, TS: 0, Active: true, Bye: true}.Seal(a.key)
		_, before, after := w.c.gws[g].frame(hl1.AppendHeartbeat(nil, b), a.addr, a.shard)
		if after.Byes > before.Byes {
			w.record(i, g).bye = true
		}
		w.note(a, "late WELCOME from %s slot %x declined with BYE (accepted: %v)", w.c.gws[g].id, wl.Slot, after.Byes > before.Byes)
		return
	}
	w.note(a, "WELCOME from %s slot %x ignored (no HELLO of ours)", w.c.gws[g].id, wl.Slot)
}

// tickApps runs every live app's schedule at the current time: due heartbeats, HELLO
// retries, held WELCOMEs that arrive now.
func (w *world) tickApps() {
	now := w.c.now
	for i, a := range w.apps {
		if !a.alive {
			continue
		}
		switch a.state {
		case stIdle:
			if a.loggedIn {
				w.hello(i, w.rng.IntN(len(w.c.gws)))
			}
		case stHelloing:
			if now.Sub(a.helloAt) >= helloTimeout {
				g := a.gw
				if w.rng.IntN(3) == 0 {
					g = w.otherGateway(g)
				}
				w.note(a, "no WELCOME within %v: HELLO again", helloTimeout)
				w.hello(i, g)
			}
		case stOnline:
			if !now.Before(a.nextBeat) {
				w.beat(i, false)
				for !now.Before(a.nextBeat) {
					a.nextBeat = a.nextBeat.Add(interval)
				}
			}
		}
	}
	kept := w.held[:0]
	for _, h := range w.held {
		if now.Before(h.at) {
			kept = append(kept, h)
			continue
		}
		if w.apps[h.app].alive && w.c.gws[h.gw].incarnation == h.inc {
			w.welcomed(h.app, h.gw, h.frame)
		}
	}
	w.held = kept
}

// steer returns g, or a random gateway the app does not keep away from if it keeps away
// from g (g itself if it keeps away from all).
func (w *world) steer(a *app, g int) int {
	var ok []int
	for k := range w.c.gws {
		if !w.c.now.Before(a.avoidUntil[k]) {
			ok = append(ok, k)
		}
	}
	if len(ok) == 0 || !w.c.now.Before(a.avoidUntil[g]) {
		return g
	}
	return ok[w.rng.IntN(len(ok))]
}

func (w *world) otherGateway(g int) int {
	if len(w.c.gws) == 1 {
		return g
	}
	return (g + 1 + w.rng.IntN(len(w.c.gws)-1)) % len(w.c.gws)
}

// expectations are what the views must show and what they may show.
//
// Must: every app alive and online whose last heartbeat its gateway's current process
// accepted, and every session its gateway still holds online even though nobody heartbeats
// on it any more (the app went silent, or moved on without a BYE): confirmed, no BYE since,
// last activity less than interval×misses + grace + debounce ago (offline by absence only
// after that, make before break).
//
// May: sessions that may still be online or lingering at their gateway: the same, plus
// the wheel's lateness in taking them offline.
func (w *world) expectations() (must, may map[sessionKey]bool) {
	must, may = map[sessionKey]bool{}, map[sessionKey]bool{}
	for _, a := range w.apps {
		if a.alive && a.state == stOnline && a.lastBeatAccepted && a.acceptedInc == w.c.gws[a.gw].incarnation {
			must[sessionKey{a.user, a.device, w.c.gws[a.gw].id}] = true
		}
	}
	for ref, r := range w.sessions {
		if r.incarnation != w.c.gws[ref.gw].incarnation || !r.confirmed || r.bye {
			continue
		}
		a := w.apps[ref.app]
		k := sessionKey{a.user, a.device, w.c.gws[ref.gw].id}
		quiet := w.c.now.Sub(r.lastActivity)
		if quiet < shownFor-wheelTick && !r.uncertain {
			must[k] = true
		}
		if quiet <= shownFor+wheelSlack {
			may[k] = true
		}
	}
	return must, may
}

// checkStuck reports apps that have wanted to be online (alive and logged in) for longer
// than bound without any heartbeat accepted since: whatever the cause, such an app is
// silently lost.
func (w *world) checkStuck(bound time.Duration) {
	for _, a := range w.apps {
		if !a.alive || !a.loggedIn {
			continue
		}
		since := a.wantedSince
		if a.lastAcceptedAt.After(since) {
			since = a.lastAcceptedAt
		}
		if w.c.now.Sub(since) > bound {
			w.violate("%s has wanted to be online for %v without a heartbeat accepted (state %s at %s)",
				a, w.c.now.Sub(since).Round(100*time.Millisecond), a.state, w.gwName(a.gw))
		}
	}
}

func (w *world) gwName(g int) string {
	if g < 0 {
		return "-"
	}
	return w.c.gws[g].id
}

func (w *world) users() []uint64 {
	seen := map[uint64]bool{}
	var out []uint64
	for _, a := range w.apps {
		if !seen[a.user] {
			seen[a.user] = true
			out = append(out, a.user)
		}
	}
	return out
}

// traces renders the traces of the apps a failure message names, plus the last steps.
func (w *world) traces(msg string) string {
	var b strings.Builder
	for _, a := range w.apps {
		if strings.Contains(msg, a.String()) || strings.Contains(msg, fmt.Sprintf("%d/%d@", a.user, a.device)) {
			fmt.Fprintf(&b, "\n--- %s (state %s at %s, slot %x):\n  %s", a, a.state, w.gwName(a.gw), a.slot, strings.Join(a.trace, "\n  "))
		}
	}
	if len(w.log) > 0 {
		from := max(0, len(w.log)-15)
		fmt.Fprintf(&b, "\n--- last steps:\n  %s", strings.Join(w.log[from:], "\n  "))
	}
	return b.String()
}
