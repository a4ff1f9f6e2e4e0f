package client

import (
	"time"

	"go.uber.org/zap"
)

// A gateway being drained (a restart, maintenance) answers its sessions' heartbeats and new
// HELLOs with REHELLO 4 (PROTOCOL.md). The client then says HELLO to the next gateway in its
// rendezvous order, make before break like every move (previous.go), and skips the draining
// gateway for hl1.DrainAvoid: the site's list may still name it, and it would only refuse
// us again. A gateway cut off from Consul answers HELLOs with REHELLO 5 and is skipped for
// the shorter hl1.UnavailableAvoid. When every gateway on the list is being avoided the
// client tries them all anyway (a whole-fleet restart or a Consul outage must not strand it).

// avoidGateway skips gw in the rendezvous order for the given time.
func (c *Client) avoidGateway(gw string, avoid time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.avoid == nil {
		c.avoid = map[string]time.Time{}
	}
	c.avoid[gw] = c.now().Add(avoid)
	c.log.Debug("gateway refuses sessions; avoiding it", zap.String("gateway", gw), zap.Duration("for", avoid))
}

// order is the rendezvous order of the gateway list without the gateways being avoided
// (the full order when that would leave none).
func (c *Client) order() []string {
	all := GatewayOrder(c.user, c.opts.Gateways)
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	out := make([]string, 0, len(all))
	for _, gw := range all {
		if until, ok := c.avoid[gw]; ok {
			if now.Before(until) {
				continue
			}
			delete(c.avoid, gw)
		}
		out = append(out, gw)
	}
	if len(out) == 0 {
		return all
	}
	return out
}
