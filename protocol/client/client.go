package client

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"heartline/protocol/hl1"
	"heartline/protocol/token"
)

// Credentials are what the site hands an app at login.
type Credentials struct {
	Token [token.Size]byte // binary token (the site sends it base64url-encoded)
	Key   token.SessionKey // per-session heartbeat key
}

// Options configure a Client. Gateways is required.
type Options struct {
	// Gateways are "host:port" addresses of healthy gateways (the site's /api/session lists
	// them). The client talks to the rendezvous winner for its user and falls back in order.
	Gateways []string
	// Network is "udp" (default) or "tcp" (the fallback for networks that block UDP).
	Network string
	// Active is the initial status: foreground (true) or background.
	Active bool
	// Jitter shifts each beat by up to this much either way. Default: interval/10.
	Jitter time.Duration
	// HelloTimeout is how long to wait for WELCOME before resending HELLO. Default 1s.
	HelloTimeout time.Duration
	// HelloAttempts per gateway before moving to the next one. Default 3.
	HelloAttempts int
	// ConfirmEvery: Run says HELLO again this often, starting from the top of the
	// rendezvous order. UDP carries no acknowledgement, so this is how a client notices a
	// gateway host that vanished without a trace (no ICMP), and how it moves back to its
	// preferred gateway after a failover. Default 2 minutes; negative disables.
	// (A gateway that answers ICMP port-unreachable while Run is running is left at once;
	// during HELLO the usual attempts apply, since a gateway may still be starting.)
	ConfirmEvery time.Duration
	// Logger gets debug logs of session changes. Default: none.
	Logger *zap.Logger
	// OnFrame, if set, receives every frame from the gateway that the client does not
	// consume itself (EVENT, CLOSE on TCP). The slice is only valid during the call.
	OnFrame func(frame []byte)
	// OnEvent, if set, receives each entry of every EVENT frame (subscriptions, TCP only;
	// see Subscribe), in arrival order, from the goroutine running Run (or Connect). Keep
	// the highest Version per user and ignore entries below it (PROTOCOL.md: one Consul
	// transaction may change a user twice, so equal versions are applied in order).
	OnEvent func(hl1.Event)
}

// Session describes the session the gateway granted.
type Session struct {
	Gateway  string
	Slot     uint32
	Epoch    uint32
	Interval time.Duration
	// ServerTime is the gateway's clock at WELCOME: ts_abs 0 of this session.
	ServerTime time.Time
}

// ErrNoGateway means no gateway on the list answered HELLO with a valid WELCOME.
var ErrNoGateway = errors.New("client: no gateway answered HELLO with a valid WELCOME: check the gateway list, the network, and that the token is not expired")

// Client is one member's session with the gateway fleet. Its methods are safe for
// concurrent use; Run drives the heartbeats.
type Client struct {
	cred   Credentials
	user   uint64
	opts   Options
	mac    hl1.MACKey
	log    *zap.Logger
	frames chan []byte
	gone   chan struct{} // the UDP gateway answered ICMP unreachable

	mu        sync.Mutex
	conn      net.Conn
	session   Session
	welcomeAt time.Time // local monotonic clock at WELCOME
	seq       uint64    // last seq sent
	active    bool
	readerErr chan error
	buf       []byte
	subs      map[uint64]struct{}  // users subscribed to (sent again after a reconnect)
	grant     []byte               // the presence grant (sent again, before subs, after a reconnect)
	lastHello uint64               // client_time_ms of the last HELLO sent
	events    []hl1.Event          // decode buffer for OnEvent
	previous  []previousSession    // sessions moved away from, for Bye (previous.go)
	avoid     map[string]time.Time // draining gateways (REHELLO 4) to skip until then (drain.go)
	now       func() time.Time     // clock of the previous-session memory (tests move it)
}

// New returns a Client for the credentials. It does not touch the network until Connect.
func New(cred Credentials, opts Options) (*Client, error) {
	tok, err := token.Parse(cred.Token[:])
	if err != nil {
		return nil, err
	}
	if len(opts.Gateways) == 0 {
		return nil, errors.New("client: Options.Gateways is empty: pass the gateway list from the site's /api/session")
	}
	switch opts.Network {
	case "":
		opts.Network = "udp"
	case "udp", "tcp":
	default:
		return nil, fmt.Errorf("client: Options.Network %q: want \"udp\" or \"tcp\"", opts.Network)
	}
	if opts.HelloTimeout <= 0 {
		opts.HelloTimeout = time.Second
	}
	if opts.HelloAttempts <= 0 {
		opts.HelloAttempts = 3
	}
	if opts.ConfirmEvery == 0 {
		opts.ConfirmEvery = 2 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	return &Client{
		cred:   cred,
		user:   tok.UserID,
		opts:   opts,
		mac:    hl1.NewMACKey(cred.Key),
		log:    opts.Logger,
		active: opts.Active,
		frames: make(chan []byte, 16),
		gone:   make(chan struct{}, 1),
		now:    time.Now,
	}, nil
}

// UserID is the member this client speaks for.
func (c *Client) UserID() uint64 { return c.user }

// Session returns the current session (zero before Connect succeeds).
func (c *Client) Session() Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

// Connect sends HELLO to the user's gateways in rendezvous order until one answers with a
// WELCOME that verifies under the session key.
func (c *Client) Connect(ctx context.Context) error {
	var lastErr error
	for _, gw := range c.order() {
		if err := c.hello(ctx, gw); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			c.log.Debug("gateway did not welcome", zap.String("gateway", gw), zap.Error(err))
			lastErr = err
			continue
		}
		return c.resubscribe()
	}
	return fmt.Errorf("%w (last error: %v)", ErrNoGateway, lastErr)
}

func (c *Client) hello(ctx context.Context, gw string) error {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, c.opts.HelloTimeout)
	conn, err := d.DialContext(dctx, c.opts.Network, gw)
	cancel()
	if err != nil {
		return err
	}
	c.mu.Lock()
	old := c.conn
	c.conn = conn
	c.mu.Unlock()
	if old != nil {
		old.Close()
	}
	reader := make(chan error, 1)
	go c.readLoop(conn, reader)

	for attempt := 0; attempt < c.opts.HelloAttempts; attempt++ {
		nonce := randomUint32()
		c.mu.Lock()
		active := c.active
		c.mu.Unlock()
		h := hl1.Hello{ClientTimeMS: c.helloClock(), Nonce: nonce, Token: c.cred.Token}
		if active {
			h.Flags |= hl1.FlagActive
		}
		if err := c.write(conn, hl1.AppendHello(nil, h.Seal(c.mac))); err != nil {
			return err
		}
		deadline := time.NewTimer(c.opts.HelloTimeout)
		for waiting := true; waiting; {
			select {
			case <-ctx.Done():
				deadline.Stop()
				return ctx.Err()
			case err := <-reader:
				deadline.Stop()
				return fmt.Errorf("connection to %s: %w", gw, err)
			case <-deadline.C:
				waiting = false
			case f := <-c.frames:
				if t, _ := hl1.PeekType(f); t == hl1.TypeRehello {
					// Slot 0 answers our HELLO: full (3), draining (4) or cut off from
					// Consul (5) means try the next gateway now rather than after every
					// attempt timed out.
					if r, err := hl1.ParseRehello(f); err == nil && r.Slot == 0 && (r.Reason == hl1.RehelloFull || r.Reason == hl1.RehelloDraining || r.Reason == hl1.RehelloUnavailable) {
						deadline.Stop()
						switch r.Reason {
						case hl1.RehelloDraining:
							c.avoidGateway(gw, hl1.DrainAvoid)
						case hl1.RehelloUnavailable:
							c.avoidGateway(gw, hl1.UnavailableAvoid)
						}
						return fmt.Errorf("%s answered HELLO with REHELLO %d", gw, r.Reason)
					}
					continue
				}
				if t, _ := hl1.PeekType(f); t != hl1.TypeWelcome {
					c.deliver(f)
					continue
				}
				w, err := hl1.ParseWelcome(f)
				if err != nil || !w.Verify(c.mac, nonce) {
					continue // stale or forged WELCOME: keep waiting
				}
				deadline.Stop()
				c.mu.Lock()
				c.rememberPrevious(gw)
				c.session = Session{
					Gateway: gw, Slot: w.Slot, Epoch: w.Epoch, Interval: w.Interval(),
					ServerTime: time.UnixMilli(int64(w.ServerTimeMS)),
				}
				c.welcomeAt = time.Now()
				c.seq = 0
				select { // an unreachable signal from before this WELCOME is stale
				case <-c.gone:
				default:
				}
				c.readerErr = reader
				c.mu.Unlock()
				c.log.Debug("welcomed", zap.String("gateway", gw), zap.Uint32("slot", w.Slot), zap.Uint32("epoch", w.Epoch))
				// The first HEARTBEAT confirms the session: a gateway reports a session
				// online only then (PROTOCOL.md, WELCOME), so a WELCOME that reached no one,
				// or reached an app that had moved on, never shows the member online.
				if err := c.send(false); err != nil {
					return fmt.Errorf("first heartbeat to %s: %w", gw, err)
				}
				return nil
			}
		}
	}
	return errors.New("no WELCOME within the hello timeout")
}

// helloClock returns the client_time for the next HELLO: the wall clock, but never less than
// the previous HELLO's + 16 ms. Gateways drop a HELLO that is not newer (at their 16 ms
// resolution) than the one that opened the live session, as a replay; a device whose wall
// clock stepped back would otherwise be locked out until its old session expired.
func (c *Client) helloClock() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := uint64(time.Now().UnixMilli())
	if floor := c.lastHello + helloClockStep; c.lastHello != 0 && t < floor {
		t = floor
	}
	c.lastHello = t
	return t
}

// helloClockStep is the gateways' HELLO stamp resolution (PROTOCOL.md, HELLO).
const helloClockStep = 16

// readLoop turns the connection into frames on c.frames until it fails.
func (c *Client) readLoop(conn net.Conn, done chan<- error) {
	buf := make([]byte, hl1.MaxFrame+hl1.TCPHeaderSize)
	for {
		var frame []byte
		var err error
		if c.opts.Network == "tcp" {
			frame, err = hl1.ReadTCPFrame(conn, buf)
		} else {
			var n int
			n, err = conn.Read(buf)
			frame = buf[:n]
		}
		if err != nil {
			var ne net.Error
			if c.opts.Network == "udp" && errors.As(err, &ne) && !ne.Timeout() && !errors.Is(err, net.ErrClosed) {
				// ICMP port unreachable and friends on the connected socket: nobody
				// listens there now. Tell Run (it moves on) and keep the socket.
				select {
				case c.gone <- struct{}{}:
				default:
				}
				continue
			}
			done <- err
			return
		}
		c.frames <- append([]byte(nil), frame...)
	}
}

func (c *Client) deliver(frame []byte) {
	if c.opts.OnEvent != nil {
		if t, _ := hl1.PeekType(frame); t == hl1.TypeEvent {
			evs, err := hl1.ParseEvents(frame, c.events[:0])
			if err == nil {
				for _, ev := range evs {
					c.opts.OnEvent(ev)
				}
			}
			c.events = evs[:0]
		}
	}
	if c.opts.OnFrame != nil {
		c.opts.OnFrame(frame)
	}
}

func (c *Client) write(conn net.Conn, frame []byte) error {
	if c.opts.Network == "tcp" {
		var err error
		if frame, err = hl1.AppendTCP(nil, frame); err != nil {
			return err
		}
	}
	_, err := conn.Write(frame)
	return err
}

// Beat sends one HEARTBEAT now with the current status.
func (c *Client) Beat() error { return c.send(false) }

// Bye ends the session: the gateway reports the member offline at once. If the client
// moved to this gateway from another one recently (previous.go), Bye ends the session it
// left there too, so that one does not keep the member online until it expires; that BYE's
// errors are logged at debug, not returned.
func (c *Client) Bye() error {
	err := c.send(true)
	c.mu.Lock()
	c.session = Session{}
	prev := c.takePrevious()
	active := c.active
	c.mu.Unlock()
	c.byePrevious(prev, active)
	return err
}

// SetActive changes the status and tells the gateway immediately.
func (c *Client) SetActive(active bool) error {
	c.mu.Lock()
	changed := c.active != active
	c.active = active
	c.mu.Unlock()
	if !changed {
		return nil
	}
	return c.send(false)
}

func (c *Client) send(bye bool) error {
	c.mu.Lock()
	conn, s := c.conn, c.session
	if conn == nil || s.Interval == 0 {
		c.mu.Unlock()
		return errors.New("client: no session: call Connect first")
	}
	c.seq++
	frame := c.beatFrame(s, c.seq, c.welcomeAt, c.active, bye)
	c.mu.Unlock()
	return c.write(conn, frame)
}

// beatFrame seals a HEARTBEAT (or BYE) of session s with seq_abs seq and ts_abs the 10 ms
// ticks since welcomeAt, the session's WELCOME.
func (c *Client) beatFrame(s Session, seq uint64, welcomeAt time.Time, active, bye bool) []byte {
	b := hl1.Beat{
		Slot: s.Slot, Epoch: s.Epoch, Seq: seq,
		TS:     uint64(time.Since(welcomeAt) / (hl1.TickMS * time.Millisecond)),
		Active: active, Bye: bye,
	}
	return hl1.AppendHeartbeat(nil, b.Seal(c.mac))
}

// Run sends heartbeats on the session's schedule until ctx ends, reconnecting (HELLO
// again, to the next gateway if need be) on REHELLO or a broken connection. It does not
// send BYE when ctx ends: call Bye for a logout. Connect must have succeeded first.
func (c *Client) Run(ctx context.Context) error {
	s := c.Session()
	if s.Interval <= 0 {
		return errors.New("client: Run before a successful Connect")
	}
	jitter := c.opts.Jitter
	if jitter == 0 {
		jitter = s.Interval / 10
	}
	sched := NewSchedule(time.Now(), s.Interval, jitter, c.user^uint64(randomUint32())<<32)
	timer := time.NewTimer(time.Until(sched.Next(time.Now())))
	defer timer.Stop()
	var confirm <-chan time.Time
	if c.opts.ConfirmEvery > 0 {
		t := time.NewTicker(c.opts.ConfirmEvery)
		defer t.Stop()
		confirm = t.C
	}
	for {
		c.mu.Lock()
		readerErr := c.readerErr
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-c.gone:
			c.log.Debug("gateway unreachable", zap.String("gateway", c.Session().Gateway))
			if err := c.reconnect(ctx); err != nil {
				return err
			}
		case <-confirm:
			if err := c.reconnect(ctx); err != nil {
				return err
			}
		case <-timer.C:
			if err := c.Beat(); err != nil {
				c.log.Debug("beat failed", zap.Error(err))
			}
			timer.Reset(time.Until(sched.Next(time.Now())))
		case f := <-c.frames:
			if t, _ := hl1.PeekType(f); t == hl1.TypeRehello {
				r, err := hl1.ParseRehello(f)
				if err == nil && r.Slot == c.Session().Slot {
					c.log.Debug("rehello", zap.Uint8("reason", uint8(r.Reason)))
					if r.Reason == hl1.RehelloDraining {
						c.avoidGateway(c.Session().Gateway, hl1.DrainAvoid)
					}
					if err := c.reconnect(ctx); err != nil {
						return err
					}
				}
				continue
			}
			c.deliver(f)
		case err := <-readerErr:
			c.log.Debug("connection lost", zap.Error(err))
			if err := c.reconnect(ctx); err != nil {
				return err
			}
		}
	}
}

// reconnect says HELLO again, retrying the gateway list with jittered exponential backoff
// until ctx ends (a fleet of apps that lost their gateway together must not come back in
// lockstep).
func (c *Client) reconnect(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for {
		err := c.Connect(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
		wait := backoff/2 + time.Duration(randomUint32())%(backoff/2+1)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		if backoff < 5*time.Second {
			backoff *= 2
		}
	}
}

// Close closes the connection without BYE (the gateway expires the session).
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn = nil
	return err
}

// Subscribe asks the gateway for the presence of users (TCP only, after Connect): it
// answers with their current state, then sends every change, as EVENT entries delivered to
// Options.OnEvent while Run runs. Subscriptions are additive, kept by the client and sent
// again after a reconnect. The gateway closes a connection that subscribes to more users
// than its limit (default 1000; CLOSE too many subscriptions).
func (c *Client) Subscribe(users []uint64) error { return c.changeSubs(false, users) }

// Grant sends a presence grant (the sealed bytes of the site's POST /api/grant, base64url
// decoded) to the gateway (TCP only, after Connect): the gateway shows this app other members
// only as the grant allows (PROTOCOL.md, "Presence grants"). The client keeps it and sends it
// again, before the subscriptions, after a reconnect; fetch and send a fresh one before
// it expires.
func (c *Client) Grant(sealed []byte) error {
	if c.opts.Network != "tcp" {
		return errors.New("client: grants need Options.Network \"tcp\"")
	}
	if len(sealed) == 0 || len(sealed) >= hl1.MaxFrame {
		return fmt.Errorf("client: a grant is 1..%d bytes", hl1.MaxFrame-1)
	}
	c.mu.Lock()
	c.grant = slices.Clone(sealed)
	conn := c.conn
	c.mu.Unlock()
	if conn == nil {
		return errors.New("client: no connection: call Connect first")
	}
	return c.write(conn, hl1.AppendGrant(nil, sealed))
}

// Unsubscribe stops the gateway's events for users.
func (c *Client) Unsubscribe(users []uint64) error { return c.changeSubs(true, users) }

func (c *Client) changeSubs(unsub bool, users []uint64) error {
	if c.opts.Network != "tcp" {
		return errors.New("client: subscriptions need Options.Network \"tcp\"")
	}
	ids := slices.Clone(users)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	c.mu.Lock()
	if c.subs == nil {
		c.subs = map[uint64]struct{}{}
	}
	for _, u := range ids {
		if unsub {
			delete(c.subs, u)
		} else {
			c.subs[u] = struct{}{}
		}
	}
	conn := c.conn
	c.mu.Unlock()
	if conn == nil {
		return errors.New("client: no connection: call Connect first")
	}
	return c.sendSubs(conn, unsub, ids)
}

// resubscribe sends the kept subscriptions on a fresh connection.
func (c *Client) resubscribe() error {
	c.mu.Lock()
	if g := c.grant; g != nil && c.opts.Network == "tcp" && c.conn != nil {
		conn := c.conn
		c.mu.Unlock()
		if err := c.write(conn, hl1.AppendGrant(nil, g)); err != nil {
			return err
		}
		c.mu.Lock()
	}
	if len(c.subs) == 0 || c.opts.Network != "tcp" {
		c.mu.Unlock()
		return nil
	}
	ids := make([]uint64, 0, len(c.subs))
	for u := range c.subs {
		ids = append(ids, u)
	}
	conn := c.conn
	c.mu.Unlock()
	slices.Sort(ids)
	return c.sendSubs(conn, false, ids)
}

// sendSubs writes ids (sorted, unique) in as many frames as needed: at most
// MaxSubscribeIDs each, fewer when sparse ids do not fit in MaxFrame bytes.
func (c *Client) sendSubs(conn net.Conn, unsub bool, ids []uint64) error {
	for len(ids) > 0 {
		n := min(len(ids), hl1.MaxSubscribeIDs)
		f, err := hl1.AppendSubscribe(nil, &hl1.Subscription{Unsubscribe: unsub, UserIDs: ids[:n]})
		for errors.Is(err, hl1.ErrTooLarge) && n > 1 {
			n /= 2
			f, err = hl1.AppendSubscribe(nil, &hl1.Subscription{Unsubscribe: unsub, UserIDs: ids[:n]})
		}
		if err != nil {
			return fmt.Errorf("client: encode subscription: %w", err)
		}
		if err := c.write(conn, f); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

func randomUint32() uint32 {
	var b [4]byte
	rand.Read(b[:]) //nolint:errcheck // crypto/rand.Read does not fail on Linux
	return binary.BigEndian.Uint32(b[:])
}
