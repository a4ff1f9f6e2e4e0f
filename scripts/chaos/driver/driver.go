// Package driver simulates many HL1 app sessions against the bed's gateways and keeps the
// ground truth the invariant checker needs: which sessions are alive (the app wants to be
// online), since when, and when and how each one died.
//
// Sessions live in flat arrays; each UDP socket (one per source address and port) is owned
// by one worker goroutine that runs that socket's sessions (HELLO with retries, heartbeats,
// moves between gateways, BYE) and one reader goroutine that hands it WELCOMEs and REHELLOs.
// A session follows the routing rule of the design: the rendezvous winner among the gateways
// the catalog lists as passing (SetHealthy), then the next ones if its HELLOs go unanswered.
// It leaves a gateway the catalog stops listing at once, and moves back to a preferred one
// at its next confirm instant (Options.ConfirmEvery), as the reference client does.
//
// The driver talks to gateways only over the wire; it must not import gateway/ or agent/.
package driver

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"heartline/protocol/hl1"
	"heartline/protocol/token"
)

// Options configure a Driver.
type Options struct {
	Sessions       int
	Keys           *token.KeyRing   // issues the sessions' tokens (same secrets as the gateways)
	Sources        []string         // local source addresses
	PortsPerSource int              // sockets per source address [2]
	Gateways       []netip.AddrPort // gateway UDP addresses, by gateway index
	GatewayIDs     []string         // their ids, by index (the catalog's gateway_id)
	HelloTimeout   time.Duration    // [500ms]
	HelloWindow    int              // HELLOs in flight per socket [32]
	Tick           time.Duration    // worker scan period [20ms]
	// ConfirmEvery is how often a session checks whether it sits on its preferred gateway,
	// like the reference client's Options.ConfirmEvery [2m]: a session whose gateway is
	// still passing moves back to a better one only at its next confirm instant (instants
	// are spread by a random per-session phase), as apps do; a session whose gateway the
	// catalog no longer lists as passing moves at once (an app leaves a gateway on ICMP
	// unreachable, and takes the site's fresh list). Negative: move back at once.
	ConfirmEvery time.Duration
}

// Death kinds.
const (
	Alive  uint8 = 0
	Silent uint8 = 1 // the app vanished (no BYE)
	Byed   uint8 = 2 // the app logged out (BYE)
)

const (
	stIdle uint8 = iota
	stHello
	stOnline
)

// Driver runs the sessions.
type Driver struct {
	o       Options
	start   time.Time
	workers []*worker
	gwIndex map[netip.AddrPort]int

	healthy    atomic.Pointer[[]string]
	healthyGen atomic.Uint32 // bumped by SetHealthy; invalidates the cached preferred gateways
	// live are the gateways the catalog lists as passing or warning: a draining gateway
	// (warning) is out of the site's list but still serves the apps it has, which leave it
	// when it tells them (REHELLO 4), not all at once.
	live atomic.Pointer[[]string]
	// drainingUntil[g] (driver-monotonic ns): g said REHELLO 4 (or 5); new HELLOs skip it
	// until then (refreshed by every REHELLO 4; by when it lapses the catalog no longer
	// lists g as passing, or g has restarted; REHELLO 5 for hl1.UnavailableAvoid).
	drainingUntil [8]atomic.Int64
	ivl           atomic.Int64 // heartbeat interval from the last WELCOME

	user   []uint64
	device []uint32
	tok    [][token.Size]byte
	key    []hl1.MACKey

	// Guarded by the owning worker's mutex.
	alive     []bool
	kind      []uint8
	since     []int64 // unix ms the session became alive
	diedAt    []int64 // unix ms
	crashedAt []int64 // unix ms of the last silent death of an established session (Truth.CrashedAt)
	badClock  []bool  // keeps sending HELLOs with a clock far off; never expected online
	state     []uint8
	gw        []int8 // established gateway, -1 none
	target    []int8 // gateway of the HELLO in flight
	slot      []uint32
	epoch     []uint32
	seq       []uint64
	welcome   []int64 // driver-monotonic ns of WELCOME (ts base)
	nextAt    []int64 // driver-monotonic ns of the next heartbeat
	nonce     []uint32
	helloAt   []int64
	attempts  []uint8
	tsJump    []int64 // 10 ms ticks added to heartbeat ts (a client clock that jumped)
	skewMS    []int64 // added to HELLO client time
	lastHello []int64 // client_time of the session's last HELLO (kept monotonic)
	prev      []prevSession
	// older is the session left behind by the move before prev's, kept while a logout must
	// still end it: a drained app that moves again (even back to the gateway it is on) must
	// not forget the session it left on the draining gateway.
	older     []prevSession
	phase     []int64  // the session's confirm instants are phase + k*ConfirmEvery (driver-monotonic ns)
	confirmAt []int64  // the confirm instant it will move back at (0: not waiting)
	pref      []int8   // cached preferred gateway (first of order), valid while prefGen matches
	prefGen   []uint32 // healthyGen+1 when pref was computed (0: never)
	tookHello []uint8  // HELLOs the last WELCOME took (diagnostics)
	moves     []uint16 // moves between gateways so far (diagnostics)
	trace     [][traceLen]traceEv
	traceN    []uint8

	Stats Stats

	ringMu sync.Mutex
	ring   []Captured
	ringN  int
}

// prevSession is the session a move left behind at the old gateway.
type prevSession struct {
	gw      int8
	slot    uint32
	epoch   uint32
	seq     uint64
	welcome int64
	movedAt int64 // driver-monotonic ns of the WELCOME that completed the move (0: in flight)
}

// prevMemory is how long after a move a logout also BYEs the session left behind: longer
// than any bed's interval x misses + grace + debounce, after which that session is gone.
const prevMemory = time.Minute

// Stats are wire counters, by gateway index where it matters.
type Stats struct {
	HeartbeatsSent [8]atomic.Uint64
	HellosSent     atomic.Uint64
	Welcomes       atomic.Uint64
	Rehellos       atomic.Uint64
	ByesSent       atomic.Uint64
	Moves          atomic.Uint64
	DrainMoves     atomic.Uint64 // moves asked for by a draining gateway (REHELLO 4)
	SendErrors     atomic.Uint64
	Declined       atomic.Uint64 // late WELCOMEs of abandoned HELLOs answered with BYE
	Logouts        atomic.Uint64 // logout HELLOs sent with a BYE to a gateway left behind
	Unavailable    atomic.Uint64 // HELLOs refused with REHELLO 5 (the gateway's agent cannot reach Consul)
}

// Captured is a legit heartbeat frame as sent (for replay attacks).
type Captured struct {
	Gateway int
	Frame   [hl1.HeartbeatSize]byte
}

// Truth is the ground truth of one session at snapshot time.
type Truth struct {
	User   uint64
	Device uint32
	Alive  bool
	Kind   uint8
	Since  int64 // unix ms alive since
	DiedAt int64 // unix ms
	// CrashedAt is when this (user, device) last died silently on an established session
	// (unix ms, 0: never). That session is left at its gateway until it expires by absence,
	// even if the app came back elsewhere and later logged out: a phone that crashed on gw1,
	// restarted, logged in on gw2 and logged out is rightly shown online via gw1 until then.
	CrashedAt int64
	BadClock  bool
	Gateway   int8 // established gateway (-1 none), informational

	// Diagnostics for a mismatch (informational): how long ago the session was welcomed
	// (ms, 0 if not established), heartbeats sent on it since, how many HELLOs that WELCOME
	// took, and moves between gateways so far.
	WelcomedAgoMS int64
	Seq           uint64
	HelloAttempts uint32
	Moves         uint32
}

// New issues the tokens and opens the sockets; Run starts the sessions.
func New(o Options) (*Driver, error) {
	if o.PortsPerSource <= 0 {
		o.PortsPerSource = 2
	}
	if o.ConfirmEvery == 0 {
		o.ConfirmEvery = 2 * time.Minute
	}
	if o.HelloTimeout <= 0 {
		o.HelloTimeout = 500 * time.Millisecond
	}
	if o.HelloWindow <= 0 {
		o.HelloWindow = 32
	}
	if o.Tick <= 0 {
		o.Tick = 20 * time.Millisecond
	}
	if len(o.Sources) == 0 || len(o.Gateways) == 0 || len(o.Gateways) != len(o.GatewayIDs) || o.Keys == nil {
		return nil, fmt.Errorf("driver: need Sources, Keys and Gateways with matching GatewayIDs")
	}
	n := o.Sessions
	d := &Driver{o: o, start: time.Now(), gwIndex: map[netip.AddrPort]int{},
		user: make([]uint64, n), device: make([]uint32, n), tok: make([][token.Size]byte, n), key: make([]hl1.MACKey, n),
		alive: make([]bool, n), kind: make([]uint8, n), since: make([]int64, n), diedAt: make([]int64, n), crashedAt: make([]int64, n), badClock: make([]bool, n),
		state: make([]uint8, n), gw: make([]int8, n), target: make([]int8, n), slot: make([]uint32, n), epoch: make([]uint32, n),
		seq: make([]uint64, n), welcome: make([]int64, n), nextAt: make([]int64, n), nonce: make([]uint32, n),
		helloAt: make([]int64, n), attempts: make([]uint8, n), tsJump: make([]int64, n), skewMS: make([]int64, n), lastHello: make([]int64, n),
		prev: make([]prevSession, n), older: make([]prevSession, n), phase: make([]int64, n), confirmAt: make([]int64, n), pref: make([]int8, n), prefGen: make([]uint32, n), tookHello: make([]uint8, n), moves: make([]uint16, n), trace: make([][traceLen]traceEv, n), traceN: make([]uint8, n), ring: make([]Captured, 1024)}
	for i, a := range o.Gateways {
		d.gwIndex[a] = i
	}
	ids := append([]string(nil), o.GatewayIDs...)
	d.healthy.Store(&ids)
	d.live.Store(&ids)
	d.ivl.Store(int64(5 * time.Second))
	exp := time.Now().Add(24 * time.Hour)
	for i := 0; i < n; i++ {
		// Every fifth session is a user's second device.
		if i%5 == 4 {
			d.user[i], d.device[i] = d.user[i-1], 2
		} else {
			d.user[i], d.device[i] = uint64(1_000_000+i), 1
		}
		t, sk, err := o.Keys.Issue(token.Claims{UserID: d.user[i], DeviceID: d.device[i], Expiry: exp})
		if err != nil {
			return nil, fmt.Errorf("driver: issue token: %w", err)
		}
		d.tok[i] = t.Bytes()
		d.key[i] = hl1.NewMACKey(sk)
		d.gw[i], d.prev[i].gw, d.older[i].gw = -1, -1, -1
		if o.ConfirmEvery > 0 {
			d.phase[i] = rand.Int64N(int64(o.ConfirmEvery)) // the app's login phase
		}
	}
	nw := len(o.Sources) * o.PortsPerSource
	for w := 0; w < nw; w++ {
		src := o.Sources[w%len(o.Sources)]
		ap, err := netip.ParseAddrPort(src + ":0")
		if err != nil {
			return nil, err
		}
		conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(ap))
		if err != nil {
			return nil, fmt.Errorf("driver: bind %s: %w", src, err)
		}
		_ = conn.SetReadBuffer(4 << 20)
		d.workers = append(d.workers, &worker{d: d, conn: conn, slots: map[uint64]int32{}})
	}
	for i := 0; i < n; i++ {
		w := d.workers[i%nw]
		w.idx = append(w.idx, int32(i))
	}
	return d, nil
}

// Len is the number of sessions.
func (d *Driver) Len() int { return len(d.user) }

// User returns session i's (user, device).
func (d *Driver) User(i int) (uint64, uint32) { return d.user[i], d.device[i] }

func (d *Driver) mono() int64 { return int64(time.Since(d.start)) }

// SetHealthy sets the gateway ids the catalog lists as passing (the site's list).
func (d *Driver) SetHealthy(ids []string) {
	c := append([]string(nil), ids...)
	if old := *d.healthy.Load(); slices.Equal(old, c) {
		return
	}
	d.healthy.Store(&c)
	d.healthyGen.Add(1)
}

// SetLive sets the gateway ids the catalog lists as passing or warning (draining).
func (d *Driver) SetLive(ids []string) {
	c := append([]string(nil), ids...)
	d.live.Store(&c)
}

// drainAvoid is how long an app skips a gateway that answered REHELLO 4 for new HELLOs:
// the reference client skips it for hl1.DrainAvoid; the bed's apps see the catalog every
// second (the site's list), which stops listing a draining gateway as passing within a
// check interval, so a short memory models the same behaviour.
const drainAvoid = 10 * time.Second

// Run starts every session (staggered over spread) and drives them until ctx ends.
func (d *Driver) Run(ctx context.Context, spread time.Duration) {
	now := time.Now().UnixMilli()
	for _, w := range d.workers {
		w.mu.Lock()
		for k, i := range w.idx {
			d.alive[i], d.since[i] = true, now+int64(spread/time.Millisecond)*int64(k)/int64(len(w.idx)+1)
			d.helloAt[i] = int64(spread) * int64(k) / int64(len(w.idx)+1) // first HELLO not before this
		}
		w.mu.Unlock()
	}
	var wg sync.WaitGroup
	for _, w := range d.workers {
		wg.Add(2)
		go func() { defer wg.Done(); w.read() }()
		go func() { defer wg.Done(); w.loop(ctx) }()
	}
	<-ctx.Done()
	for _, w := range d.workers {
		w.conn.Close()
	}
	wg.Wait()
}

// Snapshot copies the ground truth.
func (d *Driver) Snapshot() []Truth {
	out := make([]Truth, len(d.user))
	now := d.mono()
	for _, w := range d.workers {
		w.mu.Lock()
		for _, i := range w.idx {
			out[i] = Truth{User: d.user[i], Device: d.device[i], Alive: d.alive[i], Kind: d.kind[i], Since: d.since[i],
				DiedAt: d.diedAt[i], CrashedAt: d.crashedAt[i], BadClock: d.badClock[i], Gateway: d.gw[i],
				Seq: uint64(d.seq[i]), HelloAttempts: uint32(d.tookHello[i]), Moves: uint32(d.moves[i])}
			if d.gw[i] >= 0 {
				out[i].WelcomedAgoMS = (now - d.welcome[i]) / int64(time.Millisecond)
			}
		}
		w.mu.Unlock()
	}
	return out
}

// Captures returns up to n recently sent legit heartbeat frames.
func (d *Driver) Captures(n int) []Captured {
	d.ringMu.Lock()
	defer d.ringMu.Unlock()
	if n > d.ringN {
		n = d.ringN
	}
	if n > len(d.ring) {
		n = len(d.ring)
	}
	return append([]Captured(nil), d.ring[:n]...)
}

// Online counts sessions established with some gateway, by gateway.
func (d *Driver) Online() (total int, byGW []int) {
	byGW = make([]int, len(d.o.Gateways))
	for _, w := range d.workers {
		w.mu.Lock()
		for _, i := range w.idx {
			if d.alive[i] && d.state[i] == stOnline && d.gw[i] >= 0 {
				total++
				byGW[d.gw[i]]++
			}
		}
		w.mu.Unlock()
	}
	return total, byGW
}

// Action is what Churn does to the sessions it picks.
type Action int

const (
	KillSilent    Action = iota // stop heartbeating, no BYE
	Bye                         // send BYE and stop
	Revive                      // a dead session comes back (fresh HELLO)
	JumpTS                      // heartbeat ts jumps by Arg 10 ms ticks (client clock used for ts)
	RehelloSkewed               // re-HELLO now with client clock off by Arg ms (alive stays true)
	BadClock                    // abandon the session and keep HELLOing with a clock Arg ms off (never online)
)

// Churn applies act to up to n random sessions eligible for it and returns how many.
func (d *Driver) Churn(act Action, n int, arg int64, rng *rand.Rand) int {
	done := 0
	for tries := 0; done < n && tries < n*20; tries++ {
		i := rng.IntN(len(d.user))
		w := d.workers[i%len(d.workers)]
		w.mu.Lock()
		// The time of this session's change, read once its worker is locked: on a starved
		// box the lock can take seconds, and a death stamped before it would be judged
		// against bounds that had not started yet.
		nowMS := time.Now().UnixMilli()
		ok := false
		switch act {
		case KillSilent, Bye:
			if d.alive[i] && !d.badClock[i] {
				// A BYE is only possible on an established session; an app that "logs out"
				// while its HELLO is in flight has in truth died silently (the gateway may
				// still accept that HELLO).
				d.kind[i] = Silent
				d.note(i, evDie, d.gw[i], d.slot[i], uint32(act))
				if act == KillSilent && d.state[i] == stOnline {
					d.crashedAt[i] = nowMS
				}
				if act == Bye && d.state[i] == stOnline {
					w.sendBeat(i, true)
					w.byePrev(i) // a logout right after a move logs out both sessions
					d.kind[i] = Byed
				}
				d.prev[i].gw, d.older[i].gw = -1, -1
				if d.state[i] == stHello {
					w.abandon(i, d.mono()) // a late WELCOME for it gets a BYE
				}
				w.forget(i) // before the state changes: it releases a HELLO in flight
				d.alive[i], d.diedAt[i], d.state[i] = false, nowMS, stIdle
				ok = true
			}
		case Revive:
			if !d.alive[i] && !d.badClock[i] && nowMS-d.diedAt[i] > 1000 {
				d.note(i, evRevive, -1, 0, 0)
				d.alive[i], d.since[i], d.kind[i], d.state[i], d.attempts[i] = true, nowMS, Alive, stIdle, 0
				d.helloAt[i] = 0
				ok = true
			}
		case JumpTS:
			if d.alive[i] && d.state[i] == stOnline && d.tsJump[i] == 0 {
				age := (d.mono() - d.welcome[i]) / int64(hl1.TickMS*time.Millisecond)
				if arg > 0 || age+arg > 0 {
					d.tsJump[i] = arg
					ok = true
				}
			}
		case RehelloSkewed:
			if d.alive[i] && d.state[i] == stOnline && d.skewMS[i] == 0 {
				d.skewMS[i] = arg
				w.leave(i) // the re-HELLO may land on another gateway: like a move
				d.state[i], d.attempts[i], d.helloAt[i] = stIdle, 0, 0
				ok = true
			}
		case BadClock:
			if d.alive[i] && !d.badClock[i] {
				d.alive[i], d.diedAt[i], d.kind[i] = false, nowMS, Silent
				d.badClock[i], d.skewMS[i] = true, arg
				w.forget(i)
				d.state[i], d.attempts[i], d.helloAt[i] = stIdle, 0, 0
				ok = true
			}
		}
		w.mu.Unlock()
		if ok {
			done++
		}
	}
	return done
}
