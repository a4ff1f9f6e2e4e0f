package driver

import (
	"fmt"
	"strings"
	"time"
)

// A trace keeps the last few protocol events of every session, so that a session the
// checker finds wrong can be explained (which HELLOs, WELCOMEs, BYEs and moves led there)
// without logging every frame of 50k sessions.

const traceLen = 8

type traceKind uint8

const (
	evHello traceKind = iota + 1
	evWelcome
	evBye
	evByePrev
	evMove
	evRehello
	evDecline
	evDie
	evRevive
)

func (k traceKind) String() string {
	return [...]string{"?", "HELLO", "WELCOME", "BYE", "BYE-prev", "move", "REHELLO", "decline", "die", "revive"}[k]
}

type traceEv struct {
	at   int64 // driver-monotonic ms
	kind traceKind
	gw   int8
	slot uint32
	arg  uint32 // seq for BYEs, reason for REHELLO, kind for die
}

// note records an event for session i (caller holds the worker's mutex).
func (d *Driver) note(i int, kind traceKind, gw int8, slot, arg uint32) {
	n := d.traceN[i]
	d.trace[i][n%traceLen] = traceEv{at: d.mono() / int64(time.Millisecond), kind: kind, gw: gw, slot: slot, arg: arg}
	d.traceN[i] = n + 1
}

// Trace returns the last events of (user, device), oldest first, with times relative to
// now; empty if the driver has no such session.
func (d *Driver) Trace(user uint64, device uint32) string {
	for i := range d.user {
		if d.user[i] != user || d.device[i] != device {
			continue
		}
		w := d.workers[i%len(d.workers)]
		w.mu.Lock()
		defer w.mu.Unlock()
		now := d.mono() / int64(time.Millisecond)
		var parts []string
		n := int(d.traceN[i])
		for k := max(0, n-traceLen); k < n; k++ {
			e := d.trace[i][k%traceLen]
			s := fmt.Sprintf("%.1fs %s", float64(e.at-now)/1000, e.kind)
			if e.gw >= 0 && int(e.gw) < len(d.o.GatewayIDs) {
				s += " " + d.o.GatewayIDs[e.gw]
			}
			if e.slot != 0 {
				s += fmt.Sprintf(" slot %x", e.slot)
			}
			if e.arg != 0 {
				s += fmt.Sprintf(" (%d)", e.arg)
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ", ")
	}
	return ""
}
