package ingest

import (
	"testing"
	"time"

	"heartline/protocol/hl1"
	"heartline/protocol/token"
)

// The loop's HELLO budget is spent only on HELLOs that pass the checks costing no MAC
// (length, version, token length, token version, key id, expiry, clock): a flood of 1-byte,
// truncated, unknown-key, stale and skewed HELLOs from spoofed sources at 30x the rate of
// real logins, far above the budget, leaves every login from a new address welcomed.
func TestJunkHelloFloodDoesNotStarveLogins(t *testing.T) {
	e := newEnv(t, 1)
	const budget = 100 // HELLOs per second per loop, and its burst
	e.h = NewHandler(e.tb, 0, e.rec, nil, HandlerOptions{Keys: e.keys, Epoch: 0xE90C, HelloPerLoop: budget})
	other := token.NewKeyRing()
	if err := other.Add(2, make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	_ = other.SetCurrent(2)
	unknownKey := newTestClient(t, other, 9, 9)
	expiredTok, sk, err := e.keys.Issue(token.Claims{UserID: 9, DeviceID: 9, Expiry: t0})
	if err != nil {
		t.Fatal(err)
	}
	expired := &testClient{key: hl1.NewMACKey(sk), tok: expiredTok}
	skewed := newTestClient(t, e.keys, 8, 8)
	junk := func(now time.Time, i int) []byte {
		switch i % 5 {
		case 0:
			return []byte{0x11}
		case 1:
			return unknownKey.hello(now, true)[:hl1.HelloSize-1]
		case 2:
			return unknownKey.hello(now, true)
		case 3:
			return expired.hello(now, true)
		default:
			return skewed.hello(now.Add(-time.Hour), true)
		}
	}
	const logins, junkPerLogin = 300, 30
	var spoofed uint32
	for i := range logins {
		for j := range junkPerLogin {
			spoofed++
			e.from.Raw[4], e.from.Raw[5], e.from.Raw[6], e.from.Raw[7] = 100, byte(spoofed>>16), byte(spoofed>>8), byte(spoofed)
			e.send(junk(e.now, j))
		}
		e.from.Raw[4], e.from.Raw[5], e.from.Raw[6], e.from.Raw[7] = 10, 1, byte(i>>8), byte(i) // a new real address
		before := e.h.Stats.Hellos.Load()
		e.send(newTestClient(t, e.keys, uint64(1000+i), 1).hello(e.now, true))
		if e.h.Stats.Hellos.Load() != before+1 {
			t.Fatalf("login %d (after %d junk HELLOs) not welcomed: drops %v", i, spoofed, e.dropSummary())
		}
		e.now = e.now.Add(time.Second / 100) // 100 logins and 3000 junk HELLOs per second
	}
	if n := e.h.Stats.Drops(ReasonRateLimited); n != 0 {
		t.Fatalf("%d HELLOs refused as rate_limited: junk spent the budget", n)
	}
	for _, r := range []DropReason{ReasonShort, ReasonTokenUnknownKey, ReasonTokenExpired, ReasonClockSkew} {
		if e.h.Stats.Drops(r) == 0 {
			t.Errorf("no %s drops: the flood did not exercise that check (drops %v)", r, e.dropSummary())
		}
	}
}
