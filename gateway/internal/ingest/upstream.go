package ingest

import "sync/atomic"

// Upstream is the switch that stops a gateway from taking members it could not publish. Its
// agent says over the feed (protocol/feed UPSTREAM) when it has not reached the Consul
// servers for a while: the host is partitioned from them, or Consul is down. Until the agent
// says it is back, every loop answers HELLOs with REHELLO 5 (slot 0), so apps log in where
// they are shown online; a partitioned gateway that went on welcoming them would hold them
// invisible until the catalog moved them again. Live sessions stay: their members are
// published again as soon as the agent is back, and in a whole-Consul outage moving them
// would gain nothing.
//
// One Upstream is shared by every loop of a gateway (the feed server flips it); the loops
// read it once per HELLO with one atomic load.
type Upstream struct {
	cutOff atomic.Bool
}

// SetCutOff records what the agent said; it reports whether that changed the switch.
func (u *Upstream) SetCutOff(cutOff bool) bool { return u.cutOff.Swap(cutOff) != cutOff }

// CutOff reports whether the agent said it cannot publish. A nil Upstream never is.
func (u *Upstream) CutOff() bool { return u != nil && u.cutOff.Load() }
