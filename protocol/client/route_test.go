package client

import "testing"

func TestPickGatewayIsConsistent(t *testing.T) {
	gws := []string{"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000", "10.0.0.4:7000"}
	const users = 20_000
	before := make([]string, users)
	perGW := map[string]int{}
	for u := range users {
		before[u] = PickGateway(uint64(u), gws)
		perGW[before[u]]++
	}
	for _, g := range gws {
		if n := perGW[g]; n < users/4*8/10 || n > users/4*12/10 {
			t.Fatalf("gateway %s got %d of %d users: uneven %v", g, n, users, perGW)
		}
	}
	// Remove one gateway: only its users move, and they move to their second choice.
	gone := gws[1]
	rest := []string{gws[0], gws[2], gws[3]}
	for u := range users {
		after := PickGateway(uint64(u), rest)
		if before[u] != gone && after != before[u] {
			t.Fatalf("user %d moved from %s to %s though %s stayed", u, before[u], after, before[u])
		}
		if before[u] == gone {
			if second := GatewayOrder(uint64(u), gws)[1]; after != second {
				t.Fatalf("user %d moved to %s, want its second choice %s", u, after, second)
			}
		}
	}
	// The order of the list does not matter.
	rev := []string{gws[3], gws[2], gws[1], gws[0]}
	for u := range 1000 {
		if PickGateway(uint64(u), rev) != before[u] {
			t.Fatal("pick depends on list order")
		}
	}
	if PickGateway(1, nil) != "" {
		t.Fatal("empty list must give empty pick")
	}
}
