package proctest

import (
	"net"
	"testing"
	"time"
)

func TestFreeAddrIsFreeAndNeverRepeats(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		a := FreeAddr(t, "tcp")
		if seen[a] {
			t.Fatalf("%s handed out twice", a)
		}
		seen[a] = true
		l, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("%s is not free: %v", a, err)
		}
		l.Close()
	}
	u := FreeAddr(t, "udp")
	c, err := net.ListenPacket("udp", u)
	if err != nil {
		t.Fatalf("%s is not free for UDP: %v", u, err)
	}
	c.Close()
}

func TestEventuallyWaitsForTheConditionAndGivesUp(t *testing.T) {
	calls := 0
	if !Eventually(time.Second, func() bool { calls++; return calls == 3 }) {
		t.Fatal("a condition that holds on the third poll was reported as never holding")
	}
	if calls != 3 {
		t.Fatalf("polled %d times, want 3 (it must stop once the condition holds)", calls)
	}
	if Eventually(20*time.Millisecond, func() bool { return false }) {
		t.Fatal("a condition that never holds was reported as holding")
	}
}
