package client

import (
	"net"
	"time"

	"go.uber.org/zap"

	"heartline/protocol/hl1"
)

// Moving between gateways is make before break: a client that re-HELLOs onto another
// gateway (ConfirmEvery back to its preferred one, ICMP unreachable, REHELLO, a broken
// connection) does not BYE the gateway it leaves. The old session expires there by itself
// and keeps the member shown online while the new gateway's agent publishes the new one; a
// BYE at the move would show the member offline in between (the chaos bed measured that
// flicker).
//
// The cost is a ghost after a logout shortly after a move: BYE on the new session alone
// leaves the member online through the old one until it expires. So the client remembers
// the sessions it moved away from for a while, and Bye ends them too.

// previousMemory is how long a session the client moved away from is remembered for Bye:
// one minute, or interval × 3 + 30 s for intervals above 10 s. The old gateway keeps an
// unheard session for interval × 3 + 2 s, its agent adds the 5 s flap window and the Consul
// write, so the old session can show the member online for ~40 s after a move at the
// default 10 s interval. Erring long is harmless: a BYE for a session that already expired
// is answered with REHELLO (to a socket that is gone) and changes nothing.
func previousMemory(interval time.Duration) time.Duration {
	return max(time.Minute, 3*interval+30*time.Second)
}

// maxPrevious bounds the remembered sessions (a client bouncing between gateways within a
// minute); the oldest is forgotten first.
const maxPrevious = 4

// previousSession is a session the client moved away from: what it takes to send its BYE.
type previousSession struct {
	Session
	seq       uint64    // last seq sent on it
	welcomeAt time.Time // its ts base
	until     time.Time // forgotten after this (Client.now)
}

// rememberPrevious is called under c.mu when gateway next welcomed the client, before the
// new session replaces c.session. A reconnect that re-finds the same gateway remembers
// nothing new and forgets nothing. A remembered session on next is dropped: the gateway
// re-finds the (user, device) session on a HELLO, so the current session's BYE ends it.
//
// Only UDP sessions are remembered. A TCP session's connection is closed by the move (hello
// closes the old connection), and a new TCP connection must start with HELLO and may then
// BYE only the slot of that WELCOME (PROTOCOL.md, TCP). The TCP gateway does not drop a
// session when its connection closes (gateway/tcp OnClose only counts the close and tells
// the subscriptions): the old session expires by absence like a UDP one, so a TCP client
// that logs out just after a move leaves that ghost until expiry. Ending it would take a new
// connection and HELLO to the old gateway at logout; the reference client does not do that.
func (c *Client) rememberPrevious(next string) {
	old := c.session
	if old.Interval == 0 || old.Gateway == next {
		return
	}
	now := c.now()
	kept := c.previous[:0]
	for _, p := range c.previous {
		if now.Before(p.until) && p.Gateway != next {
			kept = append(kept, p)
		}
	}
	c.previous = kept
	if c.opts.Network != "udp" {
		return
	}
	if len(c.previous) == maxPrevious {
		c.previous = append(c.previous[:0], c.previous[1:]...)
	}
	c.previous = append(c.previous, previousSession{
		Session: old, seq: c.seq, welcomeAt: c.welcomeAt, until: now.Add(previousMemory(old.Interval)),
	})
}

// takePrevious returns the remembered sessions still within their memory window and
// forgets all of them. Call it under c.mu.
func (c *Client) takePrevious() []previousSession {
	now := c.now()
	var live []previousSession
	for _, p := range c.previous {
		if now.Before(p.until) {
			live = append(live, p)
		}
	}
	c.previous = nil
	return live
}

// byePrevious ends each remembered session: a BYE on its slot and a HELLO with the logout
// flag, two datagrams to its gateway from a fresh socket (the gateway accepts a session's
// frames from any source address). The BYE is cheap and usually enough; the logout HELLO
// ends the session even if a HELLO the client gave up on re-found it there under a slot the
// client never learnt (its WELCOME was lost). Errors are logged, not returned: the session
// expires by itself anyway.
func (c *Client) byePrevious(prev []previousSession, active bool) {
	d := net.Dialer{Timeout: c.opts.HelloTimeout}
	for _, p := range prev {
		bye := c.beatFrame(p.Session, p.seq+1, p.welcomeAt, active, true)
		h := hl1.Hello{Flags: hl1.FlagLogout, ClientTimeMS: c.helloClock(), Nonce: randomUint32(), Token: c.cred.Token}
		logout := hl1.AppendHello(nil, h.Seal(c.mac))
		conn, err := d.Dial("udp", p.Gateway)
		if err == nil {
			_, err = conn.Write(bye)
			if err == nil {
				_, err = conn.Write(logout)
			}
			conn.Close()
		}
		if err != nil {
			c.log.Debug("BYE to the previous gateway failed", zap.String("gateway", p.Gateway), zap.Uint32("slot", p.Slot), zap.Error(err))
			continue
		}
		c.log.Debug("BYE to the previous gateway", zap.String("gateway", p.Gateway), zap.Uint32("slot", p.Slot))
	}
}
