package client

import (
	"context"
	"testing"
	"time"

	"heartline/scripts/proctest"
)

// TestConnectConfirmsTheSessionWithAFirstHeartbeat: gateways report a session online only at
// its first heartbeat (PROTOCOL.md, WELCOME), so Connect sends HEARTBEAT seq 1 on the slot
// it was given before it returns, without waiting for Run's schedule.
func TestConnectConfirmsTheSessionWithAFirstHeartbeat(t *testing.T) {
	keys, cred := testCredentials(t, 5151)
	gw := newTestGateway(t, keys)
	c, err := New(cred, Options{Gateways: []string{gw.addr()}, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	slot := c.Session().Slot
	proctest.WaitFor(t, 5*time.Second, "the confirming heartbeat", func() bool { _, b, _ := gw.snapshot(); return len(b) >= 1 })
	_, beats, rejected := gw.snapshot()
	if b := beats[0]; b.slot != slot || b.seq != 1 || b.bye || rejected != 0 {
		t.Fatalf("first frame after WELCOME: %+v (slot %x, rejected %d), want HEARTBEAT seq 1 on the new slot", b, slot, rejected)
	}
}
